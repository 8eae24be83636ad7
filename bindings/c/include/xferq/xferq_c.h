/* xferq/xferq_c.h — the C ABI of xferq (C99), for C programs and language
 * bindings (the Python package loads it from libxferq.so).
 *
 * It mirrors the C++ API (xferq/queue.h, xferq/job.h) one call for one call;
 * read those headers for the full rules of each call. Conventions:
 *
 * - Results are HRESULT-style codes (xferq_hr, a uint32_t) with the values of
 *   BITS / Delivery Optimization: XFERQ_S_OK (0) for success, the high bit
 *   set for failure (XFERQ_FAILED). xferq_hresult_name() and
 *   xferq_hresult_message() describe any code.
 * - Handles are opaque: xferq_queue* from xferq_queue_open(), released with
 *   xferq_queue_close(); xferq_job* from xferq_queue_create_job() /
 *   xferq_queue_get_job(), released with xferq_job_release(). Every function
 *   is safe to call from any thread without outside locking, as long as a
 *   handle is not released while another thread still uses it.
 * - Strings are UTF-8, NUL-terminated. Strings the library returns are copied
 *   into caller-owned buffers (buf, size): *required receives the bytes needed
 *   including the NUL; if size is too small the call returns
 *   XFERQ_E_INSUFFICIENT_BUFFER and writes only buf[0] = '\0' (when size > 0).
 *   Arrays the library allocates are released with their xferq_free_* call.
 * - A NULL handle or a NULL required pointer gives XFERQ_E_INVALIDARG (a NULL
 *   job handle: XFERQ_BG_E_NOT_FOUND). No function throws or aborts.
 * - Times are microseconds since the Unix epoch (UTC).
 */
#ifndef XFERQ_XFERQ_C_H_
#define XFERQ_XFERQ_C_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define XFERQ_C_API __attribute__((visibility("default")))
#else
#define XFERQ_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t xferq_hr;

#define XFERQ_SUCCEEDED(hr) (((xferq_hr)(hr) & 0x80000000u) == 0)
#define XFERQ_FAILED(hr) (((xferq_hr)(hr) & 0x80000000u) != 0)

/* Success codes. */
#define XFERQ_S_OK 0x00000000u
#define XFERQ_BG_S_PARTIAL_COMPLETE 0x00200017u
/* Failure codes (the reference's names, prefixed). */
#define XFERQ_DO_E_INVALID_STATE 0x80D02013u
#define XFERQ_BG_E_NOT_FOUND 0x80200001u
#define XFERQ_BG_E_EMPTY 0x80200003u
#define XFERQ_BG_E_ERROR_INFORMATION_UNAVAILABLE 0x8020000Fu
#define XFERQ_BG_E_STRING_TOO_LONG 0x80200021u
#define XFERQ_BG_E_TOO_MANY_FILES_IN_JOB 0x80200051u
#define XFERQ_BG_E_TOO_MANY_FILES 0x8020001Cu
#define XFERQ_BG_E_VALIDATION_FAILED 0x80200053u
#define XFERQ_BG_E_INSUFFICIENT_RANGE_SUPPORT 0x80200013u
#define XFERQ_BG_E_INVALID_SERVER_RESPONSE 0x8020001Bu
#define XFERQ_BG_E_INVALID_RANGE 0x8020002Bu
#define XFERQ_BG_E_OVERLAPPING_RANGES 0x8020002Cu
#define XFERQ_BG_E_TOO_MANY_RANGES_IN_FILE 0x80200052u
#define XFERQ_BG_E_MAXDOWNLOAD_TIMEOUT 0x80200054u
#define XFERQ_BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED 0x80200064u
#define XFERQ_DO_E_DOWNLOAD_NO_PROGRESS 0x80D02002u
#define XFERQ_E_INVALIDARG 0x80070057u
#define XFERQ_E_ACCESSDENIED 0x80070005u
#define XFERQ_E_NOTIMPL 0x80004001u
#define XFERQ_E_FAIL 0x80004005u
#define XFERQ_E_OUTOFMEMORY 0x8007000Eu
#define XFERQ_ERROR_FILE_NOT_FOUND 0x80070002u
#define XFERQ_ERROR_PATH_NOT_FOUND 0x80070003u
/* HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER): an output buffer is too small. */
#define XFERQ_E_INSUFFICIENT_BUFFER 0x8007007Au
#define XFERQ_E_DATABASE 0x80DF0001u
#define XFERQ_E_DATABASE_CORRUPT 0x80DF0002u
#define XFERQ_E_SCHEMA_TOO_NEW 0x80DF0003u
#define XFERQ_E_BUSY 0x80DF0004u
#define XFERQ_E_TRANSPORT 0x80DF0005u
#define XFERQ_E_UNSUPPORTED_SCHEME 0x80DF0006u
#define XFERQ_E_TOO_MANY_REDIRECTS 0x80DF0007u
#define XFERQ_E_TLS 0x80DF0008u
/* HTTP status nnn of a failed transfer: BG_E_HTTP_ERROR_nnn. */
#define XFERQ_BG_E_HTTP_ERROR(status) (0x80190000u + (uint32_t)(status))

/* BG_JOB_STATE. */
enum {
  XFERQ_STATE_QUEUED = 0,
  XFERQ_STATE_CONNECTING = 1,
  XFERQ_STATE_TRANSFERRING = 2,
  XFERQ_STATE_SUSPENDED = 3,
  XFERQ_STATE_ERROR = 4,
  XFERQ_STATE_TRANSIENT_ERROR = 5,
  XFERQ_STATE_TRANSFERRED = 6,
  XFERQ_STATE_ACKNOWLEDGED = 7,
  XFERQ_STATE_CANCELLED = 8
};
/* BG_JOB_TYPE. */
enum {
  XFERQ_JOB_TYPE_DOWNLOAD = 0,
  XFERQ_JOB_TYPE_UPLOAD = 1,
  XFERQ_JOB_TYPE_UPLOAD_REPLY = 2
};
/* BG_JOB_PRIORITY. */
enum {
  XFERQ_PRIORITY_FOREGROUND = 0,
  XFERQ_PRIORITY_HIGH = 1,
  XFERQ_PRIORITY_NORMAL = 2,
  XFERQ_PRIORITY_LOW = 3
};
/* BG_ERROR_CONTEXT. */
enum {
  XFERQ_CONTEXT_NONE = 0,
  XFERQ_CONTEXT_UNKNOWN = 1,
  XFERQ_CONTEXT_GENERAL_QUEUE_MANAGER = 2,
  XFERQ_CONTEXT_QUEUE_MANAGER_NOTIFICATION = 3,
  XFERQ_CONTEXT_LOCAL_FILE = 4,
  XFERQ_CONTEXT_REMOTE_FILE = 5,
  XFERQ_CONTEXT_GENERAL_TRANSPORT = 6,
  XFERQ_CONTEXT_REMOTE_APPLICATION = 7
};

/* A job id "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" plus its NUL. */
#define XFERQ_JOB_ID_SIZE 39

typedef struct xferq_queue xferq_queue;
typedef struct xferq_job xferq_job;

/* How a queue is opened (see xferq/options.h). Fill it with
 * xferq_queue_options_init() first, then change what you need. */
typedef struct xferq_queue_options {
  int start_worker;                    /* non-zero: start the worker on open (default 1) */
  int max_concurrent_transfers;        /* default 4 */
  uint32_t progress_interval_ms;       /* default 500 */
  uint32_t poll_interval_ms;           /* default 20 */
  uint32_t busy_timeout_ms;            /* default 10000 */
  int synchronous_full;                /* non-zero: PRAGMA synchronous=FULL (default 0, NORMAL) */
  uint32_t minimum_retry_delay_floor_s; /* default 5 */
  uint32_t stall_timeout_s;            /* default 60 */
  int verify_tls;                      /* default 1 */
  const char* user_agent;              /* NULL: "xferq/0.1"; copied by open */
} xferq_queue_options;

typedef struct xferq_progress {
  int64_t bytes_total; /* -1 until every file's size is known */
  int64_t bytes_transferred;
  uint32_t files_total;
  uint32_t files_transferred;
} xferq_progress;

typedef struct xferq_times {
  int64_t creation_us;
  int64_t modification_us;
  int64_t transfer_completion_us; /* 0 until the job reaches TRANSFERRED */
} xferq_times;

typedef struct xferq_error_info {
  xferq_hr hresult;   /* e.g. XFERQ_BG_E_HTTP_ERROR(404) */
  int32_t context;    /* XFERQ_CONTEXT_* */
  int32_t file_index; /* the file involved, or -1 */
} xferq_error_info;

typedef struct xferq_file_spec {
  const char* remote_url;
  const char* local_path;
} xferq_file_spec;

typedef struct xferq_file_info {
  const char* remote_url; /* these three point into the array's own block */
  const char* local_path;
  const char* temp_path;  /* "" until created */
  int64_t bytes_total;    /* -1 if unknown */
  int64_t bytes_transferred;
  int32_t completed;      /* non-zero: every byte is on disk */
} xferq_file_info;

/* Callbacks; each gets the `user` pointer given to xferq_queue_set_callbacks
 * and the job's id. They run on the worker thread (transfer events) or the
 * caller's thread (API calls) with no lock held; they may call the library. */
typedef void (*xferq_job_event_fn)(void* user, const char* job_id);
typedef void (*xferq_job_error_fn)(void* user, const char* job_id, const xferq_error_info* error,
                                   const char* description);
typedef struct xferq_callbacks {
  xferq_job_event_fn transferred; /* the job reached TRANSFERRED; may be NULL */
  xferq_job_error_fn error;       /* the job entered ERROR; may be NULL */
  xferq_job_event_fn modified;    /* anything else changed; may be NULL */
} xferq_callbacks;

/* ------------------------------------------------------------- codes */

/* The symbolic name of a code ("S_OK", "DO_E_INVALID_STATE",
 * "BG_E_HTTP_ERROR_404", or "0x%08X" if unknown). The string is static:
 * valid for the life of the process. Never NULL. */
XFERQ_C_API const char* xferq_hresult_name(xferq_hr hr);

/* A short English description of a code. Static, never NULL. */
XFERQ_C_API const char* xferq_hresult_message(xferq_hr hr);

/* BITS's names of a state / priority ("TRANSIENT_ERROR", "FOREGROUND"), or
 * "UNKNOWN". Static, never NULL. */
XFERQ_C_API const char* xferq_state_name(int32_t state);
XFERQ_C_API const char* xferq_priority_name(int32_t priority);

/* ------------------------------------------------------------- queue */

/* Fills *options with the defaults. */
XFERQ_C_API void xferq_queue_options_init(xferq_queue_options* options);

/* Opens or creates the queue at `path` (options NULL = defaults) and stores
 * the handle in *out (NULL on failure). Errors: XFERQ_E_DATABASE_CORRUPT,
 * XFERQ_E_SCHEMA_TOO_NEW, XFERQ_E_BUSY, XFERQ_E_DATABASE, XFERQ_E_INVALIDARG. */
XFERQ_C_API xferq_hr xferq_queue_open(const char* path, const xferq_queue_options* options,
                                      xferq_queue** out);

/* Stops the worker, forgets the callbacks and releases the handle (NULL is
 * fine). Job handles stay valid (they keep the database open) until released,
 * but nothing transfers any more. */
XFERQ_C_API void xferq_queue_close(xferq_queue* queue);

/* Starts / stops the worker thread. Idempotent. When stop returns, no
 * callback runs on the worker any more. */
XFERQ_C_API xferq_hr xferq_queue_start_worker(xferq_queue* queue);
XFERQ_C_API xferq_hr xferq_queue_stop_worker(xferq_queue* queue);

/* The round-robin time slice among jobs of one priority, in milliseconds
 * (QueueOptions::time_slice: default 300000, five minutes; 0 turns time
 * slices off). Set after open — xferq_queue_options keeps its layout — and
 * any time later: the running worker uses the new length from its next turn.
 * Not persisted. A job of a better priority preempts a worse one whatever
 * the slice. */
XFERQ_C_API xferq_hr xferq_queue_set_time_slice(xferq_queue* queue, uint32_t time_slice_ms);
XFERQ_C_API xferq_hr xferq_queue_time_slice(xferq_queue* queue, uint32_t* time_slice_ms);

/* Registers callbacks (copied; NULL removes them), replacing earlier ones.
 * `user` must stay valid until they are replaced, the worker is stopped or
 * the queue is closed; a callback already running may finish after this
 * returns. */
XFERQ_C_API xferq_hr xferq_queue_set_callbacks(xferq_queue* queue, const xferq_callbacks* callbacks,
                                               void* user);

/* More callbacks, registered apart from xferq_callbacks so that struct keeps
 * its layout. file_transferred: a file of the job is finished (every byte in
 * its temp file, or acknowledged by the upload server), once per file in
 * order, before the job's transferred. progress: the job's committed
 * progress, at least progress_interval_ms apart per job (0: no minimum;
 * BITS's MINIMUM_NOTIFICATION_INTERVAL_MS is 500) and, when progress_percent
 * is 1 to 100, only when the bytes crossed another multiple of that many
 * percent; plus one unthrottled call when the job reaches TRANSFERRED. Both
 * run on the worker thread with no lock held. */
typedef void (*xferq_file_event_fn)(void* user, const char* job_id, uint32_t file_index);
typedef void (*xferq_progress_fn)(void* user, const char* job_id, const xferq_progress* progress);
typedef struct xferq_progress_callbacks {
  xferq_file_event_fn file_transferred; /* may be NULL */
  xferq_progress_fn progress;           /* may be NULL */
  uint32_t progress_interval_ms;        /* minimum time between two progress calls of a job */
  uint32_t progress_percent;            /* 0: any change; 1..100: percent steps */
} xferq_progress_callbacks;

/* Registers the progress callbacks (copied; NULL removes them), replacing
 * earlier ones; the xferq_callbacks set with xferq_queue_set_callbacks stay,
 * and the other way round. `user` as for xferq_queue_set_callbacks. */
XFERQ_C_API xferq_hr xferq_queue_set_progress_callbacks(xferq_queue* queue,
                                                        const xferq_progress_callbacks* callbacks, void* user);

/* Creates a download job, SUSPENDED, with a new id; *out receives its handle.
 * XFERQ_E_INVALIDARG for an empty name, XFERQ_BG_E_STRING_TOO_LONG over 256
 * characters. */
XFERQ_C_API xferq_hr xferq_queue_create_job(xferq_queue* queue, const char* display_name,
                                            xferq_job** out);

/* Creates a job of `type` (XFERQ_JOB_TYPE_*), SUSPENDED. An upload job holds
 * one file: xferq_job_add_file(job, server_url, existing_local_file) sends it
 * with the BITS upload protocol (a second file: XFERQ_BG_E_TOO_MANY_FILES).
 * XFERQ_E_NOTIMPL for an unknown type; otherwise as xferq_queue_create_job. */
XFERQ_C_API xferq_hr xferq_queue_create_job_of_type(xferq_queue* queue, const char* display_name, int type,
                                                    xferq_job** out);

/* Upload-reply jobs: the path complete() puts the server's reply at (default:
 * the uploaded file's path + ".reply"). XFERQ_E_NOTIMPL for other job types,
 * XFERQ_DO_E_INVALID_STATE on a final job. */
XFERQ_C_API xferq_hr xferq_job_set_reply_file_name(xferq_job* job, const char* path);

/* Finds a job by id (braces and case optional); XFERQ_BG_E_NOT_FOUND if none.
 * Final jobs stay findable. */
XFERQ_C_API xferq_hr xferq_queue_get_job(xferq_queue* queue, const char* id, xferq_job** out);

/* The ids of the jobs in creation order: active ones, or all with
 * include_final non-zero. Writes up to `capacity` ids into `ids` (may be NULL
 * when capacity is 0) and the number of jobs into *count; returns
 * XFERQ_E_INSUFFICIENT_BUFFER if *count > capacity (call again with more). */
XFERQ_C_API xferq_hr xferq_queue_job_ids(xferq_queue* queue, int include_final,
                                         char (*ids)[XFERQ_JOB_ID_SIZE], size_t capacity,
                                         size_t* count);

/* --------------------------------------------------------------- job */

/* Releases a job handle (NULL is fine). The job itself is not changed. */
XFERQ_C_API void xferq_job_release(xferq_job* job);

/* The job's id; the string lives as long as the handle. "" for NULL. */
XFERQ_C_API const char* xferq_job_id(const xferq_job* job);

/* Adds a file: an http(s) URL and an absolute local path in an existing,
 * writable directory; it appears there only when the job is completed.
 * XFERQ_E_INVALIDARG (bad URL or path, path already used),
 * XFERQ_E_UNSUPPORTED_SCHEME, XFERQ_E_ACCESSDENIED,
 * XFERQ_BG_E_TOO_MANY_FILES_IN_JOB (over 200), XFERQ_BG_E_STRING_TOO_LONG,
 * XFERQ_DO_E_INVALID_STATE (final job). */
XFERQ_C_API xferq_hr xferq_job_add_file(xferq_job* job, const char* remote_url, const char* local_path);

/* Adds `count` files atomically: all of them or, on any error, none. */
XFERQ_C_API xferq_hr xferq_job_add_files(xferq_job* job, const xferq_file_spec* files, size_t count);

/* Pauses the job (SUSPENDED), keeping its bytes. XFERQ_DO_E_INVALID_STATE on
 * final jobs. */
XFERQ_C_API xferq_hr xferq_job_suspend(xferq_job* job);

/* Makes the job runnable (QUEUED). XFERQ_BG_E_EMPTY without files,
 * XFERQ_DO_E_INVALID_STATE on final jobs. */
XFERQ_C_API xferq_hr xferq_job_resume(xferq_job* job);

/* Cancels the job: CANCELLED, temp files deleted before it returns, its
 * transfer stopped. XFERQ_DO_E_INVALID_STATE if already CANCELLED or
 * ACKNOWLEDGED. */
XFERQ_C_API xferq_hr xferq_job_cancel(xferq_job* job);

/* Completes the job: ACKNOWLEDGED, finished files renamed to their final
 * paths before it returns. Returns XFERQ_S_OK if every file was finished,
 * XFERQ_BG_S_PARTIAL_COMPLETE if only some were (both successes), or a
 * failure (XFERQ_DO_E_INVALID_STATE on final jobs, a file error). */
XFERQ_C_API xferq_hr xferq_job_complete(xferq_job* job);

/* The job's state (XFERQ_STATE_*). */
XFERQ_C_API xferq_hr xferq_job_state(const xferq_job* job, int32_t* state);

/* Byte and file counts. */
XFERQ_C_API xferq_hr xferq_job_progress(const xferq_job* job, xferq_progress* progress);

/* Creation, last modification and transfer-completion times. */
XFERQ_C_API xferq_hr xferq_job_times(const xferq_job* job, xferq_times* times);

/* The last error of a job in ERROR or TRANSIENT_ERROR, and its description
 * (description may be NULL with size 0; `required` may then be NULL too).
 * XFERQ_BG_E_ERROR_INFORMATION_UNAVAILABLE in other states. */
XFERQ_C_API xferq_hr xferq_job_error(const xferq_job* job, xferq_error_info* info,
                                     char* description, size_t size, size_t* required);

/* How many errors the job has met. */
XFERQ_C_API xferq_hr xferq_job_error_count(const xferq_job* job, uint32_t* count);

/* The files in the order added: *files receives an array of *count entries
 * (NULL when 0) to release with xferq_free_files(). */
XFERQ_C_API xferq_hr xferq_job_files(const xferq_job* job, xferq_file_info** files, size_t* count);

/* Releases what xferq_job_files() returned (NULL is fine). */
XFERQ_C_API void xferq_free_files(xferq_file_info* files);

/* Properties. Setters return XFERQ_DO_E_INVALID_STATE on final jobs. */

/* XFERQ_PRIORITY_*; the setter gives XFERQ_E_NOTIMPL outside 0..3. */
XFERQ_C_API xferq_hr xferq_job_priority(const xferq_job* job, int32_t* priority);
XFERQ_C_API xferq_hr xferq_job_set_priority(xferq_job* job, int32_t priority);

/* The display name (at most 256 characters; not empty). String getters
 * follow the buffer convention at the top of this file. */
XFERQ_C_API xferq_hr xferq_job_display_name(const xferq_job* job, char* buf, size_t size,
                                            size_t* required);
XFERQ_C_API xferq_hr xferq_job_set_display_name(xferq_job* job, const char* name);

/* The description (at most 1,024 characters). */
XFERQ_C_API xferq_hr xferq_job_description(const xferq_job* job, char* buf, size_t size,
                                           size_t* required);
XFERQ_C_API xferq_hr xferq_job_set_description(xferq_job* job, const char* text);

/* Custom HTTP request headers, sent with every request of the job (BITS's
 * SetCustomHeaders): "Name: value" lines separated by CRLF or LF; "" clears
 * them. XFERQ_E_INVALIDARG for a malformed line, NUL/CR inside a line, or a
 * header xferq owns (Range, Accept-Encoding, Host, BITS-*, ...). The getter
 * gives them LF-separated. */
XFERQ_C_API xferq_hr xferq_job_custom_headers(const xferq_job* job, char* buf, size_t size, size_t* required);
XFERQ_C_API xferq_hr xferq_job_set_custom_headers(xferq_job* job, const char* headers);

/* BITS's security flags, the redirect ones: policy 0x0000 allow silently
 * (default), 0x0100 allow and report the final URL, 0x0200 disallow (a
 * redirect is a fatal error); 0x0800 allow https to be redirected to http.
 * XFERQ_E_INVALIDARG for any other bit. */
#define XFERQ_REDIRECT_POLICY_ALLOW_SILENT 0x0000u
#define XFERQ_REDIRECT_POLICY_ALLOW_REPORT 0x0100u
#define XFERQ_REDIRECT_POLICY_DISALLOW 0x0200u
#define XFERQ_REDIRECT_ALLOW_HTTPS_TO_HTTP 0x0800u
/* Credentials (BITS's SetCredentials): target 0 server, 1 proxy; scheme 0
 * Basic, 1 Digest, 2 Bearer (the token in `password`, `user` ignored).
 * Stored in the 0600 queue file, never shown; sent to the origin only. */
#define XFERQ_AUTH_TARGET_SERVER 0
#define XFERQ_AUTH_TARGET_PROXY 1
#define XFERQ_AUTH_SCHEME_BASIC 0
#define XFERQ_AUTH_SCHEME_DIGEST 1
#define XFERQ_AUTH_SCHEME_BEARER 2
XFERQ_C_API xferq_hr xferq_job_set_credentials(xferq_job* job, int32_t target, int32_t scheme, const char* user,
                                               const char* password);
XFERQ_C_API xferq_hr xferq_job_remove_credentials(xferq_job* job, int32_t target, int32_t scheme);
/* Proxy settings (BITS's SetProxySettings): usage 0 PRECONFIG (the
 * environment's *_proxy), 1 NO_PROXY, 2 OVERRIDE (the first proxy of
 * `proxy_list`, except for the hosts of `bypass_list`; both may be NULL
 * otherwise). */
#define XFERQ_PROXY_USAGE_PRECONFIG 0
#define XFERQ_PROXY_USAGE_NO_PROXY 1
#define XFERQ_PROXY_USAGE_OVERRIDE 2
XFERQ_C_API xferq_hr xferq_job_set_proxy_settings(xferq_job* job, int32_t usage, const char* proxy_list,
                                                  const char* bypass_list);
XFERQ_C_API xferq_hr xferq_job_security_flags(const xferq_job* job, uint32_t* flags);
XFERQ_C_API xferq_hr xferq_job_set_security_flags(xferq_job* job, uint32_t flags);

/* TLS options (Job::set_tls_options): PEM files by absolute path, NULL or
 * "" for none — a CA bundle and a directory of hashed CA certificates trusted
 * instead of the system's, a client certificate and its key (NULL: in the
 * certificate's file) for mutual TLS, and the key's passphrase (stored in the
 * 0600 queue file, never read back). Checked when set: XFERQ_E_INVALIDARG
 * (relative path, not PEM, a key without a certificate),
 * XFERQ_ERROR_FILE_NOT_FOUND, XFERQ_E_ACCESSDENIED; nothing changes then.
 * The getter gives one of them by XFERQ_TLS_* (the passphrase: "1" if one
 * is stored, else ""), in the buffer convention at the top of this file. */
#define XFERQ_TLS_CA_BUNDLE 0
#define XFERQ_TLS_CA_DIRECTORY 1
#define XFERQ_TLS_CLIENT_CERTIFICATE 2
#define XFERQ_TLS_CLIENT_KEY 3
#define XFERQ_TLS_HAS_KEY_PASSWORD 4
XFERQ_C_API xferq_hr xferq_job_set_tls_options(xferq_job* job, const char* ca_bundle, const char* ca_directory,
                                               const char* client_certificate, const char* client_key,
                                               const char* client_key_password);
XFERQ_C_API xferq_hr xferq_job_tls_option(const xferq_job* job, int32_t which, char* buf, size_t size,
                                          size_t* required);

/* New remote names for a download job's files (BITS's SetRemoteName and
 * ReplaceRemotePrefix): the bytes fetched are kept, If-Range guards the
 * resume. XFERQ_E_NOTIMPL for upload jobs; XFERQ_E_INVALIDARG for a bad URL
 * or an index past the last file; replace is all or none. */
XFERQ_C_API xferq_hr xferq_job_set_remote_name(xferq_job* job, uint32_t file_index, const char* url);
XFERQ_C_API xferq_hr xferq_job_replace_remote_prefix(xferq_job* job, const char* old_prefix, const char* new_prefix);

/* Limits: the most bytes the job may download in all (0: none; exceeded:
 * ERROR with XFERQ_BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED) and the most seconds
 * it may spend CONNECTING and TRANSFERRING (default 7,776,000; 0 sets the
 * default; exceeded: ERROR with XFERQ_BG_E_MAXDOWNLOAD_TIMEOUT; Resume
 * restarts the count). */
XFERQ_C_API xferq_hr xferq_job_max_download_size(const xferq_job* job, uint64_t* bytes);
XFERQ_C_API xferq_hr xferq_job_set_max_download_size(xferq_job* job, uint64_t bytes);
XFERQ_C_API xferq_hr xferq_job_maximum_download_time(const xferq_job* job, uint32_t* seconds);
XFERQ_C_API xferq_hr xferq_job_set_maximum_download_time(xferq_job* job, uint32_t seconds);

/* Integrity (FileSpec::integrity): a download's expected size (-1: none) and
 * SHA-256 / SHA-512 as hex (NULL or "": none), checked before the file counts
 * as transferred; a mismatch is ERROR with XFERQ_BG_E_VALIDATION_FAILED, the
 * bytes deleted. add_file_with_integrity is add_file plus them;
 * set_file_integrity changes them while the file is not transferred
 * (XFERQ_DO_E_INVALID_STATE after); set_validation_state(…, 0) rejects a
 * transferred file (BITS's SetValidationState): ERROR, the bytes deleted,
 * resume fetches it again. The getter fills *size and the two buffers ("" for
 * none; 65 and 129 bytes, NUL included). */
XFERQ_C_API xferq_hr xferq_job_add_file_with_integrity(xferq_job* job, const char* remote_url, const char* local_path,
                                                       int64_t size, const char* sha256, const char* sha512);
XFERQ_C_API xferq_hr xferq_job_set_file_integrity(xferq_job* job, uint32_t file_index, int64_t size,
                                                  const char* sha256, const char* sha512);
XFERQ_C_API xferq_hr xferq_job_file_integrity(const xferq_job* job, uint32_t file_index, int64_t* size,
                                              char sha256[65], char sha512[129]);
XFERQ_C_API xferq_hr xferq_job_set_validation_state(xferq_job* job, uint32_t file_index, int valid);

/* What the last response for file `file_index` said (FileInfo's response
 * metadata): *response receives one block to release with
 * xferq_free_file_response(). Strings are "" when absent; final_url is set
 * under XFERQ_REDIRECT_POLICY_ALLOW_REPORT only. XFERQ_E_INVALIDARG for an
 * index past the last file. */
typedef struct xferq_file_response {
  int32_t http_status; /* 0 before any response */
  const char* final_url;
  const char* etag;
  const char* last_modified;
  const char* content_type;
  const char* content_disposition;
} xferq_file_response;
XFERQ_C_API xferq_hr xferq_job_file_response(const xferq_job* job, uint32_t file_index,
                                             xferq_file_response** response);
XFERQ_C_API void xferq_free_file_response(xferq_file_response* response);

/* The notify command line (BITS's SetNotifyCmdLine; see Job::set_notify_command_line
 * in xferq/job.h): `program` (absolute path of an executable) is started
 * without a shell with args[0..arg_count) as its arguments when the job
 * reaches TRANSFERRED or ERROR; every "{job}" in an argument becomes the
 * job's id. program "" (or NULL) with no arguments removes it.
 * XFERQ_BG_E_STRING_TOO_LONG, XFERQ_E_INVALIDARG, ERROR_FILE_NOT_FOUND,
 * XFERQ_E_ACCESSDENIED as job.h says. The getter writes the program and then
 * each argument into `buf`, each NUL-terminated, and the argument count to
 * *arg_count (may be NULL); "" and 0 when none is set. */
XFERQ_C_API xferq_hr xferq_job_set_notify_command_line(xferq_job* job, const char* program,
                                                       const char* const* args, size_t arg_count);
XFERQ_C_API xferq_hr xferq_job_notify_command_line(const xferq_job* job, char* buf, size_t size,
                                                   size_t* required, size_t* arg_count);

/* Seconds to wait in TRANSIENT_ERROR before retrying (default 600; raised to
 * the queue's floor). */
XFERQ_C_API xferq_hr xferq_job_minimum_retry_delay(const xferq_job* job, uint32_t* seconds);
XFERQ_C_API xferq_hr xferq_job_set_minimum_retry_delay(xferq_job* job, uint32_t seconds);

/* Seconds without progress before a transient error becomes fatal (default
 * 1,209,600; 0: every error is fatal). */
XFERQ_C_API xferq_hr xferq_job_no_progress_timeout(const xferq_job* job, uint32_t* seconds);
XFERQ_C_API xferq_hr xferq_job_set_no_progress_timeout(xferq_job* job, uint32_t seconds);

/* ---- Bandwidth limits (see xferq/bandwidth.h) ----------------------------
 * Bytes per second, 0 = none. Stored in the queue file: every process sees
 * the same values, and the serving worker (here or in another process)
 * applies a change to running transfers within a second. The queue-wide limit
 * is shared by every running transfer but FOREGROUND ones; a priority's
 * limit caps each transfer of that priority (FOREGROUND included); a job's
 * limit caps the job. Setters: XFERQ_E_INVALIDARG for a negative value or one
 * above 2^40, XFERQ_E_NOTIMPL for a priority outside 0..3; on error nothing
 * changes. Thread safety: as every call on a handle. */
typedef struct xferq_bandwidth_window {
  uint8_t days;          /* bit N = weekday N (0 = Sunday, as tm_wday); 1..127 */
  int32_t start_hour;    /* 0..23, local time */
  int32_t end_hour;      /* start_hour+1..24 (exclusive) */
  int64_t bytes_per_sec; /* the queue-wide limit inside the window; 0 = none */
} xferq_bandwidth_window;

/* The queue-wide limit outside the schedule's windows. The getter answers the
 * stored value, or 0 while none was stored. */
XFERQ_C_API xferq_hr xferq_queue_set_bandwidth_limit(xferq_queue* queue, int64_t bytes_per_sec);
XFERQ_C_API xferq_hr xferq_queue_bandwidth_limit(xferq_queue* queue, int64_t* bytes_per_sec);
/* A cap on each transfer of `priority` (XFERQ_PRIORITY_*). */
XFERQ_C_API xferq_hr xferq_queue_set_priority_bandwidth_limit(xferq_queue* queue, int32_t priority,
                                                              int64_t bytes_per_sec);
XFERQ_C_API xferq_hr xferq_queue_priority_bandwidth_limit(xferq_queue* queue, int32_t priority,
                                                          int64_t* bytes_per_sec);
/* Replaces the schedule with `count` windows (0: none; windows may be NULL
 * then). The first window covering the local hour wins. XFERQ_E_INVALIDARG
 * for a bad window or more than 64. */
XFERQ_C_API xferq_hr xferq_queue_set_bandwidth_schedule(xferq_queue* queue, const xferq_bandwidth_window* windows,
                                                        size_t count);
/* *count receives the schedule's length; up to `capacity` windows are copied
 * into `windows` (NULL with capacity 0 asks for the length only).
 * XFERQ_E_INSUFFICIENT_BUFFER if capacity is smaller than the length. */
XFERQ_C_API xferq_hr xferq_queue_bandwidth_schedule(xferq_queue* queue, xferq_bandwidth_window* windows,
                                                    size_t capacity, size_t* count);
/* The job's own limit (0: none); settable in every state but the final ones. */
XFERQ_C_API xferq_hr xferq_job_bandwidth_limit(const xferq_job* job, int64_t* bytes_per_sec);
XFERQ_C_API xferq_hr xferq_job_set_bandwidth_limit(xferq_job* job, int64_t bytes_per_sec);

/* BITS's AddFileWithRanges (Job::add_file_with_ranges): only these `count`
 * ranges of remote_url, back-to-back in the given order, make the local file.
 * length XFERQ_LENGTH_TO_EOF: to the end of the remote file. XFERQ_E_INVALIDARG
 * for count 0 (ranges may be NULL then), XFERQ_E_NOTIMPL on upload jobs,
 * XFERQ_BG_E_TOO_MANY_RANGES_IN_FILE past 500, XFERQ_BG_E_INVALID_RANGE,
 * XFERQ_BG_E_OVERLAPPING_RANGES; otherwise as xferq_job_add_file. */
#define XFERQ_LENGTH_TO_EOF UINT64_MAX
typedef struct xferq_file_range {
  uint64_t offset;
  uint64_t length; /* or XFERQ_LENGTH_TO_EOF */
} xferq_file_range;
XFERQ_C_API xferq_hr xferq_job_add_file_with_ranges(xferq_job* job, const char* remote_url, const char* local_path,
                                                    const xferq_file_range* ranges, size_t count);
/* File `file_index`'s ranges: *count receives how many (0: the whole file);
 * up to `capacity` are copied (NULL with capacity 0 asks for the count).
 * XFERQ_E_INSUFFICIENT_BUFFER if capacity is smaller; XFERQ_E_INVALIDARG
 * past the last file. */
XFERQ_C_API xferq_hr xferq_job_file_ranges(const xferq_job* job, uint32_t file_index, xferq_file_range* ranges,
                                           size_t capacity, size_t* count);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XFERQ_XFERQ_C_H_ */
