// test_util.h — what every suite needs: a scratch directory, a queue on a
// real file in it, waiting for a condition, and scanning for stray files.
#ifndef XFERQ_TESTS_TEST_UTIL_H_
#define XFERQ_TESTS_TEST_UTIL_H_

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "http_fixture.h"
#include "xferq/xferq.h"

namespace xferq::testing {

// A fresh directory under /tmp, removed with everything in it afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/xferq-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Options for tests: fast progress commits and retries, short polling.
inline QueueOptions test_options(bool start_worker = true) {
  QueueOptions o;
  o.start_worker = start_worker;
  o.progress_interval = std::chrono::milliseconds(50);
  o.poll_interval = std::chrono::milliseconds(10);
  o.minimum_retry_delay_floor = std::chrono::seconds(0);
  o.stall_timeout = std::chrono::seconds(30);
  return o;
}

inline std::unique_ptr<Queue> open_queue(const std::string& db, const QueueOptions& o) {
  auto q = Queue::open(db, o);
  EXPECT_TRUE(q.ok()) << q.error().message();
  return q.ok() ? std::move(*q) : nullptr;
}

// Polls `cond` until true or `timeout`; returns its last value.
inline bool wait_for(const std::function<bool()>& cond,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return cond();
}

inline bool wait_state(const Job& job, JobState s,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  return wait_for([&] {
    auto st = job.state();
    return st.ok() && *st == s;
  }, timeout);
}

inline std::string state_name(const Job& job) {
  auto st = job.state();
  return st.ok() ? std::string(to_string(*st)) : "error: " + st.error().message();
}

// Every file name in `dir` (not recursive) that xferq uses for temp files
// and that ends in `suffix`.
inline std::vector<std::string> xferq_files_in(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".xferq-") != std::string::npos && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(name);
  }
  return out;
}

// The temp files in `dir`.
inline std::vector<std::string> temp_files_in(const std::string& dir) { return xferq_files_in(dir, ".part"); }

// The temp files in `dir` that an in-call Cancel moved aside and whose
// blocks its janitor has not deleted yet.
inline std::vector<std::string> discarded_files_in(const std::string& dir) { return xferq_files_in(dir, ".gone"); }

inline bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& data);

// A queue file of `jobs` QUEUED jobs (no worker ran) whose pages after the
// first are overwritten with garbage: it still opens, but reading or
// claiming jobs meets the damage. Returns the id of the last job.
std::string make_damaged_queue(const std::string& path, const std::string& dir, int jobs = 300);

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline Resource body_resource(std::string body, size_t bytes_per_sec = 0) {
  Resource r;
  r.body = std::move(body);
  r.etag = "\"v1\"";
  r.bytes_per_sec = bytes_per_sec;
  return r;
}

inline std::string make_damaged_queue(const std::string& path, const std::string& dir, int jobs) {
  std::string id;
  QueueOptions o;
  o.start_worker = false;
  auto checkpoint = [&] {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  };
  {
    auto q = Queue::open(path, o);  // the schema: every root page comes first
    EXPECT_TRUE(q.ok());
  }
  checkpoint();
  const size_t schema_bytes = read_file(path).size();
  {
    auto q = Queue::open(path, o);
    EXPECT_TRUE(q.ok());
    if (!q) return id;
    for (int i = 0; i < jobs; ++i) {
      auto j = (*q)->create_job("job " + std::to_string(i) + std::string(200, 'x'));
      EXPECT_FALSE(j->add_file("http://127.0.0.1:1/f", dir + "/f" + std::to_string(i)));
      EXPECT_FALSE(j->resume());
      id = j->id();
    }
  }
  checkpoint();
  // Overwrite the pages the jobs added (the schema's stay intact, so the
  // queue still opens; its tables' roots now point at garbage).
  std::string bytes = read_file(path);
  EXPECT_GT(bytes.size(), schema_bytes + 16384);
  for (size_t i = schema_bytes; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919) & 0xFF);
  write_file(path, bytes);
  return id;
}

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_TEST_UTIL_H_
