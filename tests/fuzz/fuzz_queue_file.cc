// fuzz_queue_file.cc — libFuzzer target: opening a damaged queue file.
//
// Once per process a seed queue is made with the public API (start_worker =
// false): a download job with two files, an upload-reply job, a cancelled
// job, a job to acknowledge; then, with plain SQL, the rows a running queue
// would have (temp paths, byte counts, validators, TRANSFERRING / ERROR /
// TRANSIENT_ERROR / ACKNOWLEDGED, an upload session) and pending outbox rows
// (delete, rename, Cancel-Session) so that opening runs recovery, and old
// modification times so that housekeeping expires and purges.
//
// Each input is a damage applied to a copy of the seed's bytes:
//   byte 0, mode % 3:  0  edits: (offset u24 LE, byte) records;
//                      1  overwrite: offset u24 LE, then the bytes written there;
//                      2  truncate at offset u24 LE, then edits as in 0;
//   byte 0 & 0x80:     also call the writing API (suspend, resume, priority,
//                      description, cancel / complete) on every job.
// The run directory also holds a FIFO (out/e.bin.pipe) a damaged path may
// name. The damaged file is opened with Queue::open (start_worker = false); then
// job_infos(true/false), jobs(true), get_job + info() + files() on each job,
// housekeep(). Every call must return — an error or a value — never crash,
// throw out of the API or hang (a watchdog aborts an input that runs over
// 5 s; see start_watchdog). The files (db, -wal,
// -shm, -journal, anything recovery renamed) are removed after each input.
//
// Safety: damaged rows name arbitrary paths, and recovery / cancel / complete
// delete and rename them. While an input runs, unlink(), rename() and
// fchmod() are interposed: outside this process's sandbox directory they fail
// with EACCES (the engine sees an ordinary error) instead of touching the
// machine. The sandbox is /dev/shm/xferq-fuzz-queue-NN (/tmp/... without
// /dev/shm): a fixed place, so that the seed's bytes are the same in every
// process; removed at exit.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_util.h"
#include "xferq/xferq.h"

namespace {

std::string g_root;                    // the sandbox
std::string g_run;                     // g_root + "/run": the queue file and its paths
std::string g_db;                      // g_run + "/q.db"
std::vector<unsigned char> g_seed;     // the seed queue's bytes
std::atomic<bool> g_guard{false};      // confine unlink/rename/fchmod to the sandbox
std::atomic<int> g_refusals{0};

bool inside_sandbox(const char* path) {
  if (!path || g_root.empty()) return false;
  const std::string p(path);
  if (p.compare(0, g_root.size(), g_root) != 0 || (p.size() > g_root.size() && p[g_root.size()] != '/'))
    return false;
  return (p + "/").find("/../") == std::string::npos;
}

bool refuse(const char* what, const char* path) {
  if (!g_guard.load(std::memory_order_relaxed) || inside_sandbox(path)) return false;
  if (g_refusals.fetch_add(1) < 5)
    std::fprintf(stderr, "fuzz_queue_file: refused %s(%s): outside the sandbox\n", what, path ? path : "(null)");
  errno = EACCES;
  return true;
}

}  // namespace

// The interposed calls (the executable's definitions win over libc's for the
// engine and for the shared libraries it uses).
extern "C" int unlink(const char* path) {
  if (refuse("unlink", path)) return -1;
  return static_cast<int>(syscall(SYS_unlink, path));
}

extern "C" int rename(const char* from, const char* to) {
  if (refuse("rename", from) || refuse("rename", to)) return -1;
  return static_cast<int>(syscall(SYS_rename, from, to));
}

extern "C" int fchmod(int fd, mode_t mode) {
  if (g_guard.load(std::memory_order_relaxed)) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    if (refuse("fchmod", target)) return -1;
  }
  return static_cast<int>(syscall(SYS_fchmod, fd, mode));
}

namespace {

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP)
    ::rmdir(path);
  else
    syscall(SYS_unlink, path);
  return 0;
}

void remove_tree(const std::string& dir) { nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

// The run directory, empty but for the target directory and a planted FIFO
// (out/e.bin.pipe, as long as out/e.bin.part, a temp path of the seed): a
// path that names it must not block the engine (O_NONBLOCK).
void fresh_run_dir() {
  remove_tree(g_run);
  ::mkdir(g_run.c_str(), 0700);
  ::mkdir((g_run + "/out").c_str(), 0700);
  ::mkfifo((g_run + "/out/e.bin.pipe").c_str(), 0600);
}

xferq::QueueOptions fuzz_options() {
  xferq::QueueOptions o;
  o.start_worker = false;
  o.busy_timeout = std::chrono::milliseconds(1000);
  return o;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fuzz_queue_file: %s\n", what.c_str());
  std::abort();
}

template <typename T>
T must(xferq::Result<T> r, const char* what) {
  if (!r) die(std::string("seed: ") + what + ": " + r.error().message());
  return std::move(*r);
}

void must(std::error_code ec, const char* what) {
  if (ec) die(std::string("seed: ") + what + ": " + ec.message());
}

// The rows a live queue would have; best effort (a schema change that breaks
// a statement leaves that part of the seed plain, and says so).
void enrich_seed(std::string a, std::string b, std::string c, std::string d, std::string e) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(g_db.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) die("sqlite3_open_v2");
  const std::string session = "{0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9}";
  // Fixed GUIDs and times first (new_guid() and the clock differ per run),
  // and VACUUM last, so that the seed's bytes are the same in every process.
  std::vector<std::string> statements;
  const std::string ids[] = {a, b, c, d, e};
  for (int i = 0; i < 5; ++i) {
    const std::string fixed = "{0000000" + std::to_string(i + 1) + "-0000-4000-8000-00000000000" + std::to_string(i + 1) + "}";
    statements.push_back("UPDATE jobs SET id = '" + fixed + "', created_us = " + std::to_string(1700000000000000LL + i) +
                         ", modified_us = 4102444800000000 WHERE id = '" + ids[i] + "'");
    statements.push_back("UPDATE files SET job_id = '" + fixed + "' WHERE job_id = '" + ids[i] + "'");
    statements.push_back("UPDATE file_ops SET job_id = '" + fixed + "', created_us = 1 WHERE job_id = '" + ids[i] + "'");
  }
  a = "{00000001-0000-4000-8000-000000000001}", b = "{00000002-0000-4000-8000-000000000002}";
  c = "{00000003-0000-4000-8000-000000000003}", d = "{00000004-0000-4000-8000-000000000004}";
  e = "{00000005-0000-4000-8000-000000000005}";
  const std::vector<std::string> more = {
      // A: transferring, first file done, second half-way.
      "UPDATE files SET temp_path = local_path || '.part', bytes_total = 1000, bytes_transferred = 500, "
      "etag = '\"e-1\"', last_modified = 'Mon, 01 Jan 2024 00:00:00 GMT' WHERE job_id = '" + a + "'",
      "UPDATE files SET completed = 1, bytes_transferred = 1000 WHERE job_id = '" + a + "' AND idx = 0",
      "UPDATE jobs SET state = 2, generation = 7, queued_seq = 3 WHERE id = '" + a + "'",
      // B: an upload-reply in TRANSIENT_ERROR with an open session.
      "UPDATE jobs SET state = 5, error_hresult = 2149318661, error_context = 6, "
      "error_description = 'connection refused', error_count = 1, retry_at_us = 4102444800000000, "
      "no_progress_since_us = 1, upload_session_id = '" + session + "', "
      "reply_url = 'http://127.0.0.1:9/reply' WHERE id = '" + b + "'",
      "UPDATE files SET bytes_total = 4, bytes_transferred = 2, temp_path = '" + g_run +
          "/out/.reply.part' WHERE job_id = '" + b + "'",
      // C: cancelled long ago (purged), its deletion and Cancel-Session pending.
      "UPDATE jobs SET modified_us = 1 WHERE id = '" + c + "'",
      "UPDATE files SET temp_path = local_path || '.part' WHERE job_id = '" + c + "'",
      "INSERT INTO file_ops (job_id, kind, created_us) VALUES ('" + c + "', 1, 1)",
      "INSERT INTO file_ops (job_id, kind, created_us, url, session_id) VALUES ('" + c +
          "', 3, 1, 'http://127.0.0.1:9/up', '" + session + "')",
      // D: ERROR, inactive for ages (housekeeping cancels it).
      "UPDATE jobs SET state = 4, error_hresult = 2149122452, error_context = 5, "
      "error_description = 'the server answered HTTP 404', error_file = 0, error_count = 3, "
      "modified_us = 1 WHERE id = '" + d + "'",
      // E: ACKNOWLEDGED with its renames pending.
      "UPDATE files SET completed = 1, bytes_total = 3, bytes_transferred = 3, "
      "temp_path = local_path || '.part' WHERE job_id = '" + e + "'",
      "UPDATE jobs SET state = 7, transferred_us = 2 WHERE id = '" + e + "'",
      "INSERT INTO file_ops (job_id, kind, previous_state, created_us) VALUES ('" + e + "', 2, 6, 2)",
      "VACUUM",
      "PRAGMA wal_checkpoint(TRUNCATE)",
  };
  statements.insert(statements.end(), more.begin(), more.end());
  for (const std::string& sql : statements) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::fprintf(stderr, "fuzz_queue_file: seed statement skipped (%s): %s\n", err ? err : "?", sql.c_str());
      sqlite3_free(err);
    }
  }
  sqlite3_close(db);
}

void make_seed() {
  using xferq::JobType;
  fresh_run_dir();
  const std::string out = g_run + "/out";
  { std::ofstream(g_run + "/src.bin") << "data"; }
  std::string a, b, c, d, e;
  {
    auto q = must(xferq::Queue::open(g_db, fuzz_options()), "open");
    auto ja = must(q->create_job("fuzz download"), "create A");
    must(ja.add_files({{"http://127.0.0.1:9/a.bin", out + "/a.bin"}, {"https://example.invalid/b?x=1", out + "/b.bin"}}),
         "add A");
    must(ja.set_description("two files, one done"), "describe A");
    must(ja.set_priority(xferq::JobPriority::high), "priority A");
    must(ja.resume(), "resume A");
    auto jb = must(q->create_job("fuzz upload", JobType::upload_reply), "create B");
    must(jb.add_file("http://127.0.0.1:9/up", g_run + "/src.bin"), "add B");
    must(jb.set_reply_file_name(out + "/reply.bin"), "reply B");
    auto jc = must(q->create_job("fuzz cancelled"), "create C");
    must(jc.add_file("http://127.0.0.1:9/c.bin", out + "/c.bin"), "add C");
    must(jc.cancel(), "cancel C");
    auto jd = must(q->create_job("fuzz error \xc3\xa9"), "create D");
    must(jd.add_file("http://[::1]:9/d.bin", out + "/d.bin"), "add D");
    auto je = must(q->create_job("fuzz acknowledged"), "create E");
    must(je.add_file("http://127.0.0.1:9/e.bin", out + "/e.bin"), "add E");
    a = ja.id(), b = jb.id(), c = jc.id(), d = jd.id(), e = je.id();
  }
  enrich_seed(a, b, c, d, e);
  for (const char* suffix : {"-wal", "-shm", "-journal"})
    if (::access((g_db + suffix).c_str(), F_OK) == 0)
      std::fprintf(stderr, "fuzz_queue_file: seed: %s%s left over\n", g_db.c_str(), suffix);
  std::ifstream in(g_db, std::ios::binary);
  g_seed.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (g_seed.size() < 1024) die("seed queue file too small");
  // XFERQ_FUZZ_DUMP_SEED=FILE: a copy of the seed, to aim corpus edits at its rows.
  if (const char* dump = std::getenv("XFERQ_FUZZ_DUMP_SEED")) {
    std::ofstream(dump, std::ios::binary).write(reinterpret_cast<const char*>(g_seed.data()),
                                                static_cast<std::streamsize>(g_seed.size()));
  }
  fresh_run_dir();
}

uint32_t u24(const uint8_t* p) { return p[0] | (p[1] << 8) | (static_cast<uint32_t>(p[2]) << 16); }

std::vector<unsigned char> damaged(const uint8_t* data, size_t size) {
  std::vector<unsigned char> bytes = g_seed;
  const int mode = data[0] % 3;
  const uint8_t* p = data + 1;
  const uint8_t* end = data + size;
  if (mode == 1 || mode == 2) {
    if (end - p < 3) return bytes;
    const uint32_t off = u24(p);
    p += 3;
    if (mode == 1) {
      for (size_t at = off % bytes.size(); p < end && at < bytes.size(); ++p, ++at) bytes[at] = *p;
      return bytes;
    }
    bytes.resize(off % (bytes.size() + 1));
  }
  for (; end - p >= 4 && !bytes.empty(); p += 4) bytes[u24(p) % bytes.size()] = p[3];
  return bytes;
}

void write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create " + path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) die("cannot write " + path);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// XFERQ_FUZZ_VERBOSE=1: what each call answered (to see what an input reaches).
const bool g_verbose = std::getenv("XFERQ_FUZZ_VERBOSE") != nullptr;

template <typename R>
void say(const char* call, const R& r) {
  if (g_verbose) std::fprintf(stderr, "  %s: %s\n", call, r ? "ok" : r.error().message().c_str());
}
void say(const char* call, std::error_code ec) {
  if (g_verbose) std::fprintf(stderr, "  %s: %s\n", call, ec ? ec.message().c_str() : "ok");
}

void exercise(bool writes) {
  auto opened = xferq::Queue::open(g_db, fuzz_options());
  say("Queue::open", opened);
  if (!opened) return;
  std::unique_ptr<xferq::Queue> q = std::move(*opened);

  auto infos = q->job_infos(true);
  say("job_infos(true)", infos);
  if (infos) {
    for (const xferq::JobInfo& info : *infos) {
      (void)xferq::to_string(info.state);
      (void)xferq::to_string(info.type);
      (void)xferq::to_string(info.priority);
      if (info.error) (void)xferq::to_string(info.error->context);
      auto job = q->get_job(info.id);
      say("get_job", job);
      if (job) {
        say("info", job->info());
        say("files", job->files());
      }
    }
  }
  say("job_infos(false)", q->job_infos(false));

  auto jobs = q->jobs(true);
  say("jobs(true)", jobs);
  if (jobs) {
    size_t i = 0;
    for (xferq::Job& listed : *jobs) {
      auto job = q->get_job(listed.id());
      xferq::Job& j = job ? *job : listed;
      say("info", j.info());
      say("files", j.files());
      say("error", j.error());
      say("reply_file_name", j.reply_file_name());
      if (writes) {
        say("suspend", j.suspend());
        say("set_priority", j.set_priority(xferq::JobPriority::low));
        say("set_description", j.set_description("fuzzed"));
        say("resume", j.resume());
        if (i++ % 2)
          say("cancel", j.cancel());
        else
          say("complete", j.complete());
      }
    }
  }
  say("housekeep", q->housekeep());
}

// The watchdog: an input still running after kInputLimit is a hang. It
// aborts (libFuzzer saves the input as a crash) rather than waiting for
// -timeout, because libFuzzer's own timer is SIGALRM, which interrupts a
// blocking open() with EINTR and so hides exactly the hangs looked for here
// (an open() of a FIFO without O_NONBLOCK blocks forever outside libFuzzer).
constexpr auto kInputLimit = std::chrono::seconds(5);
std::atomic<int64_t> g_input_started_ms{0};  // 0: no input running
pthread_t g_input_thread;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void start_watchdog() {
  std::thread([] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t started = g_input_started_ms.load();
      if (started != 0 && now_ms() - started > std::chrono::milliseconds(kInputLimit).count()) {
        std::fprintf(stderr, "fuzz property failed: the input still runs after %lld s (a call blocks)\n",
                     static_cast<long long>(kInputLimit.count()));
        // SIGABRT to the input's thread: the report shows where it blocks.
        pthread_kill(g_input_thread, SIGABRT);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        std::abort();
      }
    }
  }).detach();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // A fixed place, not $TMPDIR: the seed's bytes (its paths) are then the same
  // in every process, so a reproducer replays anywhere. /dev/shm (tmpfs: no
  // disk under SQLite's and the outbox's syncs) where there is one, else /tmp.
  // The first free slot (by lock, so a crashed run's leftover is reused) is
  // normally 00.
  struct stat shm {};
  const char* base = ::stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) && ::access("/dev/shm", W_OK) == 0
                         ? "/dev/shm"
                         : "/tmp";
  for (int slot = 0; slot < 100 && g_root.empty(); ++slot) {
    char name[64];
    std::snprintf(name, sizeof name, "%s/xferq-fuzz-queue-%02d", base, slot);
    const int fd = ::open((std::string(name) + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      continue;
    }
    g_root = name;  // the lock is held until the process exits
  }
  if (g_root.empty()) die(std::string("no free ") + base + "/xferq-fuzz-queue-NN slot");
  remove_tree(g_root);
  if (::mkdir(g_root.c_str(), 0700) != 0) die("mkdir " + g_root);
  g_run = g_root + "/run";
  g_db = g_run + "/q.db";
  std::atexit([] { remove_tree(g_root); });
  g_guard = true;
  make_seed();
  g_guard = false;
  start_watchdog();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  g_guard = true;
  g_input_thread = pthread_self();
  g_input_started_ms = now_ms();
  write_file(g_db, damaged(data, size));
  exercise(data[0] & 0x80);
  g_input_started_ms = 0;
  fresh_run_dir();
  g_guard = false;
  return 0;
}
