// download_driver.cc — see download_driver.h.
#include "worker/download_driver.h"

#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "clock.h"
#include "crash_points.h"
#include "fs/file_ops.h"
#include "job_events.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {
namespace {

// Epochs identify one incarnation of a transfer's temp file across all
// transfers, so that a flush result for an earlier one is never applied.
std::atomic<uint64_t> g_epoch{0};
uint64_t next_epoch() { return ++g_epoch; }

// Start writeback of what arrived every this many bytes, so that the
// fdatasync before a progress commit finds little left to do and does not
// stall the receive loop.
constexpr int64_t kWritebackChunk = 8 * 1024 * 1024;

// A file is fetched from zero at most this many times in one attempt.
constexpr int kMaxRestarts = 3;

// A response header's value as FileInfo shows it: valid UTF-8 without
// control characters (C0, DEL, C1: a lying server must not reach a terminal
// or break a JSON document), each offending or invalid byte a '?', cut at
// 1 KiB on a character boundary.
std::string shown_header(const std::string& value) {
  constexpr size_t kMax = 1024;
  std::string out;
  for (size_t i = 0; i < value.size();) {
    const auto b = static_cast<unsigned char>(value[i]);
    size_t len = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto c = i + k < value.size() ? static_cast<unsigned char>(value[i + k]) : 0;
      if ((c & 0xC0) != 0x80) {
        len = 0;
        break;
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      len = 0;
    const bool control = len > 0 && (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0));
    const size_t take = len == 0 || control ? 1 : len;
    if (out.size() + take > kMax) break;
    if (len == 0 || control)
      out += '?';
    else
      out.append(value, i, len);
    i += len == 0 ? 1 : len;
  }
  return out;
}
}  // namespace

DownloadDriver::DownloadDriver(TransferLoop& loop, Claim claim, std::optional<FileRow> first)
    : JobDriver(loop, std::move(claim), std::move(first)) {}

void DownloadDriver::start() {
  auto credentials = loop_.store().credentials(claim_.job_id);
  if (!credentials) return applied(credentials.error()), void();
  credentials_ = std::move(*credentials);
  if (!has_file_) {
    finish_file();  // nothing left to fetch (every file done): TRANSFERRED
    return;
  }
  start_file();
}

void DownloadDriver::keep_progress() {
  if (!temp_.is_open() || finishing_ || file_.bytes_transferred <= committed_) return;
  // Keep what arrived: it resumes the next attempt.
  if (temp_.sync()) return;
  auto w = loop_.store().commit_progress(claim_, file_, now_us());
  if (w && *w == WriteOutcome::applied) committed_ = file_.bytes_transferred;
}

void DownloadDriver::start_file() {
  if (claim_.max_download_size > 0) {
    auto files = loop_.store().job_files(claim_.job_id);
    if (!files) return applied(files.error()), void();
    other_files_bytes_ = 0;
    for (const FileRow& f : *files)
      if (f.completed && f.idx != file_.idx) other_files_bytes_ += f.bytes_transferred;
  }
  if (file_.temp_path.empty() && !record_temp_paths_ahead()) return;
  if (!open_temp_beside(file_.local_path, "temporary file")) return;
  // Trust the smaller of what the database claims and what the disk holds.
  const int64_t offset = std::min(temp_.size_at_open(), file_.bytes_transferred);
  if (temp_.size_at_open() != offset) {
    if (auto ec = temp_.truncate(offset)) return fail_local(ec, "cannot truncate the temporary file");
  }
  file_.bytes_transferred = offset;
  committed_ = offset;
  writeback_from_ = offset;
  if (!start_hasher(offset)) return;
  epoch_ = next_epoch();
  flushing_ = false;
  finishing_ = false;
  if (offset > 0 && offset == file_.bytes_total) {
    finish();  // every byte is already on disk (the final commit was lost): no request
    return;
  }
  if (offset == 0) {
    file_.etag.clear();
    file_.last_modified.clear();
  }
  remote_total_ = kSizeUnknown;
  eof_length_ = -1;
  if (ranged() && file_.bytes_total >= 0) {
    // A to-EOF range resolved by an earlier attempt: the rest of the sum.
    int64_t finite = 0;
    bool has_eof = false;
    for (const FileRange& r : file_.ranges) {
      if (r.length == kLengthToEof)
        has_eof = true;
      else
        finite += static_cast<int64_t>(r.length);
    }
    if (has_eof) eof_length_ = file_.bytes_total - finite;
  }
  issue_request();
}

int64_t DownloadDriver::range_length(size_t i) const {
  const FileRange& r = file_.ranges[i];
  return r.length == kLengthToEof ? eof_length_ : static_cast<int64_t>(r.length);
}

void DownloadDriver::locate(int64_t local, size_t* index, int64_t* within, int64_t* start) const {
  int64_t at = 0;
  for (size_t i = 0; i < file_.ranges.size(); ++i) {
    const int64_t len = range_length(i);
    if (len < 0 || local < at + len || i + 1 == file_.ranges.size()) {
      *index = i;
      *within = local - at;
      *start = at;
      return;
    }
    at += len;
  }
}

int64_t DownloadDriver::ranges_total() const {
  int64_t total = 0;
  for (size_t i = 0; i < file_.ranges.size(); ++i) {
    const int64_t len = range_length(i);
    if (len < 0) return kSizeUnknown;
    total += len;
  }
  return total;
}

void DownloadDriver::issue_request() {
  const int64_t offset = file_.bytes_transferred;
  request_ = std::make_unique<CurlRequest>(loop_.options(), this);
  CurlRequest& req = *request_;
  checked_ = false;
  pending_ = Pending::none;
  sent_validator_ = false;
  req.set_url(file_.remote_url);
  req.follow_redirects(loop_.options().max_redirects, claim_.security_flags);
  req.set_receive_buffer(loop_.options().receive_buffer_bytes);
  // Byte offsets must mean what they say: no content coding.
  req.add_header("Accept-Encoding: identity");
  prepare_request(req);
  if (ranged()) {
    int64_t within = 0, start = 0;
    locate(offset, &range_index_, &within, &start);
    const int64_t len = range_length(range_index_);
    const auto first = static_cast<int64_t>(file_.ranges[range_index_].offset);
    range_local_end_ = len < 0 ? -1 : start + len;
    requested_from_ = first + within;
    requested_last_ = len < 0 ? -1 : first + len - 1;
    req.set_range(requested_from_, requested_last_);
  } else {
    requested_from_ = offset;
    if (offset > 0) req.set_range_from(offset);
  }
  if (offset > 0) {
    const std::string& validator = !file_.etag.empty() ? file_.etag : file_.last_modified;
    if (!validator.empty()) req.add_header("If-Range: " + validator);
    sent_validator_ = !validator.empty();
  }
  loop_.add_request(req);
}

bool DownloadDriver::range_failure(Errc code, std::string why) {
  pending_ = Pending::range_error;
  pending_code_ = code;
  pending_reason_ = std::move(why) + " (" + redact_url(file_.remote_url) + ")";
  return false;
}

bool DownloadDriver::check_ranged(long status, const std::string& etag, const std::string& last_modified) {
  const std::string asked =
      "bytes " + std::to_string(requested_from_) + "-" + (requested_last_ < 0 ? "" : std::to_string(requested_last_));
  if (status == 416) return range_failure(Errc::invalid_range, "the server refused " + asked + " (416): outside the file");
  const bool etag_changed = !file_.etag.empty() && etag != file_.etag;
  const bool date_changed = file_.etag.empty() && !file_.last_modified.empty() && last_modified != file_.last_modified;
  if (status == 200) {
    // If-Range saw another entity: start over, as for any file. Otherwise
    // the server ignores Range, and only ranges make this file.
    if (sent_validator_ && (etag_changed || date_changed)) {
      pending_ = Pending::restart;
      pending_reason_ = "the file changed on the server (validators differ)";
      return false;
    }
    return range_failure(Errc::insufficient_range_support,
                         "the server sent the whole file (200) to a request for " + asked);
  }
  if (status != 206) {
    pending_ = Pending::http_error;
    pending_status_ = status;
    return false;
  }
  const std::string range = request_->header("content-range");
  int64_t first = -1, last = -1, total = kSizeUnknown;
  if (!parse_content_range(range, &first, &last, &total) || first != requested_from_)
    return range_failure(Errc::invalid_server_response, "206 with Content-Range '" + range + "' to a request for " + asked);
  if ((etag_changed && !etag.empty()) || (date_changed && !last_modified.empty()) ||
      (remote_total_ >= 0 && total >= 0 && total != remote_total_)) {
    pending_ = Pending::restart;
    pending_reason_ = "the file changed on the server (validators or size differ)";
    return false;
  }
  if (total >= 0) remote_total_ = total;
  if (requested_last_ >= 0) {
    if (last != requested_last_) {
      if (total >= 0 && requested_last_ >= total)
        return range_failure(Errc::invalid_range, asked + " asked, the file has " + std::to_string(total) + " bytes");
      return range_failure(Errc::invalid_server_response, "206 with Content-Range '" + range + "' to a request for " + asked);
    }
  } else {
    // To EOF: the server says where the file ends, and so the range's length.
    if (total >= 0 && last != total - 1)
      return range_failure(Errc::invalid_server_response, "206 with Content-Range '" + range + "' to a request for " + asked);
    const int64_t len = last + 1 - static_cast<int64_t>(file_.ranges[range_index_].offset);
    if (eof_length_ >= 0 && len != eof_length_) {
      pending_ = Pending::restart;
      pending_reason_ = "the file's size changed on the server";
      return false;
    }
    eof_length_ = len;
    range_local_end_ = file_.bytes_transferred + (last - first + 1);
  }
  file_.bytes_total = ranges_total();
  return true;
}

bool DownloadDriver::identity_coded() const {
  // Byte offsets and sizes only mean the file's bytes without a content
  // coding: a gzip body kept as the file would be the wrong file.
  const std::string coding = request_->header("content-encoding");
  return coding.empty() || strcasecmp(coding.c_str(), "identity") == 0;
}

bool DownloadDriver::over_size_limit(int64_t bytes) const {
  return claim_.max_download_size > 0 &&
         static_cast<uint64_t>(other_files_bytes_ + bytes) > claim_.max_download_size;
}

void DownloadDriver::note_response() {
  ResponseMeta m;
  m.http_status = static_cast<int>(request_->status());
  m.content_type = shown_header(request_->header("content-type"));
  m.content_disposition = shown_header(request_->header("content-disposition"));
  if ((claim_.security_flags & kRedirectPolicyMask) == kRedirectPolicyAllowReport)
    m.final_url = redact_url(request_->effective_url());
  response_due_ = std::move(m);
}

bool DownloadDriver::check_response() {
  checked_ = true;
  note_response();
  const long status = request_->status();
  const std::string etag = request_->header("etag");
  const std::string last_modified = request_->header("last-modified");
  if ((status == 200 || status == 206) && !identity_coded()) {
    pending_ = Pending::content_coded;
    return false;
  }
  if (ranged()) {
    if (!check_ranged(status, etag, last_modified)) return false;
  } else if (status == 206) {
    const std::string range = request_->header("content-range");
    int64_t first = -1, total = kSizeUnknown;
    if (!parse_content_range(range, &first, &total) || first != requested_from_) {
      pending_ = Pending::restart;
      pending_reason_ = "206 with Content-Range '" + range + "' for a request from byte " +
                        std::to_string(requested_from_);
      return false;
    }
    // A server that answers 206 although the entity changed (ignoring
    // If-Range) must not get its bytes spliced onto the old ones.
    const bool etag_changed = !file_.etag.empty() && !etag.empty() && etag != file_.etag;
    const bool date_changed = file_.etag.empty() && !file_.last_modified.empty() && !last_modified.empty() &&
                              last_modified != file_.last_modified;
    if (etag_changed || date_changed) {
      pending_ = Pending::restart;
      pending_reason_ = "the file changed on the server (validators differ)";
      return false;
    }
    // Without validators the size is the last guard: a file of another size
    // is another file (a new remote name, or a change on the server), and its
    // tail must not be spliced onto the bytes we have.
    if (file_.bytes_total >= 0 && total >= 0 && total != file_.bytes_total) {
      pending_ = Pending::restart;
      pending_reason_ = "the file's size changed on the server (" + std::to_string(file_.bytes_total) + " -> " +
                        std::to_string(total) + " bytes)";
      return false;
    }
    // "bytes F-L/*": the server does not know the total. The size announced
    // before stays, so that done() still holds the file to it; erased, any
    // short answer would pass for the whole file.
    if (total >= 0) file_.bytes_total = total;
  } else if (status == 200) {
    if (requested_from_ > 0 || file_.bytes_transferred > 0) {
      // The whole entity (Range ignored, or If-Range saw a change): start over
      // from zero. The loop commits the zero count before the old bytes go, so
      // the database never claims more than the disk holds.
      pending_ = Pending::restart;
      pending_reason_ = "the server sent the whole file to a Range request";
      return false;
    }
    const std::string length = request_->header("content-length");
    file_.bytes_total = length.empty() ? kSizeUnknown : std::strtoll(length.c_str(), nullptr, 10);
  } else {
    pending_ = Pending::http_error;
    pending_status_ = status;
    return false;
  }
  if (file_.bytes_total >= 0 && over_size_limit(file_.bytes_total)) {
    pending_ = Pending::too_large;  // announced: not one byte is written
    return false;
  }
  if (file_.expected.size >= 0 && file_.bytes_total >= 0 && file_.bytes_total != file_.expected.size) {
    pending_ = Pending::not_expected;
    pending_reason_ = "the server announced " + std::to_string(file_.bytes_total) + " bytes, the application expects " +
                      std::to_string(file_.expected.size);
    return false;
  }
  file_.etag = etag;
  file_.last_modified = last_modified;
  connect_due_ = !connected_;
  return true;
}

size_t DownloadDriver::on_body(CurlRequest&, const char* data, size_t n) {
  if (!checked_ && !check_response()) return 0;
  // A cancel (or suspend...) may arrive while libcurl keeps delivering data
  // from one curl_multi_perform(): stop within one buffer, not after it.
  if (superseded()) {
    pending_ = Pending::stale;
    return 0;
  }
  if (ranged() && range_local_end_ >= 0 && file_.bytes_transferred + static_cast<int64_t>(n) > range_local_end_) {
    range_failure(Errc::invalid_server_response, "the server sent more than the range asked for");
    return 0;
  }
  if (over_size_limit(file_.bytes_transferred + static_cast<int64_t>(n))) {
    pending_ = Pending::too_large;  // delivered more than announced, or announced nothing
    return 0;
  }
  if (file_.expected.size >= 0 && file_.bytes_transferred + static_cast<int64_t>(n) > file_.expected.size) {
    pending_ = Pending::not_expected;
    pending_reason_ = "the server sent more than the " + std::to_string(file_.expected.size) +
                      " bytes the application expects";
    return 0;
  }
  if (std::error_code ec = temp_.write_at(data, n, file_.bytes_transferred)) {
    pending_ = Pending::local_error;
    pending_error_ = ec;
    return 0;
  }
  file_.bytes_transferred += static_cast<int64_t>(n);
  if (hasher_) hasher_->advance(file_.bytes_transferred);
  if (file_.bytes_transferred - writeback_from_ >= kWritebackChunk) {
    temp_.start_writeback(writeback_from_, file_.bytes_transferred - writeback_from_);
    writeback_from_ = file_.bytes_transferred;
  }
  return n;
}

void DownloadDriver::on_turn() {
  if (end_ != DriverEnd::running || finishing_) return;
  if (connect_due_) {
    connect_due_ = false;
    if (!commit_connected(false)) return;
  }
  if (!commit_response()) return;
  if (out_of_time()) return;
  if (!temp_.is_open() || flushing_ || file_.bytes_transferred == committed_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_commit_ < loop_.options().progress_interval) return;
  auto shared = temp_.share();
  if (!shared) return;
  last_commit_ = now;
  flushing_ = true;
  loop_.flush(Flusher::Request{claim_.job_id, epoch_, std::move(*shared), file_.bytes_transferred, false});
}

void DownloadDriver::done(CurlRequest&, CURLcode code) {
  if (code == CURLE_OK && !checked_) check_response();  // an empty body
  if (connect_due_ && pending_ == Pending::none) {
    connect_due_ = false;
    if (!commit_connected(false)) return;
  }
  if (pending_ != Pending::stale && !commit_response()) return;
  if (pending_ != Pending::none) return act_on_pending();
  if (code != CURLE_OK) return fail(curl_failure(code, *request_, redact_url(file_.remote_url)));
  if (ranged()) {
    if (range_local_end_ < 0 || file_.bytes_transferred != range_local_end_) {
      return fail(Errc::validation_failed, ErrorContext::remote_file,
                  "the server ended range " + std::to_string(range_index_) + " early (" +
                      redact_url(file_.remote_url) + ")",
                  true);
    }
    if (range_index_ + 1 < file_.ranges.size()) {
      end_request();
      issue_request();  // the next range, into the same temp file
      return;
    }
    return finish();
  }
  if (file_.bytes_total >= 0 && file_.bytes_transferred != file_.bytes_total) {
    return fail(Errc::validation_failed, ErrorContext::remote_file,
                "the server sent " + std::to_string(file_.bytes_transferred) + " bytes but announced " +
                    std::to_string(file_.bytes_total),
                true);
  }
  finish();
}

bool DownloadDriver::commit_response() {
  if (!response_due_) return true;
  const ResponseMeta meta = std::move(*response_due_);
  response_due_.reset();
  return applied(loop_.store().record_response(claim_, file_.idx, meta));
}

void DownloadDriver::act_on_pending() {
  switch (pending_) {
    case Pending::stale:
      return drop();
    case Pending::restart:
      return restart_from_zero(pending_reason_);
    case Pending::http_error: {
      const long s = pending_status_;
      if (s == 416 && requested_from_ > 0) return restart_from_zero("the server refused the range (416)");
      if (s >= 300 && s < 400 && (claim_.security_flags & kRedirectPolicyMask) == kRedirectPolicyDisallow) {
        TransferFailure f = http_failure(s, "for " + redact_url(file_.remote_url) +
                                                " (a redirect, which the job's security flags disallow)",
                                         Direction::download);
        f.transient = false;
        return fail(std::move(f));
      }
      TransferFailure f = http_failure(s, "for " + redact_url(file_.remote_url), Direction::download);
      if (s == 503 || s == 429) f.retry_after_s = parse_retry_after(request_->header("retry-after"), now_us() / 1000000);
      return fail(std::move(f));
    }
    case Pending::content_coded:
      return fail(Errc::validation_failed, ErrorContext::remote_file,
                  "the server sent a body with Content-Encoding '" + request_->header("content-encoding") +
                      "' although xferq asked for identity: its bytes are not the file's (" +
                      redact_url(file_.remote_url) + ")",
                  false);
    case Pending::too_large:
      return fail(Errc::max_download_size_reached, ErrorContext::remote_file,
                  "the server announced or sent more than the job's maximum download size of " +
                      std::to_string(claim_.max_download_size) + " bytes (" + redact_url(file_.remote_url) + ")",
                  false);
    case Pending::not_expected:
      return reject_file(pending_reason_);
    case Pending::range_error:
      return fail(pending_code_, ErrorContext::remote_file, pending_reason_, false);
    case Pending::local_error:
      return fail_local(pending_error_, "cannot write the temporary file: " + pending_error_.message());
    case Pending::none:
      return;
  }
}

void DownloadDriver::finish() {
  end_request();
  if (!temp_.is_open()) return finish_flushed();
  // The final flush goes to the flusher; finish_flushed() continues when it
  // is done, and the event loop serves the other transfers meanwhile (the
  // hash pool hashes the last bytes meanwhile too).
  finishing_ = true;
  loop_.flush(Flusher::Request{claim_.job_id, epoch_, std::move(temp_), file_.bytes_transferred, true});
}

void DownloadDriver::finish_flushed() {
  if (!integrity_holds()) return;
  if (!finish_file()) return;
  restarts_ = 0;
  start_file();
}

void DownloadDriver::on_flushed(const Flusher::Result& r) {
  if (r.epoch != epoch_ || end_ != DriverEnd::running) return;  // an earlier incarnation's result
  if (!r.finishing) {
    flushing_ = false;
    if (r.error) return;
    // The bytes up to r.bytes are durable: the count may claim them.
    FileRow row = file_;
    row.bytes_transferred = r.bytes;
    auto w = loop_.store().commit_progress(claim_, row, now_us());
    if (!w && loop_.store_failed(w.error())) return;  // busy: the next flush commits it
    if (!w || *w == WriteOutcome::stale) return drop();
    committed_ = std::max(committed_, r.bytes);
    crash_point("worker.after_progress_commit");
    loop_.events().modified(claim_.job_id);
    loop_.progressed(claim_.job_id, false);
    return;
  }
  finishing_ = false;
  if (r.error) return fail_local(r.error, "cannot flush the temporary file");
  // Someone deleted the temp file (or its directory) behind our back: the
  // bytes have no name. Fetch the file again rather than claim it.
  if (r.unlinked) return restart_from_zero("the temporary file was deleted while it was written");
  finish_flushed();
}

FileRow DownloadDriver::zeroed() const {
  FileRow zero = file_;
  zero.bytes_transferred = 0;
  zero.etag.clear();
  zero.last_modified.clear();
  // A to-EOF range's length is the server's to say again.
  for (const FileRange& r : file_.ranges)
    if (r.length == kLengthToEof) zero.bytes_total = kSizeUnknown;
  return zero;
}

void DownloadDriver::restart_from_zero(const std::string& why) {
  if (++restarts_ > kMaxRestarts) {
    return fail(Errc::validation_failed, ErrorContext::remote_file, "gave up restarting from zero: " + why, true);
  }
  end_request();
  // First make the database claim zero bytes, then drop the old bytes
  // (start_file truncates to the smaller count).
  const FileRow zero = zeroed();
  if (!applied(loop_.store().commit_progress(claim_, zero, now_us()))) return;
  temp_.close();
  file_ = zero;
  start_file();  // reopens the temp file and truncates it to zero
}

bool DownloadDriver::record_temp_paths_ahead() {
  auto files = loop_.store().job_files(claim_.job_id);
  if (!files) {
    applied(files.error());
    return false;
  }
  std::vector<Store::TempPathRow> rows{{file_.idx, temp_path_for(file_.local_path, claim_.job_id, file_.idx)}};
  for (const FileRow& f : *files)
    if (f.idx > file_.idx && !f.completed && f.temp_path.empty())
      rows.emplace_back(f.idx, temp_path_for(f.local_path, claim_.job_id, f.idx));
  auto recorded = loop_.store().record_temp_paths(claim_, rows);
  if (!recorded) {
    applied(recorded.error());
    return false;
  }
  if (*recorded == WriteOutcome::stale) {
    drop();
    return false;
  }
  crash_point("worker.after_temp_record");
  file_.temp_path = rows.front().second;
  return true;
}

bool DownloadDriver::start_hasher(int64_t offset) {
  hasher_.reset();  // an earlier incarnation's hashing is abandoned, not awaited
  if (!ContentHasher::needed(file_.expected)) return true;
  auto shared = temp_.share();
  if (!shared) {
    fail_local(shared.error(), "cannot open the temporary file to check its bytes: " + shared.error().message());
    return false;
  }
  hasher_ = std::make_unique<FileHasher>(loop_.hash_pool(), file_.expected, std::move(*shared));
  hasher_->advance(offset);  // the bytes an earlier attempt wrote
  return true;
}

bool DownloadDriver::integrity_holds() {
  const FileIntegrity& e = file_.expected;
  if (e.size >= 0 && file_.bytes_transferred != e.size) {
    reject_file("the file has " + std::to_string(file_.bytes_transferred) + " bytes, the application expects " +
                std::to_string(e.size));
    return false;
  }
  if (!hasher_) return true;
  const FileHasher::Verdict v = hasher_->verdict(file_.bytes_transferred);
  hasher_.reset();
  if (v.read_error) {
    fail_local(v.read_error, "cannot read the temporary file back to check its bytes: " + v.read_error.message());
    return false;
  }
  if (v.mismatch.empty()) return true;
  reject_file(v.mismatch);
  return false;
}

void DownloadDriver::reject_file(const std::string& why) {
  end_request();
  // Zero bytes claimed first, then the bytes go: the database never claims
  // bytes that are not the file, and the bad ones never reach complete().
  const FileRow zero = zeroed();
  if (!applied(loop_.store().commit_progress(claim_, zero, now_us()))) return;
  temp_.close();
  delete_file(file_.temp_path);
  file_ = zero;
  committed_ = 0;
  fail(Errc::validation_failed, ErrorContext::local_file,
       "file " + std::to_string(file_.idx) + " is not what the application expects (" + why + "): its bytes were " +
           "deleted (" + redact_url(file_.remote_url) + ")",
       false);
}

}  // namespace xferq::detail
