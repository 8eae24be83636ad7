// scheduler.cc — the preemption and time-slice policy; see scheduler.h.
#include "worker/scheduler.h"

#include <algorithm>

namespace xferq::detail {
namespace {

int rank(JobPriority p) { return static_cast<int>(p); }  // smaller: more urgent

// The slot a waiting job of priority `p` may take, and why; -1 if none.
int pick_slot(const std::vector<RunningSlot>& running, const std::vector<bool>& gone, int p,
              std::chrono::milliseconds time_slice, std::chrono::steady_clock::time_point now, WorkerEvent* why) {
  // 1. Preemption: the worst priority strictly worse than p; the longest held among equals.
  int pick = -1;
  for (size_t i = 0; i < running.size(); ++i) {
    if (gone[i] || rank(running[i].priority) <= p) continue;
    if (pick < 0 || rank(running[i].priority) > rank(running[pick].priority) ||
        (running[i].priority == running[pick].priority && running[i].since < running[pick].since))
      pick = static_cast<int>(i);
  }
  if (pick >= 0) {
    *why = WorkerEvent::preempted;
    return pick;
  }
  // 2. Round robin: a job of priority p whose slice has ended; the longest held first.
  if (time_slice.count() <= 0) return -1;
  for (size_t i = 0; i < running.size(); ++i) {
    if (gone[i] || rank(running[i].priority) != p || now - running[i].since < time_slice) continue;
    if (pick < 0 || running[i].since < running[pick].since) pick = static_cast<int>(i);
  }
  if (pick >= 0) *why = WorkerEvent::slice_over;
  return pick;
}

}  // namespace

SlotPlan plan_slots(const std::vector<RunningSlot>& running, const int64_t (&queued)[4], int slots,
                    std::chrono::milliseconds time_slice, std::chrono::steady_clock::time_point now) {
  SlotPlan plan;
  int64_t waiting[4];
  std::copy(std::begin(queued), std::end(queued), waiting);
  // Free slots go to the best waiting jobs (claim_next takes them in
  // priority order): those jobs take no one's slot.
  int64_t free = std::max<int64_t>(0, slots - static_cast<int64_t>(running.size()));
  for (int p = 0; p < 4 && free > 0; ++p) {
    const int64_t take = std::min(free, waiting[p]);
    waiting[p] -= take;
    free -= take;
  }
  std::vector<bool> gone(running.size(), false);
  for (int p = 0; p < 4; ++p) {
    while (waiting[p] > 0) {
      WorkerEvent why = WorkerEvent::preempted;
      const int i = pick_slot(running, gone, p, time_slice, now, &why);
      // No slot for this priority: none for a worse one either (anything a
      // worse job could preempt or rotate, this one would have taken).
      if (i < 0) break;
      gone[i] = true;
      --waiting[p];
      plan.yields.push_back(SlotYield{running[i].job_id, why});
    }
  }
  if (time_slice.count() > 0) {
    for (size_t i = 0; i < running.size(); ++i) {
      const auto end = running[i].since + time_slice;
      if (gone[i] || end <= now) continue;
      if (!plan.next_slice_end || end < *plan.next_slice_end) plan.next_slice_end = end;
    }
  }
  return plan;
}

}  // namespace xferq::detail
