// model_test.cc — seeded random sequences of API calls from several threads,
// with the worker running against the fixture server, each call checked
// against a small reference model.
//
// The model keeps, for every job, the SET of states it may be in. The worker
// moves jobs on its own, so after every step the set is closed under what the
// worker can do to that job given its files (QUEUED -> CONNECTING ->
// TRANSFERRING -> TRANSFERRED if every file is transferable, ERROR at the
// first 404, TRANSIENT_ERROR at the first 503 or stalled file; and
// CONNECTING / TRANSFERRING -> QUEUED when a better-priority job preempts it
// or its time slice ends, worker/scheduler.h). A call is
// checked against the reference table (tests/data/transitions.csv plus the
// cells state_machine.h defines): the code returned must be one the table
// gives for some possible state; the possible states then shrink to those
// that give that code, move by the call, and are checked against the state
// read right after. Final states never change. Each thread owns its jobs, so
// a job's calls are sequential and only the worker races with them.
//
// After the run every job is finished with complete() or cancel(); files of
// ACKNOWLEDGED jobs must be byte-identical, no temp file may be left, and a
// reopened queue must show the same states with an empty outbox.
//
// XFERQ_MODEL_SEED fixes the seed (printed on failure), XFERQ_MODEL_STEPS the
// steps per thread (default 5000, 4 threads). PgModel runs the same on a
// PostgreSQL database when the PostgreSQL backend is built.
#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "test_util.h"
#ifdef XFERQ_WITH_POSTGRESQL
#include <pqxx/pqxx>

#include "pg_fixture.h"
#endif

namespace xferq::testing {
namespace {

using namespace std::chrono_literals;
using S = JobState;

constexpr uint32_t bit(S s) { return 1u << static_cast<int>(s); }
constexpr uint32_t kFinal = bit(S::acknowledged) | bit(S::cancelled);

std::string states_str(uint32_t m) {
  std::string out;
  for (int s = 0; s <= 8; ++s)
    if (m & (1u << s)) out += (out.empty() ? "" : "|") + std::string(to_string(static_cast<S>(s)));
  return "{" + out + "}";
}

enum class Kind { good, fatal, transient };

struct ModelResource {
  const char* path;
  Kind kind;
};
const ModelResource kResources[] = {
    {"/fast", Kind::good},        {"/throttled", Kind::good}, {"/missing", Kind::fatal},
    {"/unavailable", Kind::transient}, {"/stall", Kind::transient},
};

enum class Call { add_file, suspend, resume, cancel, complete, set_priority, set_display_name, set_description };
const char* const kCallNames[] = {"add_file", "suspend", "resume", "cancel", "complete",
                                  "set_priority", "set_display_name", "set_description"};

// What the reference says a call does in state s: the HRESULT and the next state.
struct Outcome {
  uint32_t hresult;
  S next;
};
Outcome reference(Call call, S s, int files) {
  const uint32_t invalid = static_cast<uint32_t>(Errc::invalid_state);
  if (is_final(s)) return {invalid, s};
  switch (call) {
    case Call::suspend:
      if (s == S::queued || s == S::connecting || s == S::transferring || s == S::transient_error)
        return {kS_OK, S::suspended};
      return {kS_OK, s};  // SUSPENDED; ERROR and TRANSFERRED: no-op
    case Call::resume:
      if (s == S::suspended || s == S::error || s == S::transient_error) {
        if (files == 0) return {static_cast<uint32_t>(Errc::empty), s};
        return {kS_OK, S::queued};
      }
      return {kS_OK, s};
    case Call::cancel:
      return {kS_OK, S::cancelled};
    case Call::complete:
      return {kS_OK, S::acknowledged};
    case Call::add_file:
      return {kS_OK, s == S::transferred ? S::suspended : s};
    default:
      return {kS_OK, s};
  }
}

struct MFile {
  std::string url, local;
  Kind kind;
};

struct MJob {
  Job job;
  uint32_t possible = bit(S::suspended);
  std::vector<MFile> files;
  JobPriority priority = JobPriority::normal;
  std::string name, description;
  bool completed_all = false;  // complete() said S_OK (not partial)
};

// What the worker can do to a job from the states in m.
uint32_t closure(uint32_t m, const MJob& j) {
  Kind outcome = Kind::good;
  for (const MFile& f : j.files) {
    if (f.kind != Kind::good) {
      outcome = f.kind;
      break;
    }
  }
  const uint32_t end = outcome == Kind::good ? bit(S::transferred)
                       : outcome == Kind::fatal ? bit(S::error)
                                                : bit(S::transient_error);
  for (;;) {
    uint32_t n = m;
    if (m & bit(S::queued)) n |= bit(S::connecting);
    if (m & bit(S::connecting)) n |= bit(S::transferring) | end;
    if (m & bit(S::transferring)) n |= end;
    // Preemption and time slices give a running job's slot back.
    if (m & (bit(S::connecting) | bit(S::transferring))) n |= bit(S::queued);
    if (n == m) return m;
    m = n;
  }
}

class Model : public ::testing::Test {
 protected:
  // The queue the model runs on: a SQLite file; "" skips the test (the
  // reason in skip_reason_). PgModel runs it on a PostgreSQL database.
  virtual std::string queue_path() { return dir_ / "queue.db"; }
  // Rows left in the outbox (read straight from the queue's database).
  virtual int outbox_rows() {
    SQLite::Database raw(db_, SQLite::OPEN_READWRITE);
    return raw.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt();
  }
  void run_model();

  void SetUp() override {
    server_.set("/fast", body_resource(make_body(64 * 1024 + 3, 11)));
    server_.set("/throttled", body_resource(make_body(256 * 1024 + 5, 12), 1024 * 1024));
    Resource missing;
    missing.status = 404;
    server_.set("/missing", missing);
    Resource unavailable;
    unavailable.status = 503;
    server_.set("/unavailable", unavailable);
    Resource stall = body_resource(make_body(2 * 1024 * 1024, 13));
    stall.stall_after_bytes = 4096;
    server_.set("/stall", stall);
    hash_[server_.url("/fast")] = content_hash(make_body(64 * 1024 + 3, 11));
    hash_[server_.url("/throttled")] = content_hash(make_body(256 * 1024 + 5, 12));
    db_ = queue_path();
    if (db_.empty()) GTEST_SKIP() << skip_reason_;
    options_ = test_options(true);
    options_.stall_timeout = 1s;
    options_.max_concurrent_transfers = 6;
    queue_ = open_queue(db_, options_);
    ASSERT_TRUE(queue_);
  }

  std::string skip_reason_;
  ScratchDir dir_;
  FixtureServer server_;
  std::string db_;
  QueueOptions options_;
  std::unique_ptr<Queue> queue_;
  std::map<std::string, std::string> hash_;
};

class Runner {
 public:
  Runner(Queue& q, FixtureServer& server, const std::string& dir, uint64_t seed, int thread,
         std::atomic<bool>& stop)
      : q_(q), server_(server), dir_(dir), seed_(seed), thread_(thread), rng_(seed * 31 + thread), stop_(stop) {}

  std::vector<MJob> jobs;
  long steps_done = 0;
  long observed[9] = {};
  std::map<std::string, long> calls;

  void fail(const std::string& what) {
    ADD_FAILURE() << "XFERQ_MODEL_SEED=" << seed_ << " thread " << thread_ << " step " << steps_done << ": "
                  << what;
    stop_ = true;
  }

  std::string new_name() {
    static const char* const kWords[] = {"nightly", "Übertragung", "update", "日本", "x", "patch 7"};
    return std::string(kWords[rng_() % 6]) + " " + std::to_string(rng_() % 1000);
  }

  void create() {
    const std::string name = new_name();
    auto j = q_.create_job(name);
    if (!j) return fail("create_job: " + j.error().message());
    MJob m;
    m.job = *j;
    m.name = name;
    auto info = j->info();
    if (!info || info->state != S::suspended || info->progress.files_total != 0 || info->display_name != name)
      return fail("new job is not an empty SUSPENDED job named '" + name + "'");
    jobs.push_back(std::move(m));
    calls["create_job"]++;
  }

  // Observes the job; checks it against the model and narrows the model.
  void observe(MJob& m, const std::string& after) {
    auto info = m.job.info();
    if (!info) return fail("info() after " + after + ": " + info.error().message());
    if (!(m.possible & bit(info->state)))
      return fail("after " + after + " job " + m.job.id() + " is " + std::string(to_string(info->state)) +
                  "; the model allows " + states_str(m.possible));
    m.possible = closure(bit(info->state), m);
    observed[static_cast<int>(info->state)]++;
    if (info->priority != m.priority) fail("priority changed behind the model's back after " + after);
    if (info->display_name != m.name) fail("display name is '" + info->display_name + "', model '" + m.name + "'");
    if (info->description != m.description) fail("description differs from the model after " + after);
    if (info->progress.files_total != m.files.size()) fail("files_total differs from the model after " + after);
  }

  void step() {
    ++steps_done;
    std::vector<size_t> live;
    for (size_t i = 0; i < jobs.size(); ++i)
      if (!(jobs[i].possible & kFinal)) live.push_back(i);
    if (live.size() < 2 || (live.size() < 8 && rng_() % 100 < 8)) {
      create();
      return;
    }
    // Mostly live jobs; now and then a final one (every call refused).
    MJob& m = rng_() % 10 == 0 ? jobs[rng_() % jobs.size()] : jobs[live[rng_() % live.size()]];
    const int r = static_cast<int>(rng_() % 100);
    Call call = r < 14 ? Call::add_file
                : r < 30 ? Call::suspend
                : r < 54 ? Call::resume
                : r < 57 ? Call::cancel
                : r < 61 ? Call::complete
                : r < 76 ? Call::set_priority
                : r < 88 ? Call::set_display_name
                         : Call::set_description;
    // Give empty jobs files, run suspended ones, complete transferred ones: more often.
    if (m.files.empty() && !(m.possible & kFinal) && rng_() % 10 < 7) call = Call::add_file;
    if (m.possible == bit(S::suspended) && !m.files.empty() && rng_() % 10 < 4) call = Call::resume;
    if ((m.possible & bit(S::transferred)) && rng_() % 2 == 0) call = Call::complete;
    const std::string call_name = kCallNames[static_cast<int>(call)];
    calls[call_name]++;

    // Arguments, and argument errors that come before any state check.
    std::optional<uint32_t> arg_error;
    MFile file;
    JobPriority priority = JobPriority::normal;
    std::string text;
    if (call == Call::add_file) {
      const auto& res = kResources[rng_() % 100 < 70 ? rng_() % 2 : 2 + rng_() % 3];
      file = MFile{server_.url(res.path), dir_ + "/t" + std::to_string(thread_) + "-" + std::to_string(serial_++),
                   res.kind};
    } else if (call == Call::set_priority) {
      priority = static_cast<JobPriority>(rng_() % 4);
    } else if (call == Call::set_display_name) {
      const int k = static_cast<int>(rng_() % 20);
      if (k == 0) {
        text = "";
        arg_error = static_cast<uint32_t>(Errc::invalid_arg);
      } else if (k == 1) {
        text = std::string(257, 'n');
        arg_error = static_cast<uint32_t>(Errc::string_too_long);
      } else {
        text = new_name();
      }
    } else if (call == Call::set_description) {
      const int k = static_cast<int>(rng_() % 20);
      if (k == 0) {
        text = std::string(1025, 'd');
        arg_error = static_cast<uint32_t>(Errc::string_too_long);
      } else {
        text = k == 1 ? "" : "description " + new_name();
      }
    }

    // What the model allows.
    std::map<uint32_t, uint32_t> next_by_result;  // hresult -> possible next states
    for (int s = 0; s <= 8; ++s) {
      if (!(m.possible & (1u << s))) continue;
      if (arg_error) {
        next_by_result[*arg_error] |= 1u << s;
        continue;
      }
      const Outcome o = reference(call, static_cast<S>(s), static_cast<int>(m.files.size()));
      next_by_result[o.hresult] |= bit(o.next);
    }

    // The call.
    std::error_code ec;
    CompleteStatus status = CompleteStatus::partial;
    switch (call) {
      case Call::add_file: ec = m.job.add_file(file.url, file.local); break;
      case Call::suspend: ec = m.job.suspend(); break;
      case Call::resume: ec = m.job.resume(); break;
      case Call::cancel: ec = m.job.cancel(); break;
      case Call::complete: ec = m.job.complete(&status); break;
      case Call::set_priority: ec = m.job.set_priority(priority); break;
      case Call::set_display_name: ec = m.job.set_display_name(text); break;
      case Call::set_description: ec = m.job.set_description(text); break;
    }
    const uint32_t got = to_hresult(ec);
    const std::string what = call_name + " on " + m.job.id() + " (model " + states_str(m.possible) + ")";
    auto it = next_by_result.find(got);
    if (it == next_by_result.end()) {
      std::string allowed;
      for (const auto& kv : next_by_result) allowed += " " + hresult_name(kv.first);
      return fail(what + " returned " + hresult_name(got) + "; the model allows" + allowed);
    }
    if (!ec) {
      switch (call) {
        case Call::add_file: m.files.push_back(file); break;
        case Call::set_priority: m.priority = priority; break;
        case Call::set_display_name: m.name = text; break;
        case Call::set_description: m.description = text; break;
        case Call::complete: m.completed_all = status == CompleteStatus::all_files; break;
        default: break;
      }
    }
    m.possible = closure(it->second, m);
    observe(m, what + " -> " + hresult_name(got));
  }

  void run(int steps) {
    for (int i = 0; i < steps && !stop_; ++i) {
      step();
      // Let the worker move now and then.
      if (rng_() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 6000));
    }
  }

  // Ends every job: complete() or cancel(), as the model says is allowed.
  void finish_all() {
    for (MJob& m : jobs) {
      if (stop_) return;
      observe(m, "the run");
      if (m.possible & kFinal) continue;  // final (closure of a final state is itself)
      CompleteStatus status = CompleteStatus::partial;
      const bool complete = rng_() % 2;
      const std::error_code ec = complete ? m.job.complete(&status) : m.job.cancel();
      if (ec) fail(std::string(complete ? "complete" : "cancel") + " of a non-final job: " + ec.message());
      if (complete) m.completed_all = status == CompleteStatus::all_files;
      m.possible = bit(complete ? S::acknowledged : S::cancelled);
      observe(m, "finish");
    }
  }

 private:
  Queue& q_;
  FixtureServer& server_;
  std::string dir_;
  uint64_t seed_;
  int thread_;
  std::mt19937_64 rng_;
  std::atomic<bool>& stop_;
  int serial_ = 0;
};

TEST_F(Model, RandomCallsFromFourThreadsMatchTheReference) { run_model(); }

#ifdef XFERQ_WITH_POSTGRESQL
// The same model on the PostgreSQL backend (a fresh database on the binary's
// private cluster, tests/pg_fixture.h).
class PgModel : public Model {
 protected:
  std::string queue_path() override {
    PgCluster* cluster = PgCluster::shared(&skip_reason_);
    return cluster ? cluster->create_database() : std::string();
  }
  int outbox_rows() override {
    pqxx::connection c(db_);
    pqxx::work tx(c);
    return tx.exec1("SELECT count(*) FROM file_ops")[0].as<int>();
  }
};

TEST_F(PgModel, RandomCallsFromFourThreadsMatchTheReference) { run_model(); }
#endif

void Model::run_model() {
  const char* env_seed = std::getenv("XFERQ_MODEL_SEED");
  const uint64_t seed = env_seed && *env_seed ? std::strtoull(env_seed, nullptr, 10) : std::random_device{}();
  const char* env_steps = std::getenv("XFERQ_MODEL_STEPS");
  const int steps = env_steps && *env_steps ? std::atoi(env_steps) : 5000;
  SCOPED_TRACE("XFERQ_MODEL_SEED=" + std::to_string(seed));
  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<Runner>> runners;
  for (int t = 0; t < kThreads; ++t)
    runners.push_back(std::make_unique<Runner>(*queue_, server_, dir_.path(), seed, t, stop));
  std::vector<std::thread> threads;
  for (auto& r : runners) threads.emplace_back([&r, steps] { r->run(steps); });
  for (auto& th : threads) th.join();
  ASSERT_FALSE(HasFailure());

  // Mid-life: every temp file on disk belongs to a non-final job's row.
  std::this_thread::sleep_for(100ms);
  {
    const auto on_disk = temp_files_in(dir_.path());
    std::set<std::string> owned;
    for (auto& r : runners)
      for (MJob& m : r->jobs) {
        auto st = m.job.state();
        ASSERT_TRUE(st.ok());
        if (is_final(*st)) continue;
        auto files = m.job.files();
        ASSERT_TRUE(files.ok());
        for (const FileInfo& f : *files)
          if (!f.temp_path.empty()) owned.insert(f.temp_path);
      }
    for (const auto& name : on_disk) {
      if (owned.count(dir_ / name) || !exists(dir_ / name)) continue;
      std::string whose = "no row";
      for (auto& r : runners)
        for (MJob& m : r->jobs)
          for (const FileInfo& f : std::vector<FileInfo>(m.job.files().value()))
            if (f.temp_path == dir_ / name || name.find("." + f.local_path.substr(f.local_path.rfind('/') + 1) + ".") == 0)
              whose = "job " + m.job.id() + " " + state_name(m.job) + " file " + f.remote_url +
                      " bytes " + std::to_string(f.bytes_transferred) + " completed " + std::to_string(f.completed) + " temp_path '" + f.temp_path + "'";
      ADD_FAILURE() << "orphan temp file " << name << " (" << whose << ", " << read_file(dir_ / name).size()
                    << " bytes on disk)";
    }
  }

  for (auto& r : runners) r->finish_all();
  ASSERT_FALSE(HasFailure());
  // The worker lets go of cancelled transfers within moments; none may leave a file.
  EXPECT_TRUE(wait_for([&] { return temp_files_in(dir_.path()).empty(); }, 5000ms))
      << temp_files_in(dir_.path()).size() << " temp files left";

  long total_steps = 0;
  std::map<std::string, long> calls;
  long observed[9] = {};
  std::map<S, int> final_states;
  std::map<std::string, S> state_of;
  int files_checked = 0;
  for (auto& r : runners) {
    total_steps += r->steps_done;
    for (const auto& [name, n] : r->calls) calls[name] += n;
    for (int s = 0; s <= 8; ++s) observed[s] += r->observed[s];
    for (MJob& m : r->jobs) {
      const S st = *m.job.state();
      state_of[m.job.id()] = st;
      final_states[st]++;
      auto files = m.job.files();
      ASSERT_TRUE(files.ok());
      ASSERT_EQ(files->size(), m.files.size());
      for (const FileInfo& f : *files) {
        if (st == S::acknowledged && f.completed) {
          ASSERT_TRUE(hash_.count(f.remote_url)) << "a completed file from " << f.remote_url;
          EXPECT_EQ(file_content_hash(f.local_path), hash_[f.remote_url]) << f.local_path;
          ++files_checked;
        } else {
          EXPECT_FALSE(exists(f.local_path)) << "final file of an unfinished file or cancelled job " << f.local_path;
          if (st == S::acknowledged) {
            EXPECT_FALSE(m.completed_all) << "S_OK complete left a file unfinished";
          }
        }
        if (!f.temp_path.empty()) {
          EXPECT_FALSE(exists(f.temp_path));
        }
      }
    }
  }
  std::printf("model test: seed %llu, %ld steps from %d threads, %zu jobs (%d acknowledged, %d cancelled), "
              "%d files verified\n  calls:",
              static_cast<unsigned long long>(seed), total_steps, kThreads, state_of.size(),
              final_states[S::acknowledged], final_states[S::cancelled], files_checked);
  for (const auto& [name, n] : calls) std::printf(" %s %ld", name.c_str(), n);
  std::printf("\n  states observed:");
  for (int s = 0; s <= 8; ++s) std::printf(" %s %ld", std::string(to_string(static_cast<S>(s))).c_str(), observed[s]);
  std::printf("\n");

  // Reopened: the same final states, and nothing left in the outbox.
  queue_.reset();
  queue_ = open_queue(db_, test_options(false));
  ASSERT_TRUE(queue_);
  for (const auto& [id, st] : state_of) {
    auto j = queue_->get_job(id);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(*j->state(), st) << id;
  }
  EXPECT_EQ(outbox_rows(), 0);
}

}  // namespace
}  // namespace xferq::testing
