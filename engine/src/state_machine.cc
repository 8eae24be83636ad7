// state_machine.cc — the table behind decide() and on_worker_event().
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

constexpr uint32_t kNonFinal = bits({S::queued, S::connecting, S::transferring, S::suspended,
                                     S::error, S::transient_error, S::transferred});
constexpr uint32_t kRunning = bits({S::queued, S::connecting, S::transferring});

bool in(uint32_t mask, S s) { return (mask & state_bit(s)) != 0; }

}  // namespace

uint32_t allowed_from(Call) {
  // Every call is accepted in every non-final state; what differs is its effect.
  return kNonFinal;
}

Decision decide(S current, Call call, const FileFacts& facts) {
  Decision d;
  d.next = current;
  if (!in(allowed_from(call), current)) {
    d.error = make_error_code(Errc::invalid_state);
    return d;
  }
  switch (call) {
    case Call::suspend:
      // ERROR and TRANSFERRED are not running already: suspend leaves them be.
      if (in(kRunning | state_bit(S::transient_error), current)) d.next = S::suspended;
      break;
    case Call::resume:
      if (in(bits({S::suspended, S::error, S::transient_error}), current)) {
        if (facts.files_total == 0) {
          d.error = make_error_code(Errc::empty);
          return d;
        }
        d.next = S::queued;
      }
      break;
    case Call::cancel:
      d.next = S::cancelled;
      break;
    case Call::complete:
      if (facts.upload && current != S::transferred) {
        // BITS: an upload cannot be completed partially; until the server has
        // the whole file (and, for upload-reply, the reply is here) only
        // cancel() ends the job.
        d.error = make_error_code(Errc::invalid_state);
        return d;
      }
      d.next = S::acknowledged;
      d.complete_status = (current == S::transferred || facts.files_completed == facts.files_total)
                              ? CompleteStatus::all_files
                              : CompleteStatus::partial;
      break;
    case Call::set_property:
      break;
    case Call::add_file:
      if (current == S::transferred) d.next = S::suspended;
      break;
  }
  d.state_changes = d.next != current;
  return d;
}

std::optional<JobState> on_worker_event(S current, WorkerEvent event) {
  const uint32_t active = bits({S::connecting, S::transferring});
  switch (event) {
    case WorkerEvent::start:
      if (current == S::queued) return S::connecting;
      break;
    case WorkerEvent::connected:
      if (in(active, current)) return S::transferring;
      break;
    case WorkerEvent::all_files_done:
      if (in(active, current)) return S::transferred;
      break;
    case WorkerEvent::transient_error:
      if (in(active, current)) return S::transient_error;
      break;
    case WorkerEvent::fatal_error:
      if (in(active, current)) return S::error;
      break;
    case WorkerEvent::no_progress_expired:
      if (in(active | state_bit(S::transient_error), current)) return S::error;
      break;
    case WorkerEvent::retry_due:
      if (current == S::transient_error) return S::queued;
      break;
    case WorkerEvent::interrupted:
      if (in(active, current)) return S::queued;
      break;
  }
  return std::nullopt;
}

}  // namespace xferq::detail
