// upload_driver.cc — see upload_driver.h.
#include "worker/upload_driver.h"

#include <strings.h>

#include <algorithm>

#include "clock.h"
#include "fs/file_ops.h"
#include "job_events.h"
#include "validate.h"
#include "worker/bits_packets.h"
#include "xferq/error.h"

namespace xferq::detail {
namespace {

constexpr int kMaxSessionRestarts = 3;
constexpr int kMaxResyncs = 5;

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

UploadDriver::UploadDriver(TransferLoop& loop, Claim claim, std::optional<FileRow> file)
    : JobDriver(loop, std::move(claim), std::move(file)) {}

void UploadDriver::start() {
  if (!has_file_) return finish();
  auto credentials = loop_.store().credentials(claim_.job_id);
  if (!credentials) return applied(credentials.error()), void();
  credentials_ = std::move(*credentials);
  auto up = loop_.store().upload_job(claim_.job_id);
  if (!up) {
    applied(up.error());
    return;
  }
  up_ = *up;
  FileStamp source;
  if (stamp_file(file_.local_path, &source))
    return fail(Errc::file_not_found, ErrorContext::local_file,
                       "cannot read the file to upload " + file_.local_path, false);
  source_stamp_ = source;
  if (!up_.session_id.empty() && file_.bytes_total >= 0 && file_.bytes_total != source.size) {
    // The server holds bytes of another version of the file (BITS:
    // BG_E_LOCAL_FILE_CHANGED, fatal). Splicing would upload neither version.
    return fail(Errc::validation_failed, ErrorContext::local_file,
                       "the file to upload changed during the upload: " + file_.local_path, false);
  }
  if (source.size == 0) {
    // Emptied since add_file() refused an empty file: the protocol cannot
    // send it (no Fragment covers zero bytes), and closing a session without
    // one would leave the server no file while the job claimed success.
    return fail(Errc::invalid_arg, ErrorContext::local_file,
                "the file to upload is empty; the BITS upload protocol cannot send an empty file: " +
                    file_.local_path,
                false);
  }
  file_.bytes_total = source.size;
  committed_ = file_.bytes_transferred;
  next_request();
}

void UploadDriver::next_request() {
  const int64_t size = file_.bytes_total;
  const int64_t acked = file_.bytes_transferred;
  if (up_.session_id.empty()) return send(Step::create_session);
  if (acked < size) {
    fragment_first_ = acked;
    return send(Step::fragment);
  }
  if (claim_.type == JobType::upload_reply && size > 0) {
    if (up_.reply_url.empty()) {
      // Everything is acknowledged but the Ack with the reply URL was lost
      // (a restart in between): send the last byte again; the server ignores
      // the overlap and acknowledges with the URL.
      fragment_first_ = size - 1;
      return send(Step::fragment);
    }
    return start_reply();
  }
  send(Step::close_session);
}

bool UploadDriver::reply_url_allowed(const std::string& url) {
  // The server names the reply's URL: it gets the rules of a redirect. Only
  // http(s) (a file: URL would read a local file), and an https upload's
  // reply never over plain http unless the job allows https -> http.
  const std::error_code ec = check_remote_url(url, loop_.options().allow_other_schemes);
  const bool downgrade = strncasecmp(file_.remote_url.c_str(), "https:", 6) == 0 &&
                         strncasecmp(url.c_str(), "https:", 6) != 0 &&
                         !(claim_.security_flags & kRedirectAllowHttpsToHttp);
  if (!ec && !downgrade) return true;
  const bool scheme = downgrade || ec == make_error_code(Errc::unsupported_scheme);
  fail(scheme ? Errc::unsupported_scheme : Errc::invalid_arg, ErrorContext::remote_application,
       "the server's BITS-Reply-URL is refused (" + redact_url(url) + "): " +
           (downgrade ? std::string("an https upload's reply over plain http") : ec.message()),
       false);
  return false;
}

void UploadDriver::start_reply() {
  // Checked again here: the URL may have been stored before these rules.
  if (!reply_url_allowed(up_.reply_url)) return;
  // The same guarded creation as a download's temp file, beside the reply's name.
  if (!open_temp_beside(up_.reply_target, "reply's temporary file")) return;
  // The reply is small and not resumed: every attempt fetches it whole.
  if (auto ec = temp_.truncate(0)) return fail_local(ec, "cannot truncate the reply's temporary file");
  reply_bytes_ = 0;
  send(Step::reply);
}

void UploadDriver::send(Step step) {
  end_request();
  request_ = std::make_unique<CurlRequest>(loop_.options(), this);
  CurlRequest& r = *request_;
  step_ = step;
  stale_ = false;
  // The reply may be on another origin: the server's credentials are the
  // upload's, and are sent there only if it is the same origin.
  prepare_request(r, step != Step::reply || same_origin(up_.reply_url, file_.remote_url));
  reply_error_.clear();
  body_.clear();
  if (step == Step::reply) {
    // An ordinary download from BITS-Reply-URL.
    r.set_url(up_.reply_url);
    r.follow_redirects(loop_.options().max_redirects, claim_.security_flags);
    r.add_header("Accept-Encoding: identity");
    return loop_.add_request(r);
  }
  r.set_url(file_.remote_url);
  switch (step) {
    case Step::create_session:
      make_bits_packet(r, "Create-Session", "", body_);
      break;
    case Step::fragment: {
      // The fragment's bytes, read now: the file is the application's and is
      // opened only for as long as a read takes.
      const int64_t len = std::min<int64_t>(std::max<int64_t>(loop_.options().upload_fragment_bytes, 1),
                                            file_.bytes_total - fragment_first_);
      if (std::error_code ec = read_range(file_.local_path, fragment_first_, len, &body_, &source_stamp_)) {
        if (ec == make_error_code(Errc::validation_failed)) {
          // Another version of the file (replaced, rewritten, grown or cut):
          // the server holds bytes of the first, so this upload cannot be
          // finished (BITS: BG_E_LOCAL_FILE_CHANGED, fatal).
          return fail(Errc::validation_failed, ErrorContext::local_file,
                      "the file to upload changed during the upload: " + file_.local_path, false);
        }
        return fail_local(ec, "cannot read the file to upload " + file_.local_path + ": " + ec.message());
      }
      make_bits_packet(r, "Fragment", up_.session_id, body_);
      const int64_t last = fragment_first_ + static_cast<int64_t>(body_.size()) - 1;
      r.add_header("Content-Range: bytes " + std::to_string(fragment_first_) + "-" + std::to_string(last) + "/" +
                   std::to_string(file_.bytes_total));
      if (fragment_first_ == 0) r.add_header("Content-Name: " + base_name(file_.local_path));
      break;
    }
    case Step::close_session:
      make_bits_packet(r, "Close-Session", up_.session_id, body_);
      break;
    case Step::reply:
      break;
  }
  loop_.add_request(r);
}

size_t UploadDriver::on_body(CurlRequest& r, const char* data, size_t n) {
  // Ack bodies carry nothing the client needs; so does an error page.
  if (step_ != Step::reply || r.status() != 200) return n;
  if (superseded()) {
    stale_ = true;
    return 0;
  }
  if (std::error_code ec = temp_.write_at(data, n, reply_bytes_)) {
    reply_error_ = ec;
    return 0;
  }
  reply_bytes_ += static_cast<int64_t>(n);
  return n;
}

void UploadDriver::done(CurlRequest& r, CURLcode code) {
  if (stale_) return drop();
  if (reply_error_) return fail_local(reply_error_, "cannot write the reply's temporary file: " + reply_error_.message());
  if (code != CURLE_OK) return fail(curl_failure(code, r, redact_url(file_.remote_url)));
  const long status = r.status();
  const bool ok = status == 200 || status == 201;
  if (ok && !commit_connected(true)) return;
  switch (step_) {
    case Step::create_session:
      return ok ? on_create_session_ack(r) : refused(r, "Create-Session");
    case Step::fragment:
      return on_fragment_ack(r);
    case Step::reply:
      return on_reply(r);
    case Step::close_session:
      return ok ? finish() : refused(r, "Close-Session");
  }
}

void UploadDriver::on_create_session_ack(CurlRequest& r) {
  const std::string session = r.header("bits-session-id");
  if (session.empty() || session.size() > 100)
    return fail(Errc::validation_failed, ErrorContext::remote_file,
                       "the server's Create-Session Ack has no usable BITS-Session-Id", false);
  if (!applied(loop_.store().set_upload_session(claim_, file_.idx, session, file_.bytes_total, now_us()))) return;
  up_.session_id = session;
  up_.reply_url.clear();
  file_.bytes_transferred = 0;
  committed_ = 0;
  next_request();
}

void UploadDriver::on_fragment_ack(CurlRequest& r) {
  const long status = r.status();
  if (status != 200 && status != 416) return refused(r, "Fragment");
  const std::string received = r.header("bits-received-content-range");
  int64_t next = 0;
  if (!parse_received(received, &next) || next > file_.bytes_total) {
    if (status == 416) return refused(r, "Fragment");
    return fail(Errc::validation_failed, ErrorContext::remote_file,
                       "the server's Fragment Ack has no usable BITS-Received-Content-Range ('" + received + "')",
                       true);
  }
  if (status == 416 && ++resyncs_ > kMaxResyncs) {
    return fail(to_hresult(http_error(416)), ErrorContext::remote_file, "client and server stay out of sync (416)",
                true);
  }
  if (status == 200) resyncs_ = 0;
  const std::string reply_url = r.header("bits-reply-url");
  if (claim_.type == JobType::upload_reply && next == file_.bytes_total && !reply_url.empty()) {
    // Committed before the count, so a restart that finds every byte
    // acknowledged also finds where the reply is.
    const std::string url = resolve_url(file_.remote_url, reply_url);
    if (!reply_url_allowed(url)) return;
    if (!applied(loop_.store().set_reply_url(claim_, url, now_us()))) return;
    up_.reply_url = url;
  }
  if (next != committed_) {
    file_.bytes_transferred = next;
    if (!applied(loop_.store().commit_progress(claim_, file_, now_us()))) return;
    committed_ = next;
    loop_.events().modified(claim_.job_id);
    loop_.progressed(claim_.job_id, false);
  }
  if (status == 200 && next == file_.bytes_total && claim_.type == JobType::upload_reply && up_.reply_url.empty())
    return fail(Errc::validation_failed, ErrorContext::remote_application,
                       "the server acknowledged the last fragment without a BITS-Reply-URL", false);
  next_request();
}

void UploadDriver::on_reply(CurlRequest& r) {
  const long status = r.status();
  if (status != 200) {
    return fail(http_failure(status, "for the reply " + up_.reply_url, Direction::upload));
  }
  if (auto ec = temp_.sync()) return fail_local(ec, "cannot flush the reply");
  temp_.close();
  send(Step::close_session);
}

void UploadDriver::refused(const CurlRequest& r, const std::string& packet) {
  const long status = r.status();
  const uint32_t code = ack_error_code(r);
  if (code == kSessionNotFound) {
    if (step_ == Step::close_session && file_.bytes_transferred == file_.bytes_total) {
      // The server has every byte and no session: it closed it already (our
      // Close-Session's Ack was lost before a restart). Nothing is missing.
      return finish();
    }
    if (++session_restarts_ <= kMaxSessionRestarts) {
      // [MC-BUP]: the session expired on the server; start a new one from 0.
      up_.session_id.clear();
      return send(Step::create_session);
    }
  }
  TransferFailure f;
  f.hresult = code ? code : to_hresult(http_error(static_cast<int>(status)));
  f.context = parse_hresult(r.header("bits-error-context")) == static_cast<uint32_t>(ErrorContext::remote_application)
                  ? ErrorContext::remote_application
                  : ErrorContext::remote_file;
  const std::string raw = r.header("bits-error-code").empty() ? r.header("bits-error") : r.header("bits-error-code");
  f.description = "the server answered HTTP " + std::to_string(status) + " to " + packet + " for " +
                  redact_url(file_.remote_url) + (code ? " (BITS-Error-Code " + raw + ")" : std::string());
  f.transient = transient_status(status, Direction::upload);
  if (status == 503 || status == 429) f.retry_after_s = parse_retry_after(r.header("retry-after"), now_us() / 1000000);
  fail(std::move(f));
}

void UploadDriver::finish() {
  release_io();
  if (finish_file()) drop();  // an upload has one file: there is never a next one
}

}  // namespace xferq::detail
