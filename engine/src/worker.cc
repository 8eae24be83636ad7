// worker.cc — the transfer loop.
#include "worker.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "crash_points.h"
#include "file_ops.h"
#include "flusher.h"
#include "queue_core.h"
#include "store.h"
#include "xferq/error.h"

namespace xferq::detail {

using Steady = std::chrono::steady_clock;

// One running job: its current file, its temp file and its libcurl handle.
struct Transfer {
  enum class Pending { none, stale, restart, http_error, local_error };

  Claim claim;
  FileRow file;
  int fd = -1;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};
  int64_t requested_from = 0;
  int64_t committed = 0;  // bytes_transferred as last committed
  Steady::time_point last_commit = Steady::now();
  int restarts = 0;
  bool connected = false;  // the job is TRANSFERRING
  bool checked = false;    // the current response's headers were examined
  Pending pending = Pending::none;
  std::string pending_reason;
  long pending_status = 0;
  int pending_errno = 0;
  // Headers of the current response (reset on each status line: redirects).
  std::string etag, last_modified, content_range;
  int64_t content_length = -1;
  QueueCore* core = nullptr;
  Worker* owner = nullptr;
  uint64_t seen_change_seq = 0;   // Worker::change_seq_ when last looked at
  uint64_t epoch = 0;             // new for every opened file or restart: stale flush results are ignored
  bool flushing = false;          // a progress flush is with the flusher
  bool finishing = false;         // the final flush is with the flusher; the curl handle is gone
  int64_t writeback_from = 0;     // bytes before this offset were handed to writeback

  // Uploads: which packet is in flight, the job's session, the fragment's
  // body, the reply's temp file, and the BITS headers of the current Ack.
  int step = 0;                   // UploadStep
  UploadJob up;
  std::string body;
  int64_t fragment_first = 0;
  int reply_fd = -1;
  int64_t reply_bytes = 0;
  int session_restarts = 0;       // BG_E_SESSION_NOT_FOUND -> Create-Session again, a few times
  int resyncs = 0;                // 416 answers in a row
  std::string ack_session_id, ack_received, ack_reply_url, ack_error_code, ack_error_context;
  std::string ack_packet_type;
};

// One Cancel-Session request for a cancelled upload (an outbox row, kind 3).
struct CancelSession {
  FileOp op;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};
  std::string ack_error_code;
};

namespace {

// Epochs identify one incarnation of a transfer's temp file across all
// transfers, so that a flush result for an earlier one is never applied.
std::atomic<uint64_t> g_epoch{0};
uint64_t next_epoch() { return ++g_epoch; }

void curl_init_once() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)done;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == '\r' || s[e - 1] == '\n' || s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

bool header_is(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != std::tolower(static_cast<unsigned char>(name[i])))
      return false;
  return true;
}

// The value of a header line that header_is(line, name).
std::string header_value(std::string_view line, std::string_view name) {
  return trim(line.substr(name.size() + 1));
}

size_t on_header(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->etag.clear();
    t->last_modified.clear();
    t->content_range.clear();
    t->content_length = -1;
  } else if (header_is(line, "etag")) {
    t->etag = header_value(line, "etag");
  } else if (header_is(line, "last-modified")) {
    t->last_modified = header_value(line, "last-modified");
  } else if (header_is(line, "content-range")) {
    t->content_range = header_value(line, "content-range");
  } else if (header_is(line, "content-length")) {
    t->content_length = std::strtoll(header_value(line, "content-length").c_str(), nullptr, 10);
  }
  return n;
}

// "bytes FIRST-LAST/TOTAL" (TOTAL may be '*').
bool parse_content_range(const std::string& v, int64_t* first, int64_t* total) {
  long long a = 0, b = 0;
  char tail[32] = {};
  if (std::sscanf(v.c_str(), "bytes %lld-%lld/%31s", &a, &b, tail) != 3) return false;
  *first = a;
  *total = tail[0] == '*' ? kSizeUnknown : std::strtoll(tail, nullptr, 10);
  return true;
}

// Looks at a response before its first body byte is written. False means: do
// not write; t->pending says what to do instead.
bool check_response(Transfer* t) {
  t->checked = true;
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status == 206) {
    int64_t first = -1, total = kSizeUnknown;
    if (!parse_content_range(t->content_range, &first, &total) || first != t->requested_from) {
      t->pending = Transfer::Pending::restart;
      t->pending_reason = "206 with Content-Range '" + t->content_range + "' for a request from byte " +
                          std::to_string(t->requested_from);
      return false;
    }
    // A server that answers 206 although the entity changed (ignoring
    // If-Range) must not get its bytes spliced onto the old ones.
    const bool etag_changed = !t->file.etag.empty() && !t->etag.empty() && t->etag != t->file.etag;
    const bool date_changed = t->file.etag.empty() && !t->file.last_modified.empty() &&
                              !t->last_modified.empty() && t->last_modified != t->file.last_modified;
    if (etag_changed || date_changed) {
      t->pending = Transfer::Pending::restart;
      t->pending_reason = "the file changed on the server (validators differ)";
      return false;
    }
    t->file.bytes_total = total;
  } else if (status == 200) {
    if (t->requested_from > 0 || t->file.bytes_transferred > 0) {
      // The server sent the whole entity (Range ignored, or If-Range saw a
      // change): start over. First make the database claim zero bytes, then
      // drop the old bytes, so the database never claims more than the disk.
      FileRow zero = t->file;
      zero.bytes_transferred = 0;
      zero.etag.clear();
      zero.last_modified.clear();
      auto w = t->core->store().commit_progress(t->claim, zero, now_us());
      if (!w || *w == WriteOutcome::stale) {
        t->pending = Transfer::Pending::stale;
        return false;
      }
      if (::ftruncate(t->fd, 0) != 0) {
        t->pending = Transfer::Pending::local_error;
        t->pending_errno = errno;
        return false;
      }
      t->file.bytes_transferred = 0;
      t->committed = 0;
      t->requested_from = 0;
      t->writeback_from = 0;
      t->epoch = next_epoch();  // an in-flight flush speaks of the old bytes
      t->flushing = false;
    }
    t->file.bytes_total = t->content_length;
  } else {
    t->pending = Transfer::Pending::http_error;
    t->pending_status = status;
    return false;
  }
  t->file.etag = t->etag;
  t->file.last_modified = t->last_modified;
  if (!t->connected) {
    auto w = t->core->store().mark_connected(&t->claim, now_us());
    if (!w || *w == WriteOutcome::stale) {
      t->pending = Transfer::Pending::stale;
      return false;
    }
    t->connected = true;
  }
  return true;
}

// Start writeback of what arrived every this many bytes, so that the
// fdatasync before a progress commit finds little left to do and does not
// stall the receive loop.
constexpr int64_t kWritebackChunk = 8 * 1024 * 1024;

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  if (!t->checked && !check_response(t)) return 0;
  // A cancel (or suspend...) may arrive while libcurl keeps delivering data
  // from one curl_multi_perform(): stop within one buffer, not after it.
  if (t->owner->interrupted(*t)) {
    t->pending = Transfer::Pending::stale;
    return 0;
  }
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(t->fd, data + done, n - done, t->file.bytes_transferred + static_cast<int64_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      t->pending = Transfer::Pending::local_error;
      t->pending_errno = errno;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->file.bytes_transferred += static_cast<int64_t>(n);
  if (t->file.bytes_transferred - t->writeback_from >= kWritebackChunk) {
    ::sync_file_range(t->fd, t->writeback_from, t->file.bytes_transferred - t->writeback_from,
                      SYNC_FILE_RANGE_WRITE);
    t->writeback_from = t->file.bytes_transferred;
  }
  return n;
}

bool transient_http(long s) {
  if (s >= 500) return s != 501 && s != 505;
  if (s >= 400) return s == 408 || s == 409 || s == 429;
  if (s >= 300) return !(s <= 305 || s == 307);
  return true;
}

struct CurlFailure {
  Errc code;
  ErrorContext context;
  bool transient;
};

CurlFailure classify(CURLcode c) {
  switch (c) {
    case CURLE_UNSUPPORTED_PROTOCOL:
      return {Errc::unsupported_scheme, ErrorContext::remote_file, false};
    case CURLE_TOO_MANY_REDIRECTS:
      return {Errc::too_many_redirects, ErrorContext::remote_file, false};
    case CURLE_URL_MALFORMAT:
      return {Errc::invalid_arg, ErrorContext::remote_file, false};
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return {Errc::tls, ErrorContext::general_transport, false};
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return {Errc::transport, ErrorContext::general_transport, true};
    default:
      return {Errc::transport, ErrorContext::remote_file, true};
  }
}

void release_handle(CURLM* multi, Transfer& t) {
  if (t.easy) {
    curl_multi_remove_handle(multi, t.easy);
    curl_easy_cleanup(t.easy);
    t.easy = nullptr;
  }
  if (t.headers) {
    curl_slist_free_all(t.headers);
    t.headers = nullptr;
  }
}

void close_file(Transfer& t) {
  if (t.fd >= 0) {
    ::close(t.fd);
    t.fd = -1;
  }
  if (t.reply_fd >= 0) {
    ::close(t.reply_fd);
    t.reply_fd = -1;
  }
}

// What every request of the worker shares: errors, signals, schemes (also on
// redirect), identification, timeouts, stall detection, TLS verification.
void common_options(CURL* e, const QueueOptions& opt, char* error_buffer) {
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (!opt.allow_other_schemes) {
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  curl_easy_setopt(e, CURLOPT_USERAGENT, opt.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opt.stall_timeout.count()));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, opt.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, opt.verify_tls ? 2L : 0L);
}

}  // namespace

Worker::Worker(QueueCore& core) : core_(core) { curl_init_once(); }

Worker::~Worker() { stop(); }

void Worker::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Worker::stop() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (multi_) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Worker::job_changed(const std::string& job_id, bool may_run) {
  std::lock_guard<std::mutex> lock(mu_);
  changed_.insert(job_id);
  changes_may_run_ = changes_may_run_ || may_run;
  change_seq_.fetch_add(1, std::memory_order_release);
  if (multi_) curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

bool Worker::interrupted(Transfer& t) {
  const uint64_t seq = change_seq_.load(std::memory_order_acquire);
  if (seq == t.seen_change_seq) return false;  // the common case: one load
  t.seen_change_seq = seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!changed_.count(t.claim.job_id)) return false;
  }
  auto g = core_.store().generation(t.claim.job_id);
  return g && (!*g || **g != t.claim.generation);
}

bool Worker::acquire_lock() {
  const std::string path = core_.path() + "-worker.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd_ < 0) return false;
  while (!stopping_) {
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_.load(); });
  }
  return false;
}

void Worker::run() {
  if (acquire_lock()) {
    // We are the only worker: whatever is CONNECTING / TRANSFERRING was left
    // by one that died. Put it back in the queue; the bytes on disk resume.
    core_.store().recover_interrupted(now_us());
    core_.apply_pending_ops();
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(core_.options().max_concurrent_transfers * 2));
    {
      std::lock_guard<std::mutex> lock(mu_);
      multi_ = multi;
    }
    flusher_ = std::make_unique<Flusher>(2, [this] {
      std::lock_guard<std::mutex> lock(mu_);
      if (multi_) curl_multi_wakeup(static_cast<CURLM*>(multi_));
    });
    loop();
    shutdown_transfers();
    shutdown_cancel_sessions();
    flusher_.reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      multi_ = nullptr;
    }
    curl_multi_cleanup(multi);
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
}

void Worker::loop() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  const auto& opt = core_.options();
  int64_t last_version = core_.store().data_version().ok() ? *core_.store().data_version() : 0;
  Steady::time_point next_version_check = Steady::now();
  Steady::time_point next_housekeeping = Steady::now();
  while (!stopping_) {
    std::set<std::string> changed;
    bool may_run = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      changed.swap(changed_);
      std::swap(may_run, changes_may_run_);
    }
    bool external = false;
    if (Steady::now() >= next_version_check) {
      next_version_check = Steady::now() + opt.poll_interval;
      auto v = core_.store().data_version();
      if (v && *v != last_version) {
        last_version = *v;
        external = true;
      }
    }
    if (!changed.empty() || external) {
      // Retry timers need no second look: only this worker creates
      // TRANSIENT_ERROR jobs, and fail() resets the timer when it does.
      reconcile(changed, external);  // drop() marks the freed slot dirty
      if (may_run || external) dirty_ = true;
      cancel_scan_due_ = true;  // a cancel may have left a Cancel-Session to send
    }
    // At most one look per poll interval for changes: a storm of cancels
    // (the cancel benchmark) costs one outbox read per interval, not per call.
    if ((cancel_scan_due_ && Steady::now() - last_cancel_scan_ >= opt.poll_interval) ||
        Steady::now() >= next_cancel_scan_)
      scan_cancel_sessions();

    if (Steady::now() >= next_housekeeping) {
      next_housekeeping = Steady::now() + opt.housekeeping_interval;
      core_.housekeep();
    }

    const int64_t now = now_us();
    if (next_retry_us_ == 0 || now >= next_retry_us_) {
      std::vector<std::string> expired;
      auto requeued = core_.store().requeue_due(now, &expired);
      for (const auto& id : expired) {
        auto info = core_.store().job_info(id);
        if (info && info->error) core_.notify_error(id, *info->error);
      }
      auto next = core_.store().next_retry_us();
      next_retry_us_ = next && *next ? **next : now + 3600 * 1000000LL;
      if (!requeued || *requeued > 0) dirty_ = true;
    }

    if (dirty_ && static_cast<int>(transfers_.size()) < opt.max_concurrent_transfers) schedule();

    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      const int code = msg->data.result;
      if (auto c = cancels_.find(msg->easy_handle); c != cancels_.end()) {
        cancel_session_done(*c->second, code);
        continue;
      }
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (t) handle_done(*t, code);
    }
    apply_flush_results(false);
    commit_due_progress(false);
    core_.store().flush_retired();

    // Sleep until a socket is ready, a call wakes us, or a timer is due.
    int64_t timeout_ms = opt.poll_interval.count();
    if (!transfers_.empty()) timeout_ms = std::min<int64_t>(timeout_ms, opt.progress_interval.count());
    const int64_t until_retry_ms = (next_retry_us_ - now_us()) / 1000;
    timeout_ms = std::max<int64_t>(0, std::min(timeout_ms, until_retry_ms));
    if (dirty_ && static_cast<int>(transfers_.size()) < opt.max_concurrent_transfers) timeout_ms = 0;
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(timeout_ms), nullptr);
  }
}

void Worker::reconcile(const std::set<std::string>& changed, bool everything) {
  std::vector<std::string> stale;
  for (const auto& [id, t] : transfers_) {
    if (!everything && !changed.count(id)) continue;
    auto g = core_.store().generation(id);
    if (!g) continue;  // the database failed; look again next time
    if (!*g || **g != t->claim.generation) stale.push_back(id);
  }
  for (const auto& id : stale) drop(id);
}

void Worker::schedule() {
  dirty_ = false;
  const int free = core_.options().max_concurrent_transfers - static_cast<int>(transfers_.size());
  if (free <= 0) return;
  std::vector<std::string> held;
  for (const auto& kv : transfers_) held.push_back(kv.first);
  auto claims = core_.store().claim_next(free, held, now_us());
  if (!claims) {
    dirty_ = true;
    return;
  }
  for (Claim& c : *claims) {
    core_.notify_modified(c.job_id);
    start_job(std::move(c));
  }
}

void Worker::start_job(Claim claim) {
  auto t = std::make_unique<Transfer>();
  t->claim = std::move(claim);
  t->core = &core_;
  t->owner = this;
  t->seen_change_seq = change_seq_.load();
  auto next = core_.store().next_file(t->claim.job_id);
  if (!next) {
    core_.store().release(t->claim, now_us());
    return;
  }
  Transfer& ref = *t;
  transfers_[ref.claim.job_id] = std::move(t);
  if (!*next) {
    finish(ref);  // nothing left to fetch (every file done): TRANSFERRED
    return;
  }
  ref.file = **next;
  if (ref.claim.type != JobType::download) {
    start_upload(ref);
    return;
  }
  start_file(ref);
}

// Opens, or creates, the temp file at `path` for t's current file:
// 1. the path is recorded (committed) first, so that every file that may
//    exist has a row that owns it — also after a crash in step 2;
// 2. the file is opened or created inside a transaction that checks the
//    job's generation: a cancel commits either before (nothing is created)
//    or after (its deletion finds the file).
// Returns the descriptor, or -1 after dropping or failing the transfer.
int Worker::open_temp_guarded(Transfer& t, const std::string& path, int64_t* disk, const char* what) {
  Store& store = core_.store();
  if (t.file.temp_path.empty()) {
    auto recorded = store.guard_temp_file(t.claim, t.file.idx, path, [] { return std::error_code(); });
    if (!recorded || *recorded == WriteOutcome::stale) {
      if (!recorded) store.release(t.claim, now_us());
      drop(t.claim.job_id);
      return -1;
    }
    crash_point("worker.after_temp_record");
  }
  int fd = -1;
  std::error_code open_error;
  auto w = store.guard_temp_file(t.claim, t.file.idx, path, [&]() -> std::error_code {
    auto opened = open_temp_file(path, disk);  // a leftover of ours (resume or crash)
    if (!opened && opened.error() == make_error_code(Errc::path_not_found)) {
      opened = create_temp_file(path);
      *disk = 0;
      if (opened) crash_point("worker.after_temp_create");
    }
    if (!opened) return open_error = opened.error();
    fd = *opened;
    return {};
  });
  if (w && *w == WriteOutcome::applied) return fd;
  if (fd >= 0) ::close(fd);  // stale, or the transaction failed after the open: the file stays ours
  if (w || !open_error) {
    // The job moved on, or the database failed (e.g. locked past the busy
    // timeout): let go; a failed database sends the job back to the queue.
    if (!w) store.release(t.claim, now_us());
    drop(t.claim.job_id);
    return -1;
  }
  fail(t, to_hresult(open_error), static_cast<int>(ErrorContext::local_file),
       std::string("cannot open the ") + what + " " + path + ": " + open_error.message(), false);
  return -1;
}

bool Worker::start_file(Transfer& t) {
  const auto& opt = core_.options();
  const std::string path = t.file.temp_path.empty()
                               ? temp_path_for(t.file.local_path, t.claim.job_id, t.file.idx)
                               : t.file.temp_path;
  int64_t disk = 0;
  const int fd = open_temp_guarded(t, path, &disk, "temporary file");
  if (fd < 0) return false;
  t.fd = fd;
  t.file.temp_path = path;
  // Trust the smaller of what the database claims and what the disk holds.
  const int64_t offset = std::min(disk, t.file.bytes_transferred);
  if (disk != offset && ::ftruncate(t.fd, offset) != 0) {
    fail(t, to_hresult(errno_error(errno)), static_cast<int>(ErrorContext::local_file),
         "cannot truncate the temporary file", false);
    return false;
  }
  t.file.bytes_transferred = offset;
  t.committed = offset;
  t.writeback_from = offset;
  t.epoch = next_epoch();
  t.flushing = false;
  t.finishing = false;
  if (offset > 0 && offset == t.file.bytes_total) {
    // Every byte is already on disk (the final commit was lost): no request.
    finish(t);
    return true;
  }
  if (offset == 0) {
    t.file.etag.clear();
    t.file.last_modified.clear();
  }

  CURL* e = curl_easy_init();
  t.easy = e;
  t.requested_from = offset;
  t.checked = false;
  t.pending = Transfer::Pending::none;
  t.error_buffer[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, t.file.remote_url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  common_options(e, opt, t.error_buffer);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(opt.max_redirects));
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, opt.receive_buffer_bytes);
  // Byte offsets must mean what they say: no content coding.
  t.headers = curl_slist_append(nullptr, "Accept-Encoding: identity");
  if (offset > 0) {
    const std::string range = std::to_string(offset) + "-";
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());  // copied by libcurl
    const std::string& validator = !t.file.etag.empty() ? t.file.etag : t.file.last_modified;
    if (!validator.empty()) t.headers = curl_slist_append(t.headers, ("If-Range: " + validator).c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
  curl_multi_add_handle(static_cast<CURLM*>(multi_), e);
  return true;
}

void Worker::handle_done(Transfer& t, int curl_code) {
  if (t.claim.type != JobType::download) {
    upload_done(t, curl_code);
    return;
  }
  const auto code = static_cast<CURLcode>(curl_code);
  if (code == CURLE_OK && !t.checked) check_response(&t);  // an empty body
  switch (t.pending) {
    case Transfer::Pending::stale:
      drop(t.claim.job_id);
      return;
    case Transfer::Pending::restart:
      restart_from_zero(t, t.pending_reason);
      return;
    case Transfer::Pending::http_error: {
      const long s = t.pending_status;
      if (s == 416 && t.requested_from > 0) {
        restart_from_zero(t, "the server refused the range (416)");
        return;
      }
      fail(t, to_hresult(http_error(static_cast<int>(s))), static_cast<int>(ErrorContext::remote_file),
           "the server answered HTTP " + std::to_string(s) + " for " + t.file.remote_url, transient_http(s));
      return;
    }
    case Transfer::Pending::local_error:
      fail(t, to_hresult(errno_error(t.pending_errno)), static_cast<int>(ErrorContext::local_file),
           std::string("cannot write the temporary file: ") + std::strerror(t.pending_errno), false);
      return;
    case Transfer::Pending::none:
      break;
  }
  if (code != CURLE_OK) {
    const CurlFailure f = classify(code);
    std::string what = t.error_buffer[0] ? t.error_buffer : curl_easy_strerror(code);
    fail(t, static_cast<uint32_t>(f.code), static_cast<int>(f.context), what + " (" + t.file.remote_url + ")",
         f.transient);
    return;
  }
  if (t.file.bytes_total >= 0 && t.file.bytes_transferred != t.file.bytes_total) {
    fail(t, static_cast<uint32_t>(Errc::validation_failed), static_cast<int>(ErrorContext::remote_file),
         "the server sent " + std::to_string(t.file.bytes_transferred) + " bytes but announced " +
             std::to_string(t.file.bytes_total),
         true);
    return;
  }
  finish(t);
}

void Worker::finish(Transfer& t) {
  release_handle(static_cast<CURLM*>(multi_), t);
  if (t.fd >= 0) {
    // The final flush goes to the flusher; finish_flushed() continues when
    // it is done, and the event loop serves the other transfers meanwhile.
    Flusher::Request r{t.claim.job_id, t.epoch, t.fd, t.file.bytes_transferred, true};
    t.fd = -1;
    t.finishing = true;
    flusher_->submit(std::move(r));
    return;
  }
  finish_flushed(t);
}

void Worker::finish_flushed(Transfer& t) {
  const std::string id = t.claim.job_id;
  FileFinish outcome = FileFinish::more_files;
  if (!t.file.remote_url.empty()) {
    if (t.file.bytes_total < 0) t.file.bytes_total = t.file.bytes_transferred;
    crash_point("worker.before_file_finish");
    auto r = core_.store().finish_file(&t.claim, t.file, now_us());
    if (!r) {
      drop(id);
      return;
    }
    outcome = *r;
  } else {
    outcome = FileFinish::job_transferred;
    FileRow none;
    none.idx = -1;
    auto r = core_.store().finish_file(&t.claim, none, now_us());
    outcome = r ? *r : FileFinish::stale;
  }
  switch (outcome) {
    case FileFinish::stale:
      drop(id);
      return;
    case FileFinish::job_transferred:
      transfers_.erase(id);
      dirty_ = true;
      core_.notify_modified(id);
      core_.notify_transferred(id);
      return;
    case FileFinish::more_files: {
      auto next = core_.store().next_file(id);
      if (!next || !*next) {
        drop(id);
        return;
      }
      t.file = **next;
      t.restarts = 0;
      core_.notify_modified(id);
      start_file(t);
      return;
    }
  }
}

void Worker::fail(Transfer& t, uint32_t hresult, int context, const std::string& description, bool transient) {
  const std::string id = t.claim.job_id;
  release_handle(static_cast<CURLM*>(multi_), t);
  if (t.fd >= 0 && t.file.bytes_transferred > t.committed) {
    // Keep what arrived: it resumes the next attempt.
    if (!flush_file(t.fd)) core_.store().commit_progress(t.claim, t.file, now_us());
  }
  close_file(t);
  TransferFailure f;
  f.hresult = hresult;
  f.context = static_cast<ErrorContext>(context);
  f.description = description;
  f.file_index = t.file.idx >= 0 ? std::optional<int64_t>(t.file.idx) : std::nullopt;
  f.transient = transient;
  JobState after = JobState::transient_error;
  auto w = core_.store().fail(t.claim, f, now_us(), &after);
  transfers_.erase(id);
  dirty_ = true;
  next_retry_us_ = 0;  // a new TRANSIENT_ERROR job may be due sooner
  if (w && *w == WriteOutcome::applied) {
    core_.notify_modified(id);
    if (after == JobState::error) {
      JobErrorInfo e{hresult, f.context, description,
                     f.file_index ? std::optional<uint32_t>(static_cast<uint32_t>(*f.file_index)) : std::nullopt};
      core_.notify_error(id, e);
    }
  }
}

void Worker::restart_from_zero(Transfer& t, const std::string& why) {
  if (++t.restarts > 3) {
    fail(t, static_cast<uint32_t>(Errc::validation_failed), static_cast<int>(ErrorContext::remote_file),
         "gave up restarting from zero: " + why, true);
    return;
  }
  release_handle(static_cast<CURLM*>(multi_), t);
  FileRow zero = t.file;
  zero.bytes_transferred = 0;
  zero.etag.clear();
  zero.last_modified.clear();
  auto w = core_.store().commit_progress(t.claim, zero, now_us());
  if (!w || *w == WriteOutcome::stale) {
    drop(t.claim.job_id);
    return;
  }
  close_file(t);
  t.file = zero;
  start_file(t);  // reopens the temp file and truncates it to zero
}

void Worker::commit_due_progress(bool force) {
  const auto now = Steady::now();
  for (auto& [id, t] : transfers_) {
    if (t->fd < 0 || t->finishing || t->file.bytes_transferred == t->committed) continue;
    if (force) {
      // Shutting down: flush and commit here, in order.
      if (flush_file(t->fd)) continue;
      FileRow row = t->file;
      auto w = core_.store().commit_progress(t->claim, row, now_us());
      if (w && *w == WriteOutcome::applied) t->committed = row.bytes_transferred;
      continue;
    }
    if (t->flushing || now - t->last_commit < core_.options().progress_interval) continue;
    const int dup = ::fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) continue;
    t->last_commit = now;
    t->flushing = true;
    flusher_->submit(Flusher::Request{id, t->epoch, dup, t->file.bytes_transferred, false});
  }
}

void Worker::apply_flush_results(bool shutting_down) {
  for (Flusher::Result& r : flusher_->take_results()) {
    auto it = transfers_.find(r.job_id);
    if (it == transfers_.end() || it->second->epoch != r.epoch) continue;  // dropped or restarted
    Transfer& t = *it->second;
    if (!r.finishing) t.flushing = false;
    if (r.error) {
      if (r.finishing && !shutting_down) {
        t.finishing = false;
        fail(t, to_hresult(r.error), static_cast<int>(ErrorContext::local_file),
             "cannot flush the temporary file", false);
      }
      continue;
    }
    if (r.finishing && !shutting_down) {
      t.finishing = false;
      if (r.unlinked) {
        // Someone deleted the temp file (or its directory) behind our back:
        // the bytes have no name. Fetch the file again rather than claim it.
        restart_from_zero(t, "the temporary file was deleted while it was written");
      } else {
        finish_flushed(t);
      }
      continue;
    }
    // The bytes up to r.bytes are durable: the count may claim them.
    FileRow row = t.file;
    row.bytes_transferred = r.bytes;
    auto w = core_.store().commit_progress(t.claim, row, now_us());
    if (!w) continue;
    if (*w == WriteOutcome::stale) {
      if (!shutting_down) drop(r.job_id);
      continue;
    }
    t.committed = std::max(t.committed, r.bytes);
    crash_point("worker.after_progress_commit");
    core_.notify_modified(r.job_id);
  }
}

void Worker::drop(const std::string& job_id) {
  auto it = transfers_.find(job_id);
  if (it == transfers_.end()) return;
  // The job moved on (cancelled, suspended, completed...): whoever moved it
  // owns its files now. Stop writing and let go.
  release_handle(static_cast<CURLM*>(multi_), *it->second);
  close_file(*it->second);
  transfers_.erase(it);
  dirty_ = true;
}

void Worker::shutdown_transfers() {
  // Let the flusher finish, keep what it made durable, then flush the rest here.
  flusher_->drain();
  apply_flush_results(true);
  commit_due_progress(true);
  for (auto& [id, t] : transfers_) {
    release_handle(static_cast<CURLM*>(multi_), *t);
    close_file(*t);
    core_.store().release(t->claim, now_us());
  }
  transfers_.clear();
}

}  // namespace xferq::detail

// ---- Uploads: the client side of the BITS upload protocol ([MC-BUP]) ---------------
//
// Every request is a POST with method BITS_POST, one at a time per job, and
// each answer (Ack) decides the next request. What must survive a restart is
// committed with the claim's generation: the session id (a restart continues
// the same session), the byte count the server acknowledged (the next
// fragment starts there), and for upload-reply the reply URL.

namespace xferq::detail {
namespace {

enum UploadStep { kCreateSession = 1, kFragment = 2, kReply = 3, kCloseSession = 4 };

// The BITS 1.5 upload protocol, the one a BITS client offers.
constexpr const char* kBitsUploadProtocol = "{7df0354d-249b-430f-820d-3d2a9bef4931}";
constexpr uint32_t kSessionNotFound = 0x8020001Fu;  // BG_E_SESSION_NOT_FOUND

size_t on_upload_header(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->ack_session_id.clear();
    t->ack_received.clear();
    t->ack_reply_url.clear();
    t->ack_error_code.clear();
    t->ack_error_context.clear();
    t->ack_packet_type.clear();
  } else if (header_is(line, "bits-session-id")) {
    t->ack_session_id = header_value(line, "bits-session-id");
  } else if (header_is(line, "bits-received-content-range")) {
    t->ack_received = header_value(line, "bits-received-content-range");
  } else if (header_is(line, "bits-reply-url")) {
    t->ack_reply_url = header_value(line, "bits-reply-url");
  } else if (header_is(line, "bits-error-code")) {
    t->ack_error_code = header_value(line, "bits-error-code");
  } else if (header_is(line, "bits-error")) {  // [MC-BUP]'s spelling
    if (t->ack_error_code.empty()) t->ack_error_code = header_value(line, "bits-error");
  } else if (header_is(line, "bits-error-context")) {
    t->ack_error_context = header_value(line, "bits-error-context");
  } else if (header_is(line, "bits-packet-type")) {
    t->ack_packet_type = header_value(line, "bits-packet-type");
  }
  return n;
}

size_t on_cancel_header(char* data, size_t size, size_t nmemb, void* user) {
  auto* c = static_cast<CancelSession*>(user);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0)
    c->ack_error_code.clear();
  else if (header_is(line, "bits-error-code") || (header_is(line, "bits-error") && c->ack_error_code.empty()))
    c->ack_error_code = trim(line.substr(line.find(':') + 1));
  return n;
}

// Ack bodies carry nothing the client needs.
size_t discard_body(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

size_t on_reply_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return n;  // an error page (or a redirect's body): not the reply
  if (t->owner->interrupted(*t)) {
    t->pending = Transfer::Pending::stale;
    return 0;
  }
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(t->reply_fd, data + done, n - done, t->reply_bytes + static_cast<int64_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      t->pending = Transfer::Pending::local_error;
      t->pending_errno = errno;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->reply_bytes += static_cast<int64_t>(n);
  return n;
}

// "0x8020001F", "8020001F" -> the HRESULT; 0 if absent or malformed.
uint32_t parse_hresult(const std::string& v) {
  if (v.empty()) return 0;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 16);
  return end && *end == '\0' ? static_cast<uint32_t>(x) : 0;
}

// BITS-Received-Content-Range: the next byte the server expects ("213");
// a "first-last" form is read as last + 1.
bool parse_received(const std::string& v, int64_t* next) {
  if (v.empty()) return false;
  const auto dash = v.find('-');
  char* end = nullptr;
  if (dash == std::string::npos) {
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (!end || *end != '\0' || x < 0) return false;
    *next = x;
    return true;
  }
  const long long last = std::strtoll(v.c_str() + dash + 1, &end, 10);
  if (!end || *end != '\0' || last < 0) return false;
  *next = last + 1;
  return true;
}

// The reference's rule for upload replies: 4xx fatal except 408/409, 5xx
// transient except 501/505, 3xx transient except 300-305/307, the rest transient.
bool transient_upload(long s) {
  if (s >= 500) return s != 501 && s != 505;
  if (s >= 400) return s == 408 || s == 409;
  if (s >= 300) return !(s <= 305 || s == 307);
  return true;
}

std::string resolve_url(const std::string& base, const std::string& ref) {
  CURLU* u = curl_url();
  std::string out = ref;
  char* s = nullptr;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
    out = s;
    curl_free(s);
  }
  curl_url_cleanup(u);
  return out;
}


// A BITS_POST packet with an in-memory body (empty but for fragments).
curl_slist* bits_post(CURL* e, const std::string& body, curl_slist* headers) {
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "BITS_POST");
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  // No 100-continue round trip per fragment, no form content type.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  return headers;
}

std::string base_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

void Worker::start_upload(Transfer& t) {
  auto up = core_.store().upload_job(t.claim.job_id);
  if (!up) {
    core_.store().release(t.claim, now_us());
    drop(t.claim.job_id);
    return;
  }
  t.up = *up;
  struct stat st {};
  if (::stat(t.file.local_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    fail(t, static_cast<uint32_t>(Errc::file_not_found), static_cast<int>(ErrorContext::local_file),
         "cannot read the file to upload " + t.file.local_path, false);
    return;
  }
  if (!t.up.session_id.empty() && t.file.bytes_total >= 0 && t.file.bytes_total != st.st_size) {
    // The server holds bytes of another version of the file (BITS:
    // BG_E_LOCAL_FILE_CHANGED, fatal). Splicing would upload neither version.
    fail(t, static_cast<uint32_t>(Errc::validation_failed), static_cast<int>(ErrorContext::local_file),
         "the file to upload changed during the upload: " + t.file.local_path, false);
    return;
  }
  t.file.bytes_total = st.st_size;
  t.committed = t.file.bytes_transferred;
  upload_next(t);
}

void Worker::upload_next(Transfer& t) {
  const int64_t size = t.file.bytes_total;
  const int64_t acked = t.file.bytes_transferred;
  if (t.up.session_id.empty()) return upload_request(t, kCreateSession);
  if (acked < size) {
    t.fragment_first = acked;
    return upload_request(t, kFragment);
  }
  if (t.claim.type == JobType::upload_reply && size > 0) {
    if (t.up.reply_url.empty()) {
      // Everything is acknowledged but the Ack with the reply URL was lost
      // (a restart in between): send the last byte again; the server ignores
      // the overlap and acknowledges with the URL.
      t.fragment_first = size - 1;
      return upload_request(t, kFragment);
    }
    start_reply(t);
    return;
  }
  upload_request(t, kCloseSession);
}

bool Worker::start_reply(Transfer& t) {
  const std::string path = t.file.temp_path.empty()
                               ? temp_path_for(t.up.reply_target, t.claim.job_id, t.file.idx)
                               : t.file.temp_path;
  // The same guarded creation as a download's temp file.
  int64_t disk = 0;
  const int fd = open_temp_guarded(t, path, &disk, "reply's temporary file");
  if (fd < 0) return false;
  t.file.temp_path = path;
  t.reply_fd = fd;
  // The reply is small and not resumed: every attempt fetches it whole.
  if (::ftruncate(fd, 0) != 0) {
    fail(t, to_hresult(errno_error(errno)), static_cast<int>(ErrorContext::local_file),
         "cannot truncate the reply's temporary file", false);
    return false;
  }
  t.reply_bytes = 0;
  upload_request(t, kReply);
  return true;
}

void Worker::upload_request(Transfer& t, int step) {
  const auto& opt = core_.options();
  release_handle(static_cast<CURLM*>(multi_), t);
  t.step = step;
  t.pending = Transfer::Pending::none;
  t.error_buffer[0] = '\0';
  t.body.clear();
  if (step == kFragment) {
    // The fragment's bytes, read now: the file is the application's and is
    // opened only for as long as a read takes.
    const int64_t len = std::min<int64_t>(std::max<int64_t>(opt.upload_fragment_bytes, 1),
                                          t.file.bytes_total - t.fragment_first);
    if (std::error_code ec = read_range(t.file.local_path, t.fragment_first, len, &t.body)) {
      const bool shorter = ec == make_error_code(Errc::validation_failed);
      fail(t, to_hresult(ec), static_cast<int>(ErrorContext::local_file),
           "cannot read the file to upload " + t.file.local_path +
               (shorter ? std::string(" (it became shorter)") : ": " + ec.message()),
           false);
      return;
    }
  }
  CURL* e = curl_easy_init();
  t.easy = e;
  common_options(e, opt, t.error_buffer);
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_upload_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  if (step == kReply) {
    // An ordinary download from BITS-Reply-URL.
    curl_easy_setopt(e, CURLOPT_URL, t.up.reply_url.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_reply_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(opt.max_redirects));
    t.headers = curl_slist_append(nullptr, "Accept-Encoding: identity");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
  } else {
    curl_easy_setopt(e, CURLOPT_URL, t.file.remote_url.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_slist* h = nullptr;
    switch (step) {
      case kCreateSession:
        h = curl_slist_append(h, "BITS-Packet-Type: Create-Session");
        h = curl_slist_append(h, (std::string("BITS-Supported-Protocols: ") + kBitsUploadProtocol).c_str());
        break;
      case kFragment: {
        h = curl_slist_append(h, "BITS-Packet-Type: Fragment");
        h = curl_slist_append(h, ("BITS-Session-Id: " + t.up.session_id).c_str());
        const int64_t last = t.fragment_first + static_cast<int64_t>(t.body.size()) - 1;
        h = curl_slist_append(h, ("Content-Range: bytes " + std::to_string(t.fragment_first) + "-" +
                                  std::to_string(last) + "/" + std::to_string(t.file.bytes_total)).c_str());
        if (t.fragment_first == 0)
          h = curl_slist_append(h, ("Content-Name: " + base_name(t.file.local_path)).c_str());
        break;
      }
      case kCloseSession:
        h = curl_slist_append(h, "BITS-Packet-Type: Close-Session");
        h = curl_slist_append(h, ("BITS-Session-Id: " + t.up.session_id).c_str());
        break;
    }
    t.headers = bits_post(e, t.body, h);
  }
  curl_multi_add_handle(static_cast<CURLM*>(multi_), e);
}

void Worker::upload_done(Transfer& t, int curl_code) {
  const auto code = static_cast<CURLcode>(curl_code);
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  if (t.pending == Transfer::Pending::stale) {
    drop(t.claim.job_id);
    return;
  }
  if (t.pending == Transfer::Pending::local_error) {
    fail(t, to_hresult(errno_error(t.pending_errno)), static_cast<int>(ErrorContext::local_file),
         std::string("cannot write the reply's temporary file: ") + std::strerror(t.pending_errno), false);
    return;
  }
  if (code != CURLE_OK) {
    const CurlFailure f = classify(code);
    std::string what = t.error_buffer[0] ? t.error_buffer : curl_easy_strerror(code);
    fail(t, static_cast<uint32_t>(f.code), static_cast<int>(f.context), what + " (" + t.file.remote_url + ")",
         f.transient);
    return;
  }
  const bool ok = status == 200 || status == 201;
  if (ok && !t.connected) {
    auto w = core_.store().mark_connected(&t.claim, now_us());
    if (!w || *w == WriteOutcome::stale) {
      drop(t.claim.job_id);
      return;
    }
    t.connected = true;
    core_.notify_modified(t.claim.job_id);
  }
  switch (t.step) {
    case kCreateSession: {
      if (!ok) return upload_failed(t, status, "Create-Session");
      if (t.ack_session_id.empty() || t.ack_session_id.size() > 100) {
        fail(t, static_cast<uint32_t>(Errc::validation_failed), static_cast<int>(ErrorContext::remote_file),
             "the server's Create-Session Ack has no usable BITS-Session-Id", false);
        return;
      }
      auto w = core_.store().set_upload_session(t.claim, t.file.idx, t.ack_session_id, t.file.bytes_total,
                                                now_us());
      if (!w || *w == WriteOutcome::stale) {
        drop(t.claim.job_id);
        return;
      }
      t.up.session_id = t.ack_session_id;
      t.up.reply_url.clear();
      t.file.bytes_transferred = 0;
      t.committed = 0;
      return upload_next(t);
    }
    case kFragment: {
      if (status != 200 && status != 416) return upload_failed(t, status, "Fragment");
      int64_t next = 0;
      if (!parse_received(t.ack_received, &next) || next > t.file.bytes_total) {
        if (status == 416) return upload_failed(t, status, "Fragment");
        fail(t, static_cast<uint32_t>(Errc::validation_failed), static_cast<int>(ErrorContext::remote_file),
             "the server's Fragment Ack has no usable BITS-Received-Content-Range ('" + t.ack_received + "')",
             true);
        return;
      }
      if (status == 416 && ++t.resyncs > 5) {
        fail(t, to_hresult(http_error(416)), static_cast<int>(ErrorContext::remote_file),
             "client and server stay out of sync (416)", true);
        return;
      }
      if (status == 200) t.resyncs = 0;
      if (t.claim.type == JobType::upload_reply && next == t.file.bytes_total && !t.ack_reply_url.empty()) {
        // Committed before the count, so a restart that finds every byte
        // acknowledged also finds where the reply is.
        const std::string url = resolve_url(t.file.remote_url, t.ack_reply_url);
        auto w = core_.store().set_reply_url(t.claim, url, now_us());
        if (!w || *w == WriteOutcome::stale) {
          drop(t.claim.job_id);
          return;
        }
        t.up.reply_url = url;
      }
      if (next != t.committed) {
        t.file.bytes_transferred = next;
        auto w = core_.store().commit_progress(t.claim, t.file, now_us());
        if (!w || *w == WriteOutcome::stale) {
          drop(t.claim.job_id);
          return;
        }
        t.committed = next;
        core_.notify_modified(t.claim.job_id);
      }
      if (status == 200 && next == t.file.bytes_total && t.claim.type == JobType::upload_reply &&
          t.up.reply_url.empty()) {
        fail(t, static_cast<uint32_t>(Errc::validation_failed), static_cast<int>(ErrorContext::remote_application),
             "the server acknowledged the last fragment without a BITS-Reply-URL", false);
        return;
      }
      return upload_next(t);
    }
    case kReply: {
      if (status != 200) {
        fail(t, to_hresult(http_error(static_cast<int>(status))), static_cast<int>(ErrorContext::remote_file),
             "the server answered HTTP " + std::to_string(status) + " for the reply " + t.up.reply_url,
             transient_upload(status));
        return;
      }
      if (auto ec = flush_file(t.reply_fd)) {
        fail(t, to_hresult(ec), static_cast<int>(ErrorContext::local_file), "cannot flush the reply", false);
        return;
      }
      ::close(t.reply_fd);
      t.reply_fd = -1;
      return upload_request(t, kCloseSession);
    }
    case kCloseSession:
      if (!ok) return upload_failed(t, status, "Close-Session");
      finish(t);  // every byte acknowledged, the session closed: TRANSFERRED
      return;
  }
}

void Worker::upload_failed(Transfer& t, long status, const std::string& what) {
  const uint32_t code = parse_hresult(t.ack_error_code);
  if (code == kSessionNotFound) {
    if (t.step == kCloseSession && t.file.bytes_transferred == t.file.bytes_total) {
      // The server has every byte and no session: it closed it already (our
      // Close-Session's Ack was lost before a restart). Nothing is missing.
      finish(t);
      return;
    }
    if (++t.session_restarts <= 3) {
      // [MC-BUP]: the session expired on the server; start a new one from 0.
      t.up.session_id.clear();
      upload_request(t, kCreateSession);
      return;
    }
  }
  const uint32_t hresult = code ? code : to_hresult(http_error(static_cast<int>(status)));
  const uint32_t context = parse_hresult(t.ack_error_context);
  const ErrorContext ctx = context == static_cast<uint32_t>(ErrorContext::remote_application)
                               ? ErrorContext::remote_application
                               : ErrorContext::remote_file;
  fail(t, hresult, static_cast<int>(ctx),
       "the server answered HTTP " + std::to_string(status) + " to " + what + " for " + t.file.remote_url +
           (code ? " (BITS-Error-Code " + t.ack_error_code + ")" : std::string()),
       transient_upload(status));
}

// ---- Cancel-Session from the outbox ----------------------------------------------

void Worker::scan_cancel_sessions() {
  const auto& opt = core_.options();
  cancel_scan_due_ = false;
  const auto now = Steady::now();
  last_cancel_scan_ = now;
  next_cancel_scan_ = now + opt.cancel_session_retry_interval;
  auto ops = core_.store().pending_cancel_sessions();
  if (!ops) return;
  const int64_t budget_us = std::chrono::duration_cast<std::chrono::microseconds>(opt.cancel_session_retry_budget).count();
  for (FileOp& op : *ops) {
    bool in_flight = false;
    for (const auto& kv : cancels_) in_flight = in_flight || kv.second->op.id == op.id;
    if (in_flight) continue;
    if (auto it = cancel_not_before_.find(op.id); it != cancel_not_before_.end() && now < it->second) continue;
    if (now_us() - op.created_us > budget_us || op.url.empty() || op.session_id.empty()) {
      // The budget is spent: give up; the server expires the partial upload itself.
      core_.store().retire_op(op.id);
      cancel_not_before_.erase(op.id);
      continue;
    }
    auto c = std::make_unique<CancelSession>();
    c->op = std::move(op);
    CURL* e = curl_easy_init();
    c->easy = e;
    common_options(e, opt, c->error_buffer);
    curl_easy_setopt(e, CURLOPT_URL, c->op.url.c_str());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_cancel_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    static const std::string kEmpty;
    curl_slist* h = curl_slist_append(nullptr, "BITS-Packet-Type: Cancel-Session");
    h = curl_slist_append(h, ("BITS-Session-Id: " + c->op.session_id).c_str());
    c->headers = bits_post(e, kEmpty, h);
    cancels_[e] = std::move(c);
    curl_multi_add_handle(static_cast<CURLM*>(multi_), e);
  }
}

void Worker::cancel_session_done(CancelSession& c, int curl_code) {
  const auto code = static_cast<CURLcode>(curl_code);
  long status = 0;
  curl_easy_getinfo(c.easy, CURLINFO_RESPONSE_CODE, &status);
  const uint32_t hresult = parse_hresult(c.ack_error_code);
  const int64_t id = c.op.id;
  std::string why = code != CURLE_OK ? (c.error_buffer[0] ? c.error_buffer : curl_easy_strerror(code))
                                     : "HTTP " + std::to_string(status);
  void* key = c.easy;
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), c.easy);
  curl_easy_cleanup(c.easy);
  curl_slist_free_all(c.headers);
  cancels_.erase(key);  // c is gone from here on
  // Done: the server deleted the partial upload, or never had (or no longer
  // has) the session. [MC-BUP]: never resend on 1xx-4xx either.
  const bool confirmed = code == CURLE_OK && (status == 200 || hresult == kSessionNotFound);
  const bool refused = code == CURLE_OK && status < 500 && status != 408 && status != 409;
  if (confirmed || refused) {
    core_.store().retire_op(id);
    cancel_not_before_.erase(id);
    return;
  }
  core_.store().note_op_failure(id, "Cancel-Session: " + why);
  cancel_not_before_[id] = Steady::now() + core_.options().cancel_session_retry_interval;
}

void Worker::shutdown_cancel_sessions() {
  // Unconfirmed ones stay in the outbox for the next worker.
  for (auto& kv : cancels_) {
    curl_multi_remove_handle(static_cast<CURLM*>(multi_), kv.second->easy);
    curl_easy_cleanup(kv.second->easy);
    curl_slist_free_all(kv.second->headers);
  }
  cancels_.clear();
}

}  // namespace xferq::detail
