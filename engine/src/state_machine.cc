// state_machine.cc — the table behind decide() and worker_transition().
#include "state_machine.h"

#include "xferq/error.h"

namespace xferq::detail {
namespace {

using S = JobState;

constexpr uint32_t bits(std::initializer_list<S> states) {
  uint32_t m = 0;
  for (S s : states) m |= state_bit(s);
  return m;
}

bool in(uint32_t mask, S s) { return (mask & state_bit(s)) != 0; }

// One cell of the call table: a state to move to, or one of these.
constexpr int kRefuse = -1;  // DO_E_INVALID_STATE, nothing changes
constexpr int kKeep = -2;    // accepted, the state stays

constexpr int Q = static_cast<int>(S::queued), S_ = static_cast<int>(S::suspended), E = static_cast<int>(S::error),
              A = static_cast<int>(S::acknowledged), X = static_cast<int>(S::cancelled);
constexpr int R = kRefuse, K = kKeep;

constexpr int kStates = 9;

// Rows: the calls, in enum order. Columns: the states, by number — QUEUED,
// CONNECTING, TRANSFERRING, SUSPENDED, ERROR, TRANSIENT_ERROR, TRANSFERRED,
// ACKNOWLEDGED, CANCELLED. Rules that depend on the job's files (resume of a
// job without files, complete of an upload or of a partly done job) are
// applied by decide() on top of this table.
constexpr int kCallTable[][kStates] = {
    //               Q   C   T   S   E   TE  TD  A  X
    /* suspend  */ {S_, S_, S_, K, K, S_, K, R, R},
    /* resume   */ {K, K, K, Q, Q, Q, K, R, R},
    /* cancel   */ {X, X, X, X, X, X, X, R, R},
    /* complete */ {A, A, A, A, A, A, A, R, R},
    /* set_*    */ {K, K, K, K, K, K, K, R, R},
    /* add_file */ {K, K, K, K, K, K, S_, R, R},
    /* invalid  */ {E, E, E, E, E, E, E, R, R},
};

int cell(S current, Call call) { return kCallTable[static_cast<int>(call)][static_cast<int>(current)]; }

// Rows: the worker events, in enum order. The third column (to_back) says
// where a job that goes back to QUEUED waits in its priority:
// - retry_due: behind the jobs that waited while it failed;
// - interrupted: in its place (a shutdown or a crash is not the job's turn
//   ending; it runs first again);
// - preempted: in its place, so that when the better job ends the preempted
//   one resumes before jobs of its priority that never started (BITS leaves
//   this open; keeping the place keeps partial files few);
// - slice_over: behind every job of its priority (round robin).
constexpr WorkerTransition kWorkerTable[] = {
    /* start               */ {bits({S::queued}), S::connecting, false},
    /* connected           */ {bits({S::connecting, S::transferring}), S::transferring, false},
    /* all_files_done      */ {bits({S::connecting, S::transferring}), S::transferred, false},
    /* transient_error     */ {bits({S::connecting, S::transferring}), S::transient_error, false},
    /* fatal_error         */ {bits({S::connecting, S::transferring}), S::error, false},
    /* no_progress_expired */ {bits({S::transient_error}), S::error, false},
    /* retry_due           */ {bits({S::transient_error}), S::queued, true},
    /* interrupted         */ {bits({S::connecting, S::transferring}), S::queued, false},
    /* preempted           */ {bits({S::connecting, S::transferring}), S::queued, false},
    /* slice_over          */ {bits({S::connecting, S::transferring}), S::queued, true},
};

}  // namespace

uint32_t allowed_from(Call call) {
  uint32_t mask = 0;
  for (int s = 0; s < kStates; ++s)
    if (kCallTable[static_cast<int>(call)][s] != kRefuse) mask |= 1u << s;
  return mask;
}

JobState call_target(Call call) {
  // cancel and complete move every state they accept to one target.
  return static_cast<S>(cell(S::queued, call));
}

JobState initial_state() { return S::suspended; }

uint32_t final_states() { return bits({S::acknowledged, S::cancelled}); }

Decision decide(S current, Call call, const FileFacts& facts) {
  Decision d;
  d.next = current;
  const int to = cell(current, call);
  if (to == kRefuse) {
    d.error = make_error_code(Errc::invalid_state);
    return d;
  }
  if (to != kKeep) d.next = static_cast<S>(to);
  switch (call) {
    case Call::resume:
      if (d.next != current && facts.files_total == 0) {
        d.next = current;
        d.error = make_error_code(Errc::empty);
        return d;
      }
      break;
    case Call::complete:
      if (facts.upload && current != S::transferred) {
        // BITS: an upload cannot be completed partially; until the server has
        // the whole file (and, for upload-reply, the reply is here) only
        // cancel() ends the job.
        d.next = current;
        d.error = make_error_code(Errc::invalid_state);
        return d;
      }
      d.complete_status = (current == S::transferred || facts.files_completed == facts.files_total)
                              ? CompleteStatus::all_files
                              : CompleteStatus::partial;
      break;
    default:
      break;
  }
  d.state_changes = d.next != current;
  return d;
}

WorkerTransition worker_transition(WorkerEvent event) { return kWorkerTable[static_cast<int>(event)]; }

std::optional<JobState> on_worker_event(S current, WorkerEvent event) {
  const WorkerTransition t = worker_transition(event);
  if (!in(t.from, current)) return std::nullopt;
  return t.to;
}

}  // namespace xferq::detail
