// commit_group.h — group commit: writers that arrive while a transaction is
// under way share the next one.
//
// Why: on the store's one connection, a Cancel is four short statements
// between a BEGIN IMMEDIATE and a COMMIT; the BEGIN and the COMMIT (the WAL
// append of every page touched, the wal-index update) cost as much as the
// statements. The raw statements on one thread, on this project's 2-core
// machine: one cancel per transaction ran at 0.63 of the benchmark's floor (a
// one-row UPDATE transaction), two per transaction at 1.05, eight at 2.0 —
// the outbox's page is appended once per commit, not once per cancel.
//
// What it bought, measured (bench/xferq_bench cancel, two interleaved runs of
// each build): with 8 threads cancelling, the deferred-delete cancel call's
// p99 / p99.9 went from 12.9–15.4 / 37.7–38.3 ms to 2.6–4.6 / 6.7–9.3 ms — a
// caller waits for one shared commit, not for seven queued ones. Calls per
// second stayed within the noise: on two cores, waking a member costs about
// what its share of the commit saves. Followers that spin instead of sleeping,
// and a leader that waits a moment for the last group's members, were tried
// and lost throughput (they take the core the leader needs); not kept.
//
// How (the pattern of LevelDB's DBImpl::Write): a writer joins a FIFO of
// members and waits. The member at the front is the leader: it takes the
// connection's mutex, then every member queued by then (up to kMaxMembers),
// runs them through `run` — one transaction, each member in its own
// savepoint, so each stays atomic and is answered on its own — and wakes them.
// The next member at the front leads the next group. A writer that finds no
// one ahead leads a group of one at once: no waiting when there is no
// contention.
//
// Late members: before it commits, `run` takes the writers that queued while
// its statements ran (Group::take_late). Without that, two threads that
// cancel in turn never share a commit: each arrives while the other's
// transaction runs, waits for it, and then leads a group of one.
//
// Invariant relied on by run: every member handed over is answered (its
// result set) before run returns; members are never handed over twice.
//
// Thread safety: any thread. Lock order: the connection's mutex before mu_.
// Only the leader holds both, and only to take members (first and late ones)
// and to answer them.
#ifndef XFERQ_STORAGE_COMMIT_GROUP_H_
#define XFERQ_STORAGE_COMMIT_GROUP_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <vector>

namespace xferq::detail {

class CommitGroup {
 public:
  // One writer's part of a group: its transaction body and, once answered,
  // its result.
  struct Member {
    const std::function<std::error_code()>* body = nullptr;
    std::error_code result;  // set by the leader's run, read once answered
    bool answered = false;   // under mu_
  };
  class Group;
  // Runs the group's members (at least one) on the connection, with its
  // mutex held, and sets every member's result, late members' included.
  using Run = std::function<void(Group& group)>;

  // The members a leader took, at the front of the queue.
  class Group {
   public:
    const std::vector<Member*>& members() const { return members_; }
    // Appends to `to` (and to the group) the writers queued since the group
    // was taken, up to kMaxMembers in all; returns how many.
    size_t take_late(std::vector<Member*>* to);

   private:
    friend class CommitGroup;
    explicit Group(CommitGroup& owner) : owner_(owner) {}
    CommitGroup& owner_;
    std::vector<Member*> members_;
  };

  // What the groups have done so far: members answered and groups run.
  struct Stats {
    int64_t members = 0;
    int64_t groups = 0;
    int64_t largest = 0;
  };

  static constexpr size_t kMaxMembers = 64;  // bounds one transaction, and its waiters' latency

  // `connection_mu` serializes the connection the groups run on; the leader
  // holds it while it runs a group.
  explicit CommitGroup(std::mutex& connection_mu) : connection_mu_(connection_mu) {}
  CommitGroup(const CommitGroup&) = delete;
  CommitGroup& operator=(const CommitGroup&) = delete;

  // Runs `body` in a group — led by this thread or another — and returns its
  // result once that group has committed or rolled back. `body` runs on the
  // leader's thread, with the connection's mutex held.
  std::error_code join(const std::function<std::error_code()>& body, const Run& run);

  Stats stats() const;
  // Writers waiting now, the leader's included (for tests: a group forms).
  size_t waiting() const;

 private:
  std::error_code lead(Member& self, const Run& run);

  std::mutex& connection_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Member*> queue_;  // front: the leader or the next one
  Stats stats_;
};

}  // namespace xferq::detail

#endif  // XFERQ_STORAGE_COMMIT_GROUP_H_
