// bench_util.h — shared helpers of the xferq benchmarks: bulk generation of a
// queue file, percentiles, a tiny JSON writer.
#ifndef XFERQ_BENCH_UTIL_H_
#define XFERQ_BENCH_UTIL_H_

#include <chrono>
#include <cstdint>
#include <map>
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

// Percentile (0..1) of a sample, nearest-rank.
double percentile(std::vector<double> v, double p);

// Writes one flat JSON object (numbers, strings) to stdout.
class Json {
 public:
  void num(const std::string& k, double v);
  void str(const std::string& k, const std::string& v);
  void print() const;

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

// Peak RSS of this process, MiB (getrusage ru_maxrss).
double peak_rss_mib();

}  // namespace xferq::bench

#endif  // XFERQ_BENCH_UTIL_H_
