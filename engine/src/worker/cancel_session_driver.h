// cancel_session_driver.h — Cancel-Session packets for cancelled uploads.
//
// Cancel records, in its own transaction, a cancel-session row in the outbox
// when the upload had an open session (store.h, OpKind::cancel_session). The
// worker owes the server that packet so that it deletes the partial upload:
// CancelSessions scans the outbox (at start, after changes, and every
// cancel_session_retry_interval), sends one CancelSessionDriver per row, and
// retires the row when the server confirms (200 or BG_E_SESSION_NOT_FOUND),
// refuses for good (another 1xx-4xx but 408/409: [MC-BUP] says never resend),
// or when cancel_session_retry_budget has passed since the cancel.
//
// Thread safety: worker thread only.
#ifndef XFERQ_WORKER_CANCEL_SESSION_DRIVER_H_
#define XFERQ_WORKER_CANCEL_SESSION_DRIVER_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "worker/curl_request.h"
#include "worker/transfer_driver.h"

namespace xferq::detail {

// One Cancel-Session request for one outbox row.
class CancelSessionDriver final : public TransferDriver {
 public:
  using Steady = std::chrono::steady_clock;
  CancelSessionDriver(TransferLoop& loop, FileOp op) : loop_(loop), op_(std::move(op)) {}

  void start() override;
  size_t on_body(CurlRequest&, const char*, size_t n) override { return n; }
  void done(CurlRequest& request, CURLcode result) override;
  void stop(bool shutting_down) override;

  int64_t op_id() const { return op_.id; }
  // After done(): when to try again, if the row stays (a transient failure).
  std::optional<Steady::time_point> retry_at() const { return retry_at_; }

 private:
  TransferLoop& loop_;
  FileOp op_;
  std::unique_ptr<CurlRequest> request_;
  std::string body_;
  std::optional<Steady::time_point> retry_at_;
};

// The Cancel-Sessions the worker owes: which are in flight, which wait for a
// retry, and when the outbox is worth another look.
class CancelSessions {
 public:
  using Steady = std::chrono::steady_clock;
  explicit CancelSessions(TransferLoop& loop) : loop_(loop) {}

  // A change was seen: a cancel may have left a Cancel-Session to send.
  void note_change() { scan_due_ = true; }
  // Scans the outbox if a change was noted (at most once per poll interval)
  // or the retry interval passed, and starts what is due.
  void run_due();
  // Finished requests leave; their rows' retry times are kept.
  void reap();
  // Stops every request; unconfirmed rows stay in the outbox for the next worker.
  void stop_all();

 private:
  void scan();

  TransferLoop& loop_;
  std::map<int64_t, std::unique_ptr<CancelSessionDriver>> in_flight_;  // by op id
  std::map<int64_t, Steady::time_point> not_before_;                   // by op id
  Steady::time_point next_scan_{};
  Steady::time_point last_scan_{};
  bool scan_due_ = true;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_CANCEL_SESSION_DRIVER_H_
