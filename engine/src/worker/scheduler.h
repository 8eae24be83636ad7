// scheduler.h — the scheduling policy, as a pure function: when every
// transfer slot is busy, which running jobs give their slot back so that the
// jobs waiting in QUEUED get their turn.
//
// Two rules, in this order (docs/bits-behaviour.md, "Scheduling"):
// 1. preemption: a waiting job of a better priority (FOREGROUND over HIGH
//    over NORMAL over LOW) takes the slot of the running job of the worst
//    priority strictly worse than its own; among equals, the one that has
//    held its slot longest. Never for an equal or worse priority.
// 2. time slices (BITS's round robin): a waiting job takes the slot of a
//    running job of its own priority that has held it for a whole time slice
//    or longer (the longest first). A slice of zero turns this off.
// Each waiting job takes at most one slot, best priority first; free slots
// go to the best waiting jobs first (claim_next's order), so they preempt
// nobody.
//
// The loop (worker.cc) asks only when all slots are busy and something may
// have changed (a job became runnable, a priority changed, a slice ended),
// carries out the answer (JobDriver::give_slot_back) and claims the freed
// slots in the same turn. The state changes themselves are the table's
// (WorkerEvent::preempted, WorkerEvent::slice_over in state_machine.h).
//
// Thread safety: pure function over its arguments; safe from any thread.
#ifndef XFERQ_WORKER_SCHEDULER_H_
#define XFERQ_WORKER_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "state_machine.h"
#include "xferq/types.h"

namespace xferq::detail {

// A job that holds a transfer slot.
struct RunningSlot {
  std::string job_id;
  JobPriority priority = JobPriority::normal;
  std::chrono::steady_clock::time_point since;  // when it got the slot (its slice began)
};

// A running job that gives its slot back, and why (preempted or slice_over).
struct SlotYield {
  std::string job_id;
  WorkerEvent event = WorkerEvent::preempted;
};

struct SlotPlan {
  std::vector<SlotYield> yields;
  // The earliest time a job that keeps running reaches the end of its slice
  // (ask again then); nullopt: no slice will end (slices off, or none
  // running). A slice that has ended with no job of its priority waiting is
  // not counted: a job that becomes runnable asks again by itself.
  std::optional<std::chrono::steady_clock::time_point> next_slice_end;
};

// `running`: the jobs holding slots; `queued`: how many jobs wait at each
// priority (indexed by JobPriority's value); `slots`: how many slots there
// are for them (running.size() or more); `time_slice`: zero for none.
SlotPlan plan_slots(const std::vector<RunningSlot>& running, const int64_t (&queued)[4], int slots,
                    std::chrono::milliseconds time_slice, std::chrono::steady_clock::time_point now);

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_SCHEDULER_H_
