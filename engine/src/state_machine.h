// state_machine.h — the BITS job state machine as a pure table.
//
// Nothing here touches the database. The table has two halves:
// - calls (what an application asks): decide() says what a call does to a job
//   in a given state; the store applies the answer in its transaction and
//   derives the WHERE clause of its conditional UPDATEs from allowed_from();
// - worker events (what the worker reports): worker_transition() says from
//   which states an event moves a job and to which state; the store builds its
//   worker statements (claims, retries due, no-progress expiry, recovery)
//   from it, so no state number is written anywhere else in the engine.
//
// Cells that the reference oracle (tests/data/transitions.csv) leaves open are
// defined here and tested in tests/state_machine_test.cc: suspend is a no-op
// on ERROR and TRANSFERRED (they are "not running" already), resume is a no-op
// on TRANSFERRED, add_file on TRANSFERRED sends the job back to SUSPENDED (it
// no longer has all files). Upload jobs accept complete() in TRANSFERRED
// only. docs/bits-behaviour.md explains the table in prose.
//
// Thread safety: pure functions over constant tables; safe from any thread.
#ifndef XFERQ_STATE_MACHINE_H_
#define XFERQ_STATE_MACHINE_H_

#include <cstdint>
#include <optional>
#include <system_error>

#include "xferq/types.h"

namespace xferq::detail {

// What an application asks of a job.
// invalidate_file: the application judged a transferred file invalid (BITS's
// IBackgroundCopyFile3::SetValidationState(FALSE)): the job goes to ERROR.
enum class Call { suspend, resume, cancel, complete, set_property, add_file, invalidate_file };

// Facts about the job's files that some calls depend on.
struct FileFacts {
  int64_t files_total = 0;
  int64_t files_completed = 0;
  // An UPLOAD or UPLOAD_REPLY job: Complete is valid in TRANSFERRED only
  // (the server committed the upload; there is no partial completion).
  bool upload = false;
};

struct Decision {
  std::error_code error;  // non-empty: refused, nothing changes
  JobState next = JobState::suspended;
  bool state_changes = false;  // next != current
  CompleteStatus complete_status = CompleteStatus::all_files;  // for Call::complete
  // Filled by the store once it applied the decision: the job's generation
  // after the call (0 if the call changed no state). The worker compares it
  // with its claim to know, without a read, whether its transfer is stale.
  int64_t generation = 0;
};

// What `call` does to a job in state `current`, given its files.
Decision decide(JobState current, Call call, const FileFacts& facts);

// Bit (1 << state) is set for every state in which `call` is accepted (before
// file facts are considered). Used as `((1 << state) & ?) != 0` in SQL.
uint32_t allowed_from(Call call);

// The state a call moves every job it accepts to, for the calls whose target
// does not depend on the state (cancel: CANCELLED, complete: ACKNOWLEDGED).
JobState call_target(Call call);

// The state of a new job (SUSPENDED, as BITS's CreateJob).
JobState initial_state();

// The final states (ACKNOWLEDGED, CANCELLED) as a bit mask: no call and no
// worker event leaves them.
uint32_t final_states();

// What the worker reports about a job it runs, or finds in the queue.
enum class WorkerEvent {
  start,                // picked from the queue
  connected,            // the server answered
  all_files_done,       // the last file's last byte is on disk
  transient_error,      // retry later
  fatal_error,          // needs the application
  no_progress_expired,  // transient errors for longer than the no-progress timeout
  retry_due,            // the minimum retry delay has passed
  interrupted,          // the worker let go (shutdown, crash recovery, database failure)
  // Scheduling (worker/scheduler.h): the loop takes a running job's slot
  // back. Appended so the earlier events keep their numbers.
  preempted,            // a job of better priority needed the slot
  slice_over,           // its time slice ended while a job of its priority waited
};

// One worker event's row of the table: the states it applies to (a bit mask),
// the state it leads to, and, for events that lead to QUEUED, where in its
// priority the job waits: `to_back` puts it behind every job of its priority
// queued so far (queued_seq = now: round robin); otherwise it keeps its place
// (queued_seq unchanged), so it runs again before jobs queued after it.
struct WorkerTransition {
  uint32_t from = 0;
  JobState to = JobState::queued;
  bool to_back = false;
};
WorkerTransition worker_transition(WorkerEvent event);

// The state after the event, or nullopt if the event cannot happen in `current`
// (the job moved on: the worker's view is stale and it must drop the job).
std::optional<JobState> on_worker_event(JobState current, WorkerEvent event);

constexpr uint32_t state_bit(JobState s) { return 1u << static_cast<int>(s); }

}  // namespace xferq::detail

#endif  // XFERQ_STATE_MACHINE_H_
