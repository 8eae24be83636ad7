// download_driver.h — the HTTP download of a job's files, one after another.
//
// For each file: open (or create) its temp file under the generation guard,
// trust the smaller of what the database claims and what the disk holds,
// request the rest with Range + If-Range, check the response before its first
// byte is written (a 206 must start where we asked and carry the same
// validators; a 200 to a Range request means the server sent the whole
// entity: start over from zero rather than splice two versions), write the
// bytes, and hand them to the flusher before the count that claims them is
// committed. The last flush of a file finishes it.
//
// A file added with ranges is fetched one range per request (Range:
// bytes=a-b), the bytes appended to the temp file in the ranges' order; the
// local offset says which range, and where in it, a resume continues. A 206
// must cover exactly the range asked for (BG_E_INVALID_SERVER_RESPONSE,
// BG_E_INVALID_RANGE past the remote end), a 200 without a validator change
// means no range support (BG_E_INSUFFICIENT_RANGE_SUPPORT): all fatal.
//
// Thread safety: worker thread only.
#ifndef XFERQ_WORKER_DOWNLOAD_DRIVER_H_
#define XFERQ_WORKER_DOWNLOAD_DRIVER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "fs/temp_file.h"
#include "worker/content_hasher.h"
#include "worker/file_hasher.h"
#include "worker/curl_request.h"
#include "worker/job_driver.h"

namespace xferq::detail {

class DownloadDriver final : public JobDriver {
 public:
  DownloadDriver(TransferLoop& loop, Claim claim, std::optional<FileRow> first);

  void start() override;
  size_t on_body(CurlRequest& request, const char* data, size_t n) override;
  void done(CurlRequest& request, CURLcode result) override;
  void on_turn() override;
  void on_flushed(const Flusher::Result& result) override;

 private:
  // What a callback saw that the loop must act on.
  enum class Pending { none, stale, restart, http_error, content_coded, local_error, too_large, not_expected, range_error };

  void keep_progress() override;
  void start_file();
  // Sends the request for the file's bytes from file_.bytes_transferred on
  // (for a ranged file: the rest of the range that offset falls in).
  void issue_request();
  // Ranged files: length of range i (-1: a to-EOF range not resolved yet);
  // the range a local offset falls in, the offset within it and the range's
  // local start; the file's size (the sum) or kSizeUnknown.
  bool ranged() const { return !file_.ranges.empty(); }
  int64_t range_length(size_t i) const;
  void locate(int64_t local, size_t* index, int64_t* within, int64_t* start) const;
  int64_t ranges_total() const;
  bool check_ranged(long status, const std::string& etag, const std::string& last_modified);
  bool range_failure(Errc code, std::string why);
  // The response's status and headers, before its first body byte: true to
  // write, false with pending_ set. Records only; never touches the database.
  bool check_response();
  bool identity_coded() const;
  // What the response said, for FileInfo (and the final URL under
  // ALLOW_REPORT), kept until the loop commits it.
  void note_response();
  // Commits what note_response() kept; false if the job moved on.
  bool commit_response();
  // Would `bytes` of this file take the job past its maximum download size?
  bool over_size_limit(int64_t bytes) const;
  void act_on_pending();
  void finish();
  void finish_flushed();
  void restart_from_zero(const std::string& why);
  // The current file as it is once its bytes are thrown away: none claimed,
  // no validators (the next request must not be an If-Range resume).
  FileRow zeroed() const;
  // Integrity (FileRow::expected): starts the hasher on the opened temp file
  // (a resumed file's bytes are hashed again, in the background); checks a
  // finished, flushed file's size and digests. reject_file() throws the
  // bytes away and ends the attempt with BG_E_VALIDATION_FAILED.
  bool start_hasher(int64_t offset);
  // Records the temp paths of this file and of the job's later files that
  // have none, in one synced commit (Store::record_temp_paths): a job of
  // many small files pays one sync for them all. false if the attempt ended.
  bool record_temp_paths_ahead();
  bool integrity_holds();
  void reject_file(const std::string& why);

  int64_t requested_from_ = 0;
  // Ranged files: the current range, the last remote byte asked for (-1: to
  // EOF), where it ends locally (-1: not known yet), the resolved length of a
  // to-EOF range (-1: unknown), the remote size as last announced, and
  // whether the request carried If-Range with a validator.
  size_t range_index_ = 0;
  int64_t requested_last_ = -1;
  int64_t range_local_end_ = -1;
  int64_t eof_length_ = -1;
  int64_t remote_total_ = kSizeUnknown;
  bool sent_validator_ = false;
  Errc pending_code_ = Errc::invalid_range;
  std::chrono::steady_clock::time_point last_commit_ = std::chrono::steady_clock::now();
  int restarts_ = 0;
  bool checked_ = false;          // the current response's headers were examined
  bool connect_due_ = false;      // a good response arrived: commit TRANSFERRING
  Pending pending_ = Pending::none;
  std::string pending_reason_;
  long pending_status_ = 0;
  std::error_code pending_error_;
  std::unique_ptr<FileHasher> hasher_;  // when the file has expected digests
  std::optional<ResponseMeta> response_due_;  // the current response's metadata, to commit
  int64_t other_files_bytes_ = 0; // bytes of the job's finished files (for the size limit)
  uint64_t epoch_ = 0;            // new for every opened file or restart: stale flush results are ignored
  bool flushing_ = false;         // a progress flush is with the flusher
  bool finishing_ = false;        // the final flush is with the flusher; the request is gone
  int64_t writeback_from_ = 0;    // bytes before this offset were handed to writeback
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_DOWNLOAD_DRIVER_H_
