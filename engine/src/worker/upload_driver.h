// upload_driver.h — the client side of the BITS upload protocol ([MC-BUP])
// for UPLOAD and UPLOAD_REPLY jobs.
//
// Every request is a BITS_POST, one at a time per job, and each answer (Ack)
// decides the next request: Create-Session, Fragment..., (upload-reply: a GET
// of BITS-Reply-URL into a temp file beside the reply file name),
// Close-Session. What must survive a restart is committed with the claim's
// generation: the session id (a restart continues the same session), the
// byte count the server acknowledged (the next fragment starts there), and
// for upload-reply the reply URL.
//
// Thread safety: worker thread only.
#ifndef XFERQ_WORKER_UPLOAD_DRIVER_H_
#define XFERQ_WORKER_UPLOAD_DRIVER_H_

#include <memory>
#include <optional>
#include <string>

#include "fs/file_ops.h"
#include "fs/temp_file.h"
#include "worker/curl_request.h"
#include "worker/job_driver.h"
#include "xferq/error.h"

namespace xferq::detail {

class UploadDriver final : public JobDriver {
 public:
  UploadDriver(TransferLoop& loop, Claim claim, std::optional<FileRow> file);

  void start() override;
  size_t on_body(CurlRequest& request, const char* data, size_t n) override;
  void done(CurlRequest& request, CURLcode result) override;
  void on_turn() override { out_of_time(); }

 private:
  enum class Step { create_session, fragment, reply, close_session };

  void next_request();
  void send(Step step);
  // Whether the server's reply URL may be fetched; if not, fails the job
  // (BG_E_UNSUPPORTED_SCHEME / E_INVALIDARG, fatal) and answers false.
  bool reply_url_allowed(const std::string& url);
  void start_reply();
  void on_create_session_ack(CurlRequest& r);
  void on_fragment_ack(CurlRequest& r);
  void on_reply(CurlRequest& r);
  // A refused packet: its BITS error (or HTTP status) becomes the job's.
  void refused(const CurlRequest& r, const std::string& packet);
  // Ends the job as transferred (every byte acknowledged, the session closed).
  void finish();

  UploadJob up_;
  FileStamp source_stamp_;        // the source as start() found it: every fragment must match
  Step step_ = Step::create_session;
  std::string body_;              // the fragment in flight
  int64_t fragment_first_ = 0;
  int64_t reply_bytes_ = 0;
  bool stale_ = false;            // a callback saw the job move on
  std::error_code reply_error_;   // a callback could not write the reply
  int session_restarts_ = 0;      // BG_E_SESSION_NOT_FOUND -> Create-Session again, a few times
  int resyncs_ = 0;               // 416 answers in a row
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_UPLOAD_DRIVER_H_
