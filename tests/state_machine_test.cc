// state_machine_test.cc — the reference's oracle (tests/data/transitions.csv,
// the BITS reference table, explained in docs/bits-behaviour.md) checked twice: against the pure
// table, and end to end against a real queue whose jobs are driven into each
// state by real transfers from the fixture server. Also the scheduling rules
// (worker/scheduler.h: who preempts whom, time slices) as a pure function;
// tests/scheduling_test.cc runs them with real transfers.
#include <fstream>
#include <map>
#include <sstream>

#include "state_machine.h"
#include "test_util.h"
#include "worker/scheduler.h"

namespace xferq::testing {
namespace {

struct OracleRow {
  std::string state, call, state_after, result;
};

std::vector<OracleRow> load_oracle() {
  std::ifstream in(XFERQ_TEST_DATA_DIR "/transitions.csv");
  EXPECT_TRUE(in.good()) << "missing transitions.csv";
  std::vector<OracleRow> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    OracleRow r;
    std::getline(ss, r.state, ',');
    std::getline(ss, r.call, ',');
    std::getline(ss, r.state_after, ',');
    std::getline(ss, r.result, ',');
    rows.push_back(r);
  }
  return rows;
}

JobState parse(const std::string& name) {
  JobState s{};
  EXPECT_TRUE(parse_state(name, &s)) << name;
  return s;
}

uint32_t result_code(const std::error_code& ec, CompleteStatus status, bool is_complete) {
  if (ec) return to_hresult(ec);
  if (is_complete && status == CompleteStatus::partial) return kBG_S_PARTIAL_COMPLETE;
  return kS_OK;
}

// ---- Scheduling: the preempt / share rules (worker/scheduler.h) ------------

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr JobPriority FG = JobPriority::foreground, HI = JobPriority::high, NO = JobPriority::normal,
                      LO = JobPriority::low;

detail::RunningSlot slot(const char* id, JobPriority p, Clock::time_point since) {
  return detail::RunningSlot{id, p, since};
}

std::string yields(const detail::SlotPlan& plan) {
  std::string out;
  for (const auto& y : plan.yields)
    out += y.job_id + (y.event == detail::WorkerEvent::preempted ? ":preempted " : ":slice_over ");
  return out;
}

TEST(Scheduling, BetterPriorityPreemptsTheWorstRunningJob) {
  const auto now = Clock::now();
  const int64_t queued[4] = {1, 0, 0, 0};  // one FOREGROUND waits
  // The worst priority goes first, whatever the order or age of the others.
  auto plan = detail::plan_slots({slot("n", NO, now - milliseconds(9000)), slot("l", LO, now), slot("h", HI, now)},
                                 queued, 3, milliseconds(0), now);
  EXPECT_EQ(yields(plan), "l:preempted ");
  // Among equals, the one that has held its slot longest.
  plan = detail::plan_slots({slot("l1", LO, now - milliseconds(10)), slot("l2", LO, now - milliseconds(20))}, queued,
                            2, milliseconds(0), now);
  EXPECT_EQ(yields(plan), "l2:preempted ");
}

TEST(Scheduling, NoPreemptionForEqualOrWorsePriority) {
  const auto now = Clock::now();
  const int64_t normal_waits[4] = {0, 0, 1, 0};
  EXPECT_EQ(yields(detail::plan_slots({slot("n", NO, now - milliseconds(100000))}, normal_waits, 1, milliseconds(0),
                                      now)),
            "");
  EXPECT_EQ(yields(detail::plan_slots({slot("h", HI, now - milliseconds(100000))}, normal_waits, 1,
                                      milliseconds(1000), now)),
            "");  // a worse job never takes a slot, slices or not
  const int64_t low_waits[4] = {0, 0, 0, 3};
  EXPECT_EQ(yields(detail::plan_slots({slot("f", FG, now), slot("n", NO, now)}, low_waits, 2, milliseconds(0), now)),
            "");
}

TEST(Scheduling, FreeSlotsGoFirstAndEachWaitingJobTakesOneSlot) {
  const auto now = Clock::now();
  const int64_t queued[4] = {1, 1, 0, 0};  // FOREGROUND and HIGH wait
  // One free slot: FOREGROUND takes it (claim order); HIGH preempts the LOW job.
  auto plan = detail::plan_slots({slot("l", LO, now), slot("n", NO, now)}, queued, 3, milliseconds(0), now);
  EXPECT_EQ(yields(plan), "l:preempted ");
  // No free slot: both preempt, the worst first.
  plan = detail::plan_slots({slot("l", LO, now), slot("n", NO, now)}, queued, 2, milliseconds(0), now);
  EXPECT_EQ(yields(plan), "l:preempted n:preempted ");
  // A job in a free slot preempts nobody.
  plan = detail::plan_slots({slot("l", LO, now)}, queued, 3, milliseconds(0), now);
  EXPECT_EQ(yields(plan), "");
}

TEST(Scheduling, EqualPrioritiesShareByTimeSlices) {
  const auto now = Clock::now();
  const milliseconds slice(300);
  const int64_t one_normal[4] = {0, 0, 1, 0};
  // The slice has not ended: keep running; ask again when it ends.
  auto plan = detail::plan_slots({slot("a", NO, now - milliseconds(100))}, one_normal, 1, slice, now);
  EXPECT_EQ(yields(plan), "");
  ASSERT_TRUE(plan.next_slice_end);
  EXPECT_EQ(*plan.next_slice_end, now - milliseconds(100) + slice);
  // It has: the longest running job of that priority rotates, one per waiting job.
  plan = detail::plan_slots({slot("a", NO, now - milliseconds(400)), slot("b", NO, now - milliseconds(500)),
                             slot("c", NO, now - milliseconds(50))},
                            one_normal, 3, slice, now);
  EXPECT_EQ(yields(plan), "b:slice_over ");
  ASSERT_TRUE(plan.next_slice_end);
  EXPECT_EQ(*plan.next_slice_end, now - milliseconds(50) + slice);  // c's; a's has passed
  // A slice of zero turns round robin off.
  plan = detail::plan_slots({slot("a", NO, now - milliseconds(100000))}, one_normal, 1, milliseconds(0), now);
  EXPECT_EQ(yields(plan), "");
  EXPECT_FALSE(plan.next_slice_end);
  // Preemption comes first: the LOW job makes way, not the NORMAL one whose slice ended.
  plan = detail::plan_slots({slot("a", NO, now - milliseconds(1000)), slot("l", LO, now)}, one_normal, 2, slice, now);
  EXPECT_EQ(yields(plan), "l:preempted ");
}

TEST(StateTable, OracleHasEveryState) {
  auto rows = load_oracle();
  ASSERT_GE(rows.size(), 80u);
  std::map<std::string, int> per_state;
  for (auto& r : rows) per_state[r.state]++;
  EXPECT_EQ(per_state.size(), 9u);
}

// decide() alone, for every row.
TEST(StateTable, MatchesOracle) {
  using detail::Call;
  for (const auto& r : load_oracle()) {
    SCOPED_TRACE(r.state + "," + r.call);
    detail::FileFacts facts{2, 2};
    Call call = Call::set_property;
    if (r.call == "suspend") call = Call::suspend;
    else if (r.call == "resume") call = Call::resume;
    else if (r.call == "resume_no_files") { call = Call::resume; facts = {0, 0}; }
    else if (r.call == "cancel") call = Call::cancel;
    else if (r.call == "complete") call = Call::complete;
    else if (r.call == "complete_some_files_done") { call = Call::complete; facts = {2, 1}; }
    else if (r.call == "add_file") call = Call::add_file;
    const auto d = detail::decide(parse(r.state), call, facts);
    EXPECT_EQ(to_string(d.next), r.state_after);
    const uint32_t code = result_code(d.error, d.complete_status, call == Call::complete);
    EXPECT_EQ(hresult_name(code), r.result);
  }
}

// The cells the reference leaves open, as the engine defines them.
TEST(StateTable, EngineDefinedCells) {
  using detail::Call;
  const detail::FileFacts some{1, 0};
  EXPECT_EQ(detail::decide(JobState::error, Call::suspend, some).next, JobState::error);
  EXPECT_EQ(detail::decide(JobState::transferred, Call::suspend, some).next, JobState::transferred);
  EXPECT_EQ(detail::decide(JobState::transferred, Call::resume, some).next, JobState::transferred);
  EXPECT_EQ(detail::decide(JobState::transferred, Call::add_file, some).next, JobState::suspended);
  EXPECT_EQ(detail::decide(JobState::transferring, Call::add_file, some).next, JobState::transferring);
  EXPECT_FALSE(detail::decide(JobState::transferring, Call::add_file, some).error);
  // Worker events refuse stale views.
  EXPECT_FALSE(detail::on_worker_event(JobState::cancelled, detail::WorkerEvent::all_files_done));
  EXPECT_FALSE(detail::on_worker_event(JobState::suspended, detail::WorkerEvent::connected));
  EXPECT_EQ(detail::on_worker_event(JobState::transient_error, detail::WorkerEvent::retry_due), JobState::queued);
}

// set_validation_state(false) (not in BITS's oracle table): a job in any
// non-final state goes to ERROR; a final job refuses it.
TEST(StateTable, InvalidatedFileSendsTheJobToError) {
  const detail::FileFacts some{2, 1};
  for (int s = 0; s <= 6; ++s) {
    const auto d = detail::decide(static_cast<JobState>(s), detail::Call::invalidate_file, some);
    EXPECT_FALSE(d.error) << s;
    EXPECT_EQ(d.next, JobState::error) << s;
  }
  for (JobState s : {JobState::acknowledged, JobState::cancelled})
    EXPECT_EQ(detail::decide(s, detail::Call::invalidate_file, some).error, make_error_code(Errc::invalid_state));
}

// The table's other entry points, which the store builds its SQL from.
TEST(StateTable, MasksAndTargetsComeFromTheTable) {
  using detail::Call;
  using detail::state_bit;
  using detail::WorkerEvent;
  const uint32_t finals = state_bit(JobState::acknowledged) | state_bit(JobState::cancelled);
  EXPECT_EQ(detail::final_states(), finals);
  for (Call c : {Call::suspend, Call::resume, Call::cancel, Call::complete, Call::set_property, Call::add_file,
                 Call::invalidate_file})
    EXPECT_EQ(detail::allowed_from(c), 0x1FFu & ~finals) << static_cast<int>(c);
  EXPECT_EQ(detail::call_target(Call::cancel), JobState::cancelled);
  EXPECT_EQ(detail::call_target(Call::complete), JobState::acknowledged);
  EXPECT_EQ(detail::initial_state(), JobState::suspended);
  const auto start = detail::worker_transition(WorkerEvent::start);
  EXPECT_EQ(start.from, state_bit(JobState::queued));
  EXPECT_EQ(start.to, JobState::connecting);
  const auto retry = detail::worker_transition(WorkerEvent::retry_due);
  EXPECT_EQ(retry.from, state_bit(JobState::transient_error));
  EXPECT_EQ(retry.to, JobState::queued);
  const auto expiry = detail::worker_transition(WorkerEvent::no_progress_expired);
  EXPECT_EQ(expiry.from, state_bit(JobState::transient_error));
  EXPECT_EQ(expiry.to, JobState::error);
  const auto interrupted = detail::worker_transition(WorkerEvent::interrupted);
  EXPECT_EQ(interrupted.from, state_bit(JobState::connecting) | state_bit(JobState::transferring));
  EXPECT_EQ(interrupted.to, JobState::queued);
  EXPECT_FALSE(interrupted.to_back);  // a shutdown is not the job's turn ending: it keeps its place
  EXPECT_TRUE(retry.to_back);         // behind the jobs that waited while it failed
  // Scheduling (worker/scheduler.h): a running job gives its slot back.
  const auto preempted = detail::worker_transition(WorkerEvent::preempted);
  EXPECT_EQ(preempted.from, state_bit(JobState::connecting) | state_bit(JobState::transferring));
  EXPECT_EQ(preempted.to, JobState::queued);
  EXPECT_FALSE(preempted.to_back);  // resumes first among its priority once the better job is done
  const auto slice = detail::worker_transition(WorkerEvent::slice_over);
  EXPECT_EQ(slice.from, state_bit(JobState::connecting) | state_bit(JobState::transferring));
  EXPECT_EQ(slice.to, JobState::queued);
  EXPECT_TRUE(slice.to_back);  // round robin: behind every job of its priority
  // on_worker_event agrees with worker_transition for every state and event.
  for (int e = 0; e <= static_cast<int>(WorkerEvent::slice_over); ++e) {
    const auto t = detail::worker_transition(static_cast<WorkerEvent>(e));
    for (int s = 0; s < 9; ++s) {
      const auto next = detail::on_worker_event(static_cast<JobState>(s), static_cast<WorkerEvent>(e));
      EXPECT_EQ(next.has_value(), (t.from & (1u << s)) != 0);
      if (next) {
        EXPECT_EQ(*next, t.to);
      }
    }
  }
}

// ---- End to end ---------------------------------------------------------------

class Oracle : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = test_options(true);
    o.max_concurrent_transfers = 1;  // a running "blocker" job keeps QUEUED jobs queued
    queue_ = open_queue(dir_ / "queue.db", o);
    ASSERT_TRUE(queue_);
    Resource small = body_resource(make_body(1000, 7));
    server_.set("/small", small);
    Resource stall = body_resource(make_body(100000, 8));
    stall.stall_after_bytes = 4096;
    server_.set("/stall", stall);
    Resource stall0 = body_resource(make_body(100000, 9));
    stall0.stall_after_bytes = 0;
    server_.set("/stall0", stall0);
    Resource missing;
    missing.status = 404;
    server_.set("/missing", missing);
    Resource unavailable;
    unavailable.status = 503;
    server_.set("/unavailable", unavailable);
  }

  Job new_job(const std::vector<std::string>& paths) {
    auto job = queue_->create_job("oracle");
    EXPECT_TRUE(job.ok());
    int i = 0;
    for (const auto& p : paths) {
      const std::string local = dir_ / ("f" + std::to_string(counter_) + "-" + std::to_string(i++));
      EXPECT_FALSE(job->add_file(server_.url(p), local)) << p;
    }
    ++counter_;
    job->set_minimum_retry_delay(std::chrono::seconds(600));
    return *job;
  }

  // Occupies the worker's only slot so that a resumed job stays QUEUED.
  void block_worker() {
    if (blocker_) return;
    blocker_ = new_job({"/stall"});
    blocker_->set_priority(JobPriority::foreground);
    ASSERT_FALSE(blocker_->resume());
    ASSERT_TRUE(wait_state(*blocker_, JobState::transferring)) << state_name(*blocker_);
  }

  // A job in `s`; with `done_file`, its first file is finished and the
  // second is not.
  Job job_in(JobState s, bool done_file) {
    auto two = [&](const std::string& second) {
      return done_file ? std::vector<std::string>{"/small", second} : std::vector<std::string>{second};
    };
    Job j;
    switch (s) {
      case JobState::suspended:
      case JobState::queued:
        if (done_file) {
          j = new_job(two("/stall"));
          EXPECT_FALSE(j.resume());
          EXPECT_TRUE(wait_for([&] { return j.progress().ok() && j.progress()->files_transferred == 1; }));
          EXPECT_TRUE(wait_state(j, JobState::transferring));
          EXPECT_FALSE(j.suspend());
        } else {
          j = new_job({"/small"});
        }
        if (s == JobState::queued) {
          block_worker();
          EXPECT_FALSE(j.resume());
        }
        break;
      case JobState::connecting:
        if (done_file) {
          // A path of its own: it is re-pointed below.
          const std::string path = "/flip" + std::to_string(counter_);
          Resource unavailable;
          unavailable.status = 503;
          server_.set(path, unavailable);
          j = new_job(two(path));
          EXPECT_FALSE(j.resume());
          EXPECT_TRUE(wait_state(j, JobState::transient_error)) << state_name(j);
          // Re-point file 2 at a server that never sends a byte.
          Resource stall0 = body_resource(make_body(1000, 3));
          stall0.stall_after_bytes = 0;
          server_.set(path, stall0);
          EXPECT_FALSE(j.resume());
        } else {
          j = new_job({"/stall0"});
          EXPECT_FALSE(j.resume());
        }
        EXPECT_TRUE(wait_state(j, JobState::connecting)) << state_name(j);
        break;
      case JobState::transferring:
        j = new_job(two("/stall"));
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_for([&] {
          return j.progress().ok() && j.progress()->files_transferred == (done_file ? 1u : 0u) &&
                 j.state().ok() && *j.state() == JobState::transferring;
        })) << state_name(j);
        break;
      case JobState::error:
        j = new_job(two("/missing"));
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_state(j, JobState::error)) << state_name(j);
        break;
      case JobState::transient_error:
        j = new_job(two("/unavailable"));
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_state(j, JobState::transient_error)) << state_name(j);
        break;
      case JobState::transferred:
      case JobState::acknowledged:
      case JobState::cancelled:
        j = new_job({"/small"});
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_state(j, JobState::transferred)) << state_name(j);
        if (s == JobState::acknowledged) {
          EXPECT_FALSE(j.complete());
        } else if (s == JobState::cancelled) {
          EXPECT_FALSE(j.cancel());
        }
        break;
    }
    // States the worker would move on from are held by a busy worker.
    if (s != JobState::connecting && s != JobState::transferring) block_worker();
    EXPECT_EQ(state_name(j), std::string(to_string(s)));
    return j;
  }

  ScratchDir dir_;
  FixtureServer server_;
  std::unique_ptr<Queue> queue_;
  std::optional<Job> blocker_;
  int counter_ = 0;
};

TEST_F(Oracle, EveryRowEndToEnd) {
  int checked = 0;
  for (const auto& r : load_oracle()) {
    SCOPED_TRACE(r.state + "," + r.call);
    const JobState from = parse(r.state);
    const bool some_done = r.call == "complete_some_files_done";
    Job j = r.call == "resume_no_files" ? *queue_->create_job("empty") : job_in(from, some_done);
    std::error_code ec;
    CompleteStatus status = CompleteStatus::all_files;
    bool is_complete = false;
    if (r.call == "suspend") {
      ec = j.suspend();
    }
    else if (r.call == "resume" || r.call == "resume_no_files") ec = j.resume();
    else if (r.call == "cancel") ec = j.cancel();
    else if (r.call == "complete" || some_done) { ec = j.complete(&status); is_complete = true; }
    else if (r.call == "set_priority") ec = j.set_priority(JobPriority::high);
    else if (r.call == "set_display_name") ec = j.set_display_name("renamed");
    else if (r.call == "set_description") ec = j.set_description("described");
    else if (r.call == "set_minimum_retry_delay") ec = j.set_minimum_retry_delay(std::chrono::seconds(900));
    else if (r.call == "set_no_progress_timeout") ec = j.set_no_progress_timeout(std::chrono::seconds(1000));
    else if (r.call == "add_file") ec = j.add_file(server_.url("/small"), dir_ / ("extra" + std::to_string(checked)));
    else ADD_FAILURE() << "unknown call " << r.call;
    EXPECT_EQ(hresult_name(result_code(ec, status, is_complete)), r.result);
    EXPECT_EQ(state_name(j), r.state_after);
    if (some_done && !ec) {
      // The finished file is at its final path, the unfinished one nowhere.
      auto files = j.files();
      ASSERT_TRUE(files.ok());
      EXPECT_TRUE(exists((*files)[0].local_path));
      EXPECT_FALSE(exists((*files)[1].local_path));
    }
    if (r.result == "DO_E_INVALID_STATE" && r.call.rfind("set_", 0) == 0) {
      auto info = j.info();
      ASSERT_TRUE(info.ok());
      EXPECT_NE(info->display_name, "renamed");
      EXPECT_NE(info->priority, JobPriority::high);
    }
    ++checked;
    // Keep the worker's single slot for the next row's own transfers.
    if (blocker_) {
      blocker_->cancel();
      blocker_.reset();
    }
    if (!is_final(*j.state())) j.cancel();
  }
  EXPECT_GE(checked, 80);
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

}  // namespace
}  // namespace xferq::testing
