// bench_util.h — shared helpers of the xferq benchmarks: bulk generation of a
// queue file, percentiles, a tiny JSON writer.
#ifndef XFERQ_BENCH_UTIL_H_
#define XFERQ_BENCH_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace xferq::bench {

inline int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The temp-file name the engine uses (engine/src/file_ops.cc temp_path_for):
// "<dir>/.<name>.xferq-<32 hex of the GUID>-<idx>.part". generate_queue checks
// it against the engine itself (verify_temp_naming) before relying on it.
std::string engine_temp_path(const std::string& local_path, const std::string& job_id, int64_t idx);

// This benchmark binary started again in a child mode (`args`, e.g.
// {"cancel-peer", "--db", DB}), talking in lines over two pipes: send() to
// its stdin, recv() from its stdout; it says "ready" first (start() waits
// for it). `host_id`, if not empty, becomes its XFERQ_HOST_ID. Spawned, not
// forked: the parent holds threads and large buffers. stop() closes its
// stdin, which makes it exit, and waits for it. Throws std::runtime_error.
// Thread safety: one thread at a time.
class LineChild {
 public:
  LineChild() = default;
  LineChild(const LineChild&) = delete;
  LineChild& operator=(const LineChild&) = delete;
  ~LineChild() { stop(); }

  void start(const std::vector<std::string>& args, const std::string& host_id = "");
  void send(const std::string& line);
  std::string recv();
  // recv() must say `what`, else it throws.
  void expect(const std::string& what);
  void stop();

 private:
  pid_t pid_ = 0;
  int to_ = -1;
  FILE* from_ = nullptr;
};

struct GenSpec {
  std::string db;            // queue file to create (must not exist)
  std::string files_dir;     // where local paths / temp files live (subdirs d0000, d0001, ...)
  int64_t jobs = 1000;
  int files_per_job = 4;
  int64_t temp_bytes = 4096;  // size of each completed temp file (the partial one gets half)
  // Jobs [0, with_temp_files) get the shape of a SUSPENDED job interrupted in
  // its last file: files 0..n-2 completed, file n-1 partial, every temp_path
  // recorded and every temp file on disk (0600). Other jobs are SUSPENDED jobs
  // that never started (temp_path NULL, no files on disk).
  int64_t with_temp_files = 0;
  uint64_t seed = 42;
};

// Creates the schema through the public API (Queue::open, no worker), then
// bulk-inserts the rows with plain SQL in one transaction (setup only, never
// measured) and creates the temp files. Returns the job ids in insertion order.
std::vector<std::string> generate_queue(const GenSpec& spec);

// A random GUID "{XXXXXXXX-XXXX-4XXX-YXXX-XXXXXXXXXXXX}", as the engine makes them.
std::string random_guid(std::mt19937_64& rng);

// Writes one file the way every benchmark temp file is written: created
// O_EXCL|O_NOFOLLOW, mode 0600, `bytes` of data in 64 KiB writes, closed; no
// fsync (sync_filesystem() once for a whole batch).
void write_temp_file(const std::string& path, int64_t bytes);

// The temp files of job number `index` (id `job_id`) as generate_queue shapes
// them: `files_per_job` files under files_dir/dNNNN (1000 jobs a directory),
// named as the engine names them, the last one half full. Writes them and
// returns their paths in file order.
std::vector<std::string> write_job_temp_files(const std::string& files_dir, int64_t index, const std::string& job_id,
                                              int files_per_job, int64_t temp_bytes);

// chattr +T: makes `dir` the top of a directory hierarchy for ext4's Orlov
// allocator, so that each of its new subdirectories (and the files in it) goes
// to a block group of its own instead of the parent's. Without it, creating
// files right after deleting many (every cancel round) crawls on this
// machine's ext4 (no journal: the inode allocator skips inodes deleted in the
// last minute one by one). Setup speed only; ignored where unsupported.
void spread_subdirectories(const std::string& dir);

// write_job_temp_files() for jobs first_index, first_index + 1, ... (ids[i]
// is job first_index + i) on `threads` threads (setup is not measured; on two
// cores two writers nearly halve it). Paths in job order.
std::vector<std::string> write_temp_files_for(const std::string& files_dir, int64_t first_index,
                                              const std::vector<std::string>& ids, int files_per_job,
                                              int64_t temp_bytes, int threads = 2);

// syncfs() of the filesystem holding `path`: every file written so far is on
// disk, as the engine's fdatasync'ed temp files are.
void sync_filesystem(const std::string& path);

// Appends jobs to existing queue files, shaped as GenSpec's jobs with temp
// files: the same rows (ids, paths) go into every file of `dbs` (a queue and
// the floor's copy of it), each in one transaction; the temp files are written
// once (if temp_files). Setup only, never measured.
struct AppendSpec {
  std::vector<std::string> dbs;
  std::string files_dir;
  int64_t first_index = 0;  // global number of the first job (its directory is index / 1000)
  int64_t count = 0;
  int files_per_job = 4;
  int64_t temp_bytes = 4096;
  bool temp_files = true;
};
struct Appended {
  std::vector<std::string> ids;
  std::vector<std::string> temp_paths;  // files_per_job per job, in job order
};
Appended append_jobs(const AppendSpec& spec, std::mt19937_64& rng);

// Percentile (0..1) of a sample, nearest-rank.
double percentile(std::vector<double> v, double p);
double median(std::vector<double> v);

// Writes one flat JSON object (numbers, strings) to stdout.
class Json {
 public:
  void num(const std::string& k, double v);
  void str(const std::string& k, const std::string& v);
  void arr(const std::string& k, const std::vector<double>& v);  // a JSON array of numbers
  void print() const;

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// Peak RSS of this process, MiB (getrusage ru_maxrss).
double peak_rss_mib();

}  // namespace xferq::bench

#endif  // XFERQ_BENCH_UTIL_H_
