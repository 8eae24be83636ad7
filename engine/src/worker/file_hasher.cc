// file_hasher.cc — see file_hasher.h.
#include "worker/file_hasher.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "worker/content_hasher.h"

namespace xferq::detail {
namespace {
// Bytes read back and hashed per step: large enough that the pool's hand-off
// costs nothing beside the hashing, small enough that an abandoned task
// stops at once (a few milliseconds at worst).
constexpr int64_t kChunk = 1 << 20;
}  // namespace

// Shared by the FileHasher and the pool's task. Invariants (under mu):
// hashed <= available; at most one task runs for a State (scheduled); the
// digests are touched only by that task, or by verdict() once none runs.
struct FileHasher::State {
  State(const FileIntegrity& expected, TempFile f) : digests(expected), file(std::move(f)) {}
  std::mutex mu;
  std::condition_variable idle;
  ContentHasher digests;
  TempFile file;
  int64_t available = 0;
  int64_t hashed = 0;
  bool scheduled = false;
  bool abandoned = false;
  std::error_code read_error;
};

FileHasher::FileHasher(HashPool& pool, const FileIntegrity& expected, TempFile file)
    : pool_(pool), state_(std::make_shared<State>(expected, std::move(file))) {}

FileHasher::~FileHasher() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->abandoned = true;
}

void FileHasher::advance(int64_t bytes) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->available = std::max(state_->available, bytes);
  if (state_->available - state_->hashed >= kChunk) schedule_locked();
}

void FileHasher::schedule_locked() {
  if (state_->scheduled || state_->read_error) return;
  state_->scheduled = true;
  std::shared_ptr<State> state = state_;
  pool_.post([state] { hash_some(state); });
}

FileHasher::Verdict FileHasher::verdict(int64_t total) {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->available = std::max(state_->available, total);
  if (state_->hashed < state_->available) schedule_locked();
  state_->idle.wait(lock, [&] { return !state_->scheduled; });
  if (state_->read_error) return Verdict{state_->read_error, ""};
  return Verdict{{}, state_->digests.mismatch()};
}

void FileHasher::hash_some(const std::shared_ptr<State>& state) {
  std::vector<char> buffer(static_cast<size_t>(kChunk));
  std::unique_lock<std::mutex> lock(state->mu);
  while (!state->abandoned && state->hashed < state->available) {
    const int64_t at = state->hashed;
    const size_t want = static_cast<size_t>(std::min(kChunk, state->available - at));
    lock.unlock();
    size_t got = 0;
    std::error_code ec = state->file.read_at(buffer.data(), want, at, &got);
    if (!ec && got == 0) ec = std::make_error_code(std::errc::io_error);  // shorter than written: not our file
    if (!ec) state->digests.update(buffer.data(), got);
    lock.lock();
    if (ec) {
      state->read_error = ec;
      break;
    }
    state->hashed += static_cast<int64_t>(got);
  }
  state->scheduled = false;
  state->idle.notify_all();
}

}  // namespace xferq::detail
