// job_driver.cc — see job_driver.h.
#include "worker/job_driver.h"

#include <strings.h>

#include <algorithm>

#include "clock.h"
#include "crash_points.h"
#include "fs/file_ops.h"
#include "job_events.h"
#include "worker/download_driver.h"
#include "worker/upload_driver.h"
#include "xferq/error.h"

namespace xferq::detail {

JobDriver::JobDriver(TransferLoop& loop, Claim claim, std::optional<FileRow> first)
    : loop_(loop), claim_(std::move(claim)), has_file_(first.has_value()) {
  if (first) file_ = std::move(*first);
  // Saturated: the default 90 days minus nothing fits, an absurd value must
  // not overflow the clock.
  const int64_t left_us = std::min<int64_t>(claim_.download_time_left_us, int64_t{1} << 50);
  deadline_ = std::chrono::steady_clock::now() + std::chrono::microseconds(left_us);
}

namespace {

// A custom header that carries a credential: like libcurl on a redirect to
// another host, such headers are not sent to another origin.
bool is_credential_header(const std::string& header) {
  const std::string name = header.substr(0, header.find(':'));
  return strcasecmp(name.c_str(), "Authorization") == 0 || strcasecmp(name.c_str(), "Cookie") == 0;
}

}  // namespace

void JobDriver::prepare_request(CurlRequest& r, bool server_credentials) const {
  for (const std::string& h : claim_.custom_headers)
    if (server_credentials || !is_credential_header(h)) r.add_header(h);
  if (server_credentials) {
    r.set_credentials(credentials_);
  } else {
    std::vector<Credential> proxy_only;
    for (const Credential& c : credentials_)
      if (c.target == AuthTarget::proxy) proxy_only.push_back(c);
    r.set_credentials(proxy_only);
  }
  r.set_proxy(claim_.proxy);
  r.set_tls(claim_.tls, loop_.options());
  r.set_throttle(&throttle_);  // paced by the job's share of the bandwidth
}

bool JobDriver::out_of_time() {
  if (end_ != DriverEnd::running || std::chrono::steady_clock::now() < deadline_) return false;
  fail(Errc::max_download_timeout, ErrorContext::general_queue_manager,
       "the job spent its maximum download time connecting and transferring", false);
  return true;
}

void JobDriver::end_request() {
  if (request_) loop_.remove_request(*request_);
  request_.reset();
}

void JobDriver::release_io() {
  end_request();
  temp_.close();
}

std::unique_ptr<JobDriver> make_job_driver(TransferLoop& loop, Claim claim, std::optional<FileRow> first) {
  if (claim.type == JobType::download) return std::make_unique<DownloadDriver>(loop, std::move(claim), std::move(first));
  return std::make_unique<UploadDriver>(loop, std::move(claim), std::move(first));
}

void JobDriver::stop(bool shutting_down) {
  if (shutting_down && end_ == DriverEnd::running) {
    keep_progress();
    release_io();
    loop_.store().release(claim_, now_us());
  } else {
    release_io();
  }
  if (end_ == DriverEnd::running) end_ = DriverEnd::dropped;
}

bool JobDriver::give_slot_back(WorkerEvent event) {
  if (end_ != DriverEnd::running) return true;
  // Bytes first, as a shutdown: the count committed is what the next claim
  // resumes from (with Range), so nothing that arrived is fetched twice
  // beyond what was not yet durable. The request keeps running meanwhile:
  // on_body only runs inside curl_multi_perform, never during this call.
  keep_progress();
  auto w = loop_.store().requeue_running(claim_, event, now_us());
  if (!w && loop_.store_failed(w.error())) return false;  // busy: keep the slot for now
  drop();
  // Stale: a call moved the job on first (cancel, suspend...); it owns the
  // job and its files, and the loop's reconcile would have stopped us anyway.
  if (w && *w == WriteOutcome::applied) loop_.events().modified(claim_.job_id);
  return true;
}

bool JobDriver::superseded() { return loop_.superseded(claim_.job_id, claim_.generation, &seen_change_); }

bool JobDriver::applied(const Result<WriteOutcome>& outcome) {
  if (outcome && *outcome == WriteOutcome::applied) return true;
  if (!outcome && loop_.store_failed(outcome.error())) {
    give_back();  // busy: the job goes back to the queue (if the store lets it)
    return false;
  }
  drop();
  return false;
}

bool JobDriver::commit_connected(bool notify) {
  if (connected_) return true;
  if (!applied(loop_.store().mark_connected(&claim_, now_us()))) return false;
  connected_ = true;
  if (notify) loop_.events().modified(claim_.job_id);
  return true;
}

void JobDriver::fail(TransferFailure failure) {
  keep_progress();
  release_io();
  if (!failure.file_index && has_file_ && file_.idx >= 0) failure.file_index = file_.idx;
  JobState after = JobState::transient_error;
  auto w = loop_.store().fail(claim_, failure, now_us(), &after);
  end_ = DriverEnd::failed;
  if (!w) loop_.store_failed(w.error());
  if (!w || *w != WriteOutcome::applied) return;
  loop_.events().modified(claim_.job_id);
  if (after == JobState::error) {
    JobErrorInfo e{failure.hresult, failure.context, failure.description,
                   failure.file_index ? std::optional<uint32_t>(static_cast<uint32_t>(*failure.file_index))
                                      : std::nullopt};
    loop_.events().error(claim_.job_id, e);
    loop_.job_ended(claim_.job_id, JobState::error);
  }
}

void JobDriver::fail(uint32_t hresult, ErrorContext context, std::string description, bool transient) {
  TransferFailure f;
  f.hresult = hresult;
  f.context = context;
  f.description = std::move(description);
  f.transient = transient;
  fail(std::move(f));
}

void JobDriver::fail_local(const std::error_code& ec, const std::string& what) {
  fail(to_hresult(ec), ErrorContext::local_file, what, false);
}

void JobDriver::drop() {
  release_io();
  end_ = DriverEnd::dropped;
}

void JobDriver::give_back() {
  loop_.store().release(claim_, now_us());
  drop();
}

void JobDriver::job_transferred() {
  release_io();
  end_ = DriverEnd::transferred;
  loop_.events().modified(claim_.job_id);
  loop_.progressed(claim_.job_id, true);
  loop_.events().transferred(claim_.job_id);
  loop_.job_ended(claim_.job_id, JobState::transferred);
}

bool JobDriver::finish_file() {
  FileRow row = file_;
  if (!has_file_) row.idx = -1;  // no file to finish: only the job
  if (has_file_ && row.bytes_total < 0) row.bytes_total = row.bytes_transferred;
  if (has_file_) crash_point("worker.before_file_finish");
  auto r = loop_.store().finish_file(&claim_, row, now_us());
  if (!r) return applied(r.error());
  if (*r == FileFinish::stale) {
    drop();
    return false;
  }
  if (has_file_) loop_.events().file_transferred(claim_.job_id, static_cast<uint32_t>(row.idx));
  if (*r == FileFinish::job_transferred) {
    job_transferred();
    return false;
  }
  auto next = loop_.store().next_file(claim_.job_id);
  if (!next) return applied(next.error());
  if (!*next) {
    drop();
    return false;
  }
  file_ = **next;
  loop_.events().modified(claim_.job_id);
  loop_.progressed(claim_.job_id, false);
  return true;
}

bool JobDriver::open_temp_beside(const std::string& target, const char* what) {
  const std::string path =
      file_.temp_path.empty() ? temp_path_for(target, claim_.job_id, file_.idx) : file_.temp_path;
  temp_ = open_temp_guarded(path, what);
  if (!temp_.is_open()) return false;
  file_.temp_path = path;
  return true;
}

TempFile JobDriver::open_temp_guarded(const std::string& path, const char* what) {
  Store& store = loop_.store();
  if (file_.temp_path.empty()) {
    auto recorded = store.record_temp_paths(claim_, {{file_.idx, path}});
    if (!recorded) {
      applied(recorded.error());
      return {};
    }
    if (*recorded == WriteOutcome::stale) {
      drop();
      return {};
    }
    crash_point("worker.after_temp_record");
  }
  TempFile file;
  std::error_code open_error;
  auto w = store.guard_temp_file(claim_, file_.idx, path, [&]() -> std::error_code {
    auto opened = TempFile::open_or_create(path);
    if (!opened) return open_error = opened.error();
    file = std::move(*opened);
    if (file.created()) crash_point("worker.after_temp_create");
    return {};
  });
  if (w && *w == WriteOutcome::applied) return file;
  file.close();  // stale, or the transaction failed after the open: the file stays ours
  if (w || !open_error) {
    // The job moved on, or the database failed (e.g. locked past the busy
    // timeout): let go; a failed database sends the job back to the queue.
    if (!w)
      applied(w.error());
    else
      drop();
    return {};
  }
  fail_local(open_error, std::string("cannot open the ") + what + " " + path + ": " + open_error.message());
  return {};
}

}  // namespace xferq::detail
