// state_machine.h — the BITS job state machine as a pure table.
//
// Nothing here touches the database: the store asks decide() what a call does
// to a job in a given state and applies the answer in its transaction, and it
// derives the WHERE clause of its conditional UPDATEs from allowed_from().
// Cells that shared/reference/transitions.csv leaves open are defined here
// (and tested): suspend is a no-op on ERROR and TRANSFERRED (they are "not
// running" already), resume is a no-op on TRANSFERRED, add_file on
// TRANSFERRED sends the job back to SUSPENDED (it no longer has all files).
// Upload jobs (facts.upload) accept complete() in TRANSFERRED only.
#ifndef XFERQ_STATE_MACHINE_H_
#define XFERQ_STATE_MACHINE_H_

#include <cstdint>
#include <optional>
#include <system_error>

#include "xferq/types.h"

namespace xferq::detail {

// What an application asks of a job.
enum class Call { suspend, resume, cancel, complete, set_property, add_file };

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
};

Decision decide(JobState current, Call call, const FileFacts& facts);

// Bit (1 << state) is set for every state in which `call` is accepted (before
// file facts are considered). Used as `((1 << state) & ?) != 0` in SQL.
uint32_t allowed_from(Call call);

// What the worker reports about a job it runs.
enum class WorkerEvent {
  start,                // picked from the queue
  connected,            // the server answered
  all_files_done,       // the last file's last byte is on disk
  transient_error,      // retry later
  fatal_error,          // needs the application
  no_progress_expired,  // transient errors for longer than the no-progress timeout
  retry_due,            // the minimum retry delay has passed
  interrupted,          // the worker stopped (shutdown, crash recovery, restart from zero)
};

// The state after the event, or nullopt if the event cannot happen in `current`
// (the job moved on: the worker's view is stale and it must drop the job).
std::optional<JobState> on_worker_event(JobState current, WorkerEvent event);

constexpr uint32_t state_bit(JobState s) { return 1u << static_cast<int>(s); }

}  // namespace xferq::detail

#endif  // XFERQ_STATE_MACHINE_H_
