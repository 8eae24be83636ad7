/* c_abi_scenario.h — the contract between the C scenario (c_abi_test.c,
 * compiled as C) and the GoogleTest driver that serves its files. */
#ifndef XFERQ_BINDINGS_C_TESTS_C_ABI_SCENARIO_H_
#define XFERQ_BINDINGS_C_TESTS_C_ABI_SCENARIO_H_

#ifdef __cplusplus
extern "C" {
#endif

/* What the server at base_url must serve. */
#define C_ABI_SMALL_PATH "/small.bin" /* C_ABI_SMALL_SIZE bytes, fast */
#define C_ABI_SMALL_SIZE 65536
#define C_ABI_SLOW_PATH "/slow.bin" /* C_ABI_SLOW_SIZE bytes at C_ABI_SLOW_RATE bytes/s */
#define C_ABI_SLOW_SIZE (8 * 1024 * 1024)
#define C_ABI_SLOW_RATE (256 * 1024)
#define C_ABI_MISSING_PATH "/missing.bin" /* 404 */

/* Runs every job's life through the C ABI against base_url ("http://host:port"),
 * working in the existing directory `dir`. Leaves dir/a.bin, dir/b.bin (whole
 * copies of C_ABI_SMALL_PATH), dir/c.bin (a partial complete's kept file) and
 * dir/d.bin (three ranges of C_ABI_SMALL_PATH: 100+100, 0+10, 65000+EOF).
 * Returns 0 if every check passed, else the source line of the first failed
 * check (and prints it to stderr). */
int run_c_abi_scenario(const char* base_url, const char* dir);

#ifdef __cplusplus
}
#endif

#endif /* XFERQ_BINDINGS_C_TESTS_C_ABI_SCENARIO_H_ */
