// commit_group.cc — the leader election and hand-over of commit_group.h.
#include "storage/commit_group.h"

#include <algorithm>
#include <exception>

namespace xferq::detail {

std::error_code CommitGroup::join(const std::function<std::error_code()>& body, const Run& run) {
  Member self;
  self.body = &body;
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&self);
  cv_.wait(lock, [&] { return self.answered || queue_.front() == &self; });
  if (self.answered) return self.result;
  lock.unlock();
  return lead(self, run);
}

std::error_code CommitGroup::lead(Member& self, const Run& run) {
  // Take the connection first, then the members: whoever queued while this
  // thread waited for the connection (a worker's transaction, say) joins
  // this group instead of waiting for the next.
  std::lock_guard<std::mutex> connection(connection_mu_);
  Group group(*this);
  {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t first = std::min(queue_.size(), kMaxMembers);
    group.members_.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(first));
  }

  std::exception_ptr escaped;
  try {
    run(group);
  } catch (...) {
    // run() answers every member; if it cannot (out of memory, say), no
    // member may wait forever, nor take a commit for granted.
    escaped = std::current_exception();
    for (Member* m : group.members_) m->result = std::make_error_code(std::errc::not_enough_memory);
  }

  {
    std::lock_guard<std::mutex> lock(mu_);
    // The members are still the first n of the queue: only the leader pops,
    // and writers only push at the back.
    const size_t n = group.members_.size();
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    for (Member* m : group.members_) m->answered = true;
    stats_.members += static_cast<int64_t>(n);
    stats_.groups += 1;
    stats_.largest = std::max<int64_t>(stats_.largest, static_cast<int64_t>(n));
    cv_.notify_all();  // the answered members, and the next leader
  }
  if (escaped) std::rethrow_exception(escaped);
  return self.result;
}

size_t CommitGroup::Group::take_late(std::vector<Member*>* to) {
  std::lock_guard<std::mutex> lock(owner_.mu_);
  // The group is the front of the queue; whoever stands behind it came later.
  const size_t end = std::min(owner_.queue_.size(), kMaxMembers);
  const size_t added = end > members_.size() ? end - members_.size() : 0;
  for (size_t i = members_.size(); i < end; ++i) {
    members_.push_back(owner_.queue_[i]);
    to->push_back(owner_.queue_[i]);
  }
  return added;
}

CommitGroup::Stats CommitGroup::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t CommitGroup::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace xferq::detail
