// wake_socket.h — waking the worker of another process at once.
//
// The worker that holds a queue's lock listens on a Unix datagram socket next
// to the queue file ("<queue>-worker.sock", mode 0600). A process that commits
// a call which a running transfer must see (cancel, suspend, resume, complete,
// priority, add_file) sends it one datagram naming the job and the generation
// it committed; the worker reacts as to an in-process call. Nothing depends
// on the datagram arriving: without a listener (no worker, another user, a
// path too long for a socket) the worker still finds the change by polling
// Store::change_counter() every poll_interval.
//
// Thread safety: WakeListener is used by the worker thread only;
// send_wake() may be called from any thread.
#ifndef XFERQ_FS_WAKE_SOCKET_H_
#define XFERQ_FS_WAKE_SOCKET_H_

#include <cstdint>
#include <functional>
#include <string>

namespace xferq::detail {

// One wake-up: a job and what its call committed.
struct WakeMessage {
  std::string job_id;
  int64_t generation = 0;
  bool may_run = false;
};

// The socket path of a queue file.
std::string wake_socket_path(const std::string& queue_path);

// Sends one wake-up to whoever listens at `socket_path`, without blocking;
// failures are ignored (the poll is the fallback).
void send_wake(const std::string& socket_path, const WakeMessage& message);

// Parses a datagram; false if it is not one send_wake() wrote.
bool parse_wake(const char* data, size_t size, WakeMessage* out);

class WakeListener {
 public:
  WakeListener() = default;
  ~WakeListener() { close(); }
  WakeListener(const WakeListener&) = delete;
  WakeListener& operator=(const WakeListener&) = delete;

  // Binds `socket_path` (replacing a stale socket a dead worker left; the
  // caller holds the worker lock, so no live worker owns it). False if it
  // cannot (the poll then does the work).
  bool listen(const std::string& socket_path);
  // The descriptor to poll for input, or -1.
  int fd() const { return fd_; }
  // Reads every pending datagram without blocking.
  void drain(const std::function<void(const WakeMessage&)>& on_message);
  // Closes and removes the socket.
  void close();

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace xferq::detail

#endif  // XFERQ_FS_WAKE_SOCKET_H_
