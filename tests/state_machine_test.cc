// state_machine_test.cc — the reference's oracle (tests/data/transitions.csv,
// the BITS reference table, explained in docs/bits-behaviour.md) checked twice: against the pure
// table, and end to end against a real queue whose jobs are driven into each
// state by real transfers from the fixture server. Also the scheduling rules
// (worker/scheduler.h: who preempts whom, time slices) as a pure function;
// tests/scheduling_test.cc runs them with real transfers.
#include <fstream>
#include <map>
#include <sstream>

#include "oracle_end_to_end.h"
#include "state_machine.h"
#include "test_util.h"
#include "worker/scheduler.h"

namespace xferq::testing {
namespace {

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

// ---- End to end (oracle_end_to_end.h) -------------------------------------------

class Oracle : public OracleEndToEnd {};

TEST_F(Oracle, EveryRowEndToEnd) { every_row_end_to_end(); }

}  // namespace
}  // namespace xferq::testing
