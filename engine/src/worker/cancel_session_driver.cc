// cancel_session_driver.cc — see cancel_session_driver.h.
#include "worker/cancel_session_driver.h"

#include "clock.h"
#include "worker/bits_packets.h"

namespace xferq::detail {

void CancelSessionDriver::start() {
  request_ = std::make_unique<CurlRequest>(loop_.options(), this);
  request_->set_url(op_.url);
  make_bits_packet(*request_, "Cancel-Session", op_.session_id, body_);
  loop_.add_request(*request_);
}

void CancelSessionDriver::done(CurlRequest& r, CURLcode code) {
  const long status = r.status();
  const uint32_t hresult = ack_error_code(r);
  const std::string why = code != CURLE_OK ? r.error_text(code) : "HTTP " + std::to_string(status);
  stop(false);
  end_ = DriverEnd::done;
  // Done: the server deleted the partial upload, or never had (or no longer
  // has) the session. [MC-BUP]: never resend on 1xx-4xx either.
  const bool confirmed = code == CURLE_OK && (status == 200 || hresult == kSessionNotFound);
  const bool refused = code == CURLE_OK && status < 500 && status != 408 && status != 409;
  if (confirmed || refused) {
    loop_.store().retire_op(op_.id);
    return;
  }
  loop_.store().note_op_failure(op_.id, "Cancel-Session: " + why);
  retry_at_ = Steady::now() + loop_.options().cancel_session_retry_interval;
}

void CancelSessionDriver::stop(bool) {
  if (request_) loop_.remove_request(*request_);
  request_.reset();
  if (end_ == DriverEnd::running) end_ = DriverEnd::done;
}

void CancelSessions::run_due() {
  const auto now = Steady::now();
  // At most one look per poll interval for changes: a storm of cancels
  // (the cancel benchmark) costs one outbox read per interval, not per call.
  if ((scan_due_ && now - last_scan_ >= loop_.options().poll_interval) || now >= next_scan_) scan();
}

void CancelSessions::scan() {
  const auto& opt = loop_.options();
  scan_due_ = false;
  const auto now = Steady::now();
  last_scan_ = now;
  next_scan_ = now + opt.cancel_session_retry_interval;
  auto ops = loop_.store().pending_cancel_sessions();
  if (!ops) {
    loop_.store_failed(ops.error());
    return;
  }
  const int64_t budget_us =
      std::chrono::duration_cast<std::chrono::microseconds>(opt.cancel_session_retry_budget).count();
  for (FileOp& op : *ops) {
    if (in_flight_.count(op.id)) continue;
    if (auto it = not_before_.find(op.id); it != not_before_.end() && now < it->second) continue;
    if (now_us() - op.created_us > budget_us || op.url.empty() || op.session_id.empty()) {
      // The budget is spent: give up; the server expires the partial upload itself.
      loop_.store().retire_op(op.id);
      not_before_.erase(op.id);
      continue;
    }
    const int64_t id = op.id;
    auto driver = std::make_unique<CancelSessionDriver>(loop_, std::move(op));
    driver->start();
    in_flight_[id] = std::move(driver);
  }
}

void CancelSessions::reap() {
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second->end() == DriverEnd::running) {
      ++it;
      continue;
    }
    if (auto at = it->second->retry_at())
      not_before_[it->first] = *at;
    else
      not_before_.erase(it->first);
    it = in_flight_.erase(it);
  }
}

void CancelSessions::stop_all() {
  for (auto& kv : in_flight_) kv.second->stop(true);
  in_flight_.clear();
}

}  // namespace xferq::detail
