// transfer_driver.h — the interface between the worker's loop and the
// drivers that speak protocols (in the manner of libcurl's Curl_handler:
// one table of entry points, one implementation per kind of transfer).
//
// The loop (worker.h) schedules: it claims jobs, owns the curl multi handle,
// the timers and the wake-ups, and routes each finished request and each
// flush result to the driver that owns it. A driver carries out one transfer:
// a download (download_driver.h), a BITS upload (upload_driver.h) or one
// Cancel-Session packet (cancel_session_driver.h).
//
// The rule the split keeps: libcurl callbacks (on_body) only record what they
// saw and write bytes to the temp file; every database write happens in
// start(), done(), on_turn() or on_flushed(), which the loop calls outside
// libcurl's callbacks.
//
// Thread safety: drivers and the loop's services are used on the worker
// thread only.
#ifndef XFERQ_WORKER_TRANSFER_DRIVER_H_
#define XFERQ_WORKER_TRANSFER_DRIVER_H_

#include <curl/curl.h>

#include <cstddef>
#include <string>

#include "storage/store.h"
#include "worker/flusher.h"
#include "worker/hash_pool.h"
#include "xferq/options.h"

namespace xferq::detail {

class CurlRequest;
class JobEvents;

// What a driver may ask of the loop that runs it.
class TransferLoop {
 public:
  virtual ~TransferLoop() = default;
  virtual Store& store() = 0;
  virtual const QueueOptions& options() const = 0;
  // Callbacks to the application (transferred, error, modified).
  virtual JobEvents& events() = 0;
  // Starts / stops a request on the loop's multi handle.
  virtual void add_request(CurlRequest& request) = 0;
  virtual void remove_request(CurlRequest& request) = 0;
  // Has an in-process call moved this job past `generation`? Safe inside a
  // libcurl callback: no database access (the calls report the generation
  // they committed; other processes' changes are found by the loop).
  // `seen` is the caller's memo of the last change it looked at.
  virtual bool superseded(const std::string& job_id, int64_t generation, uint64_t* seen) = 0;
  // Hands an fdatasync to the flusher; the result comes back via on_flushed().
  virtual void flush(Flusher::Request request) = 0;
  // The threads that hash downloads with expected digests (file_hasher.h).
  virtual HashPool& hash_pool() = 0;
  // A store call failed. XFERQ_E_BUSY is passing (the loop retries later);
  // any other error stops the worker, which reports it (worker_stopped).
  // Returns true if the error is passing.
  virtual bool store_failed(std::error_code error) = 0;
  // Notifications (notifier.h): the job reached TRANSFERRED or ERROR (its
  // notify command line runs); its committed progress changed (the progress
  // callback, throttled; `final`: it reached TRANSFERRED).
  virtual void job_ended(const std::string& job_id, JobState state) = 0;
  virtual void progressed(const std::string& job_id, bool final) = 0;
};

// How a driver ended, for the loop's scheduling.
enum class DriverEnd {
  running,      // not ended
  transferred,  // the job is TRANSFERRED
  failed,       // TRANSIENT_ERROR or ERROR (a retry timer may have changed)
  dropped,      // the job moved on (or went back to the queue): slot free
  done,         // a Cancel-Session finished (or will be retried later)
};

class TransferDriver {
 public:
  virtual ~TransferDriver() = default;

  // Loop context: open files, add the first request (or end at once).
  virtual void start() = 0;
  // libcurl callback: `n` bytes of the response body. Return n to go on,
  // anything else aborts the request (CURLE_WRITE_ERROR in done()).
  virtual size_t on_body(CurlRequest& request, const char* data, size_t n) = 0;
  // Loop context: the request finished with `result`. Commit what it
  // established; then start the next request, or end.
  virtual void done(CurlRequest& request, CURLcode result) = 0;
  // Loop context, once per turn of the loop: commit what callbacks recorded,
  // hand due progress to the flusher.
  virtual void on_turn() {}
  // Loop context: a flush this driver asked for has finished.
  virtual void on_flushed(const Flusher::Result&) {}
  // Loop context: let go now — remove requests, close files. `shutting_down`:
  // the worker stops; keep what is durable and give the job back.
  virtual void stop(bool shutting_down) = 0;

  DriverEnd end() const { return end_; }

 protected:
  DriverEnd end_ = DriverEnd::running;
};

}  // namespace xferq::detail

#endif  // XFERQ_WORKER_TRANSFER_DRIVER_H_
