// xferq/options.h — how a Queue is opened and run.
#ifndef XFERQ_OPTIONS_H_
#define XFERQ_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace xferq {

// SQLite's PRAGMA synchronous. NORMAL (the default) keeps every committed
// transaction across a crash of the application; FULL also across a power cut,
// at the cost of an fsync per commit.
// Thread safety: a plain value; no synchronization needed.
enum class Synchronous { normal, full };

// Thread safety: a plain value type; not synchronized. Queue::open() copies it:
// changing it afterwards does not affect an open queue.
struct QueueOptions {
  // Start the worker thread on open. A process that only inspects or controls
  // a queue served by another process (e.g. the `xferq` command) sets false.
  bool start_worker = true;

  // Transfers running at once (one per job; a job's files go one after another).
  int max_concurrent_transfers = 4;

  // Round robin among jobs of one priority (BITS's time slices): when every
  // slot is busy and a job of the same priority waits, a job that has held
  // its slot this long goes back to QUEUED, behind the jobs of its priority,
  // and resumes later with a Range request. Zero turns time slices off (a
  // job keeps its slot until it ends). Five minutes: a rotation costs a new
  // request and an fdatasync (milliseconds), well under 0.1% of a slice, and
  // with a handful of jobs per priority each still gets a turn within
  // minutes. Independent of this, a runnable job of a better priority always
  // preempts the worst running job of a worse one.
  std::chrono::milliseconds time_slice{5 * 60 * 1000};

  // How often a running download commits its byte count (after fdatasync of
  // the bytes it claims; an upload commits after each Ack). Smaller loses less
  // on a crash or a suspend and costs more writes.
  std::chrono::milliseconds progress_interval{500};

  // How often the worker looks for changes made by other processes
  // (PRAGMA data_version); bounds how fast a cancel from another process stops
  // a transfer. In-process calls wake the worker at once.
  std::chrono::milliseconds poll_interval{20};

  // How long a call waits for another process's write lock before failing
  // with XFERQ_E_BUSY.
  std::chrono::milliseconds busy_timeout{10000};

  Synchronous synchronous = Synchronous::normal;

  // When cancel() frees the job's temp file names. false (the default):
  // before it returns — it moves each file aside to a hidden twin (a rename,
  // tens of microseconds), so a program may reuse the paths at once; the
  // queue's janitor threads (four, sharing the work in batches) delete the
  // twins' blocks right after (unlinking files that were just written can
  // cost milliseconds on ext4, more with online discard). true: the
  // janitors delete the files themselves soon after, and cancel() costs
  // little more than its commit. Either way the deletion is in the outbox
  // from the commit on, so a crash cannot lose it.
  bool defer_cancel_deletes = false;

  // BITS raises a minimum retry delay below 5 s to 5 s. Tests and embedders
  // that need faster retries may lower this floor. Applied by
  // Job::set_minimum_retry_delay() and again when a failed attempt is scheduled
  // for retry.
  std::chrono::seconds minimum_retry_delay_floor{5};

  // A request (download, upload packet, Cancel-Session) that moves less than
  // one byte a second for this long fails with XFERQ_E_TRANSPORT, a transient
  // error (a stalled server), and is retried. Connecting has a fixed 30 s limit.
  std::chrono::seconds stall_timeout{60};
  // ...and so is one slower than this many bytes per second over a whole
  // stall_timeout (a slow drip that would hold a transfer slot forever).
  // 1, the default, only catches a stall.
  int64_t low_speed_bytes_per_sec = 1;

  // Create the queue file if it does not exist (0600, as are its -wal and
  // -shm). false: open() fails with ERROR_FILE_NOT_FOUND instead, for
  // programs that only read or steer an existing queue.
  bool create_if_missing = true;

  // Housekeeping (the worker runs it at start and every housekeeping_interval;
  // Queue::housekeep() runs it on demand):
  // a job not final and not modified for job_inactivity_timeout is cancelled
  // (BITS's JobInactivityTimeout, 90 days), files deleted as by cancel();
  std::chrono::seconds job_inactivity_timeout{90LL * 24 * 3600};
  // the rows of CANCELLED / ACKNOWLEDGED jobs are purged once their last change
  // is older than final_job_retention and their file operations are done (until
  // then get_job() finds them, getters answer and every other call answers
  // DO_E_INVALID_STATE).
  std::chrono::seconds final_job_retention{30LL * 24 * 3600};
  std::chrono::seconds housekeeping_interval{3600};

  // Uploads (BITS upload protocol): bytes per Fragment packet (at least 1).
  int64_t upload_fragment_bytes = 1024 * 1024;
  // A cancelled upload's Cancel-Session (so the server deletes its partial
  // file) is retried this often while the server fails or is unreachable...
  std::chrono::milliseconds cancel_session_retry_interval{60000};
  // ...until this long after the cancel (BITS: 24 hours), then given up.
  std::chrono::seconds cancel_session_retry_budget{24LL * 3600};

  // TLS peer and host verification. Turn off only for tests.
  bool verify_tls = true;
  // CAs every job trusts instead of the system's store (a PEM file, a
  // directory of hashed certificates; "" for the system's). A job's own
  // TlsOptions::ca_bundle / ca_directory take precedence for that job.
  std::string ca_bundle;
  std::string ca_directory;
  // Allow URLs (in add_file() and in redirects) with schemes other than http
  // and https; otherwise XFERQ_E_UNSUPPORTED_SCHEME.
  bool allow_other_schemes = false;
  // Most redirects followed per download (and reply) request; past it the job
  // fails with XFERQ_E_TOO_MANY_REDIRECTS (fatal).
  int max_redirects = 10;
  // Downloads' libcurl receive buffer (CURLOPT_BUFFERSIZE): the 16 KiB default
  // is slow.
  long receive_buffer_bytes = 512 * 1024;
  // Bandwidth (xferq/bandwidth.h): the queue-wide limit in bytes per second
  // (0: none) this process's worker applies while the queue file holds none
  // of its own; Queue::set_bandwidth_limit() stores one that every process's
  // worker obeys instead.
  int64_t bandwidth_limit = 0;

  // Sent as User-Agent.
  std::string user_agent = "xferq/0.1";

  // A queue shared by hosts (a postgresql:// URL; docs/fleet.md). Ignored for
  // a SQLite file.
  // The identity this process works the queue as; "" for XFERQ_HOST_ID, else
  // "<hostname>-<first 12 hex digits of /etc/machine-id>". Two processes with
  // one identity must not run workers on different machines.
  std::string host_id;
  // How long a claimed job stays this host's without a renewal. The worker
  // renews its jobs' leases every third of it, transferring or not; a host
  // that stops renewing (killed, cut off) loses its running jobs to other
  // hosts once it ends. Measured by the database server's clock. At least 1 s.
  std::chrono::seconds host_lease{60};
};

}  // namespace xferq

#endif  // XFERQ_OPTIONS_H_
