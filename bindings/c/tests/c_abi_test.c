/* c_abi_test.c — jobs' whole lives through the C ABI, in C99.
 *
 * Compiled as C and linked into a GoogleTest binary (c_abi_driver.cc) that
 * serves the files; see c_abi_scenario.h. Every call's code is checked. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "c_abi_scenario.h"
#include "xferq/xferq_c.h"

/* ------------------------------------------------------------ checks */

#define EXPECT_HR(call, want)                                                              \
  do {                                                                                     \
    xferq_hr got_ = (call);                                                                \
    xferq_hr want_ = (xferq_hr)(want);                                                     \
    if (got_ != want_) {                                                                   \
      fprintf(stderr, "%s:%d: %s\n  returned %s (0x%08X: %s), expected %s (0x%08X)\n",    \
              __FILE__, __LINE__, #call, xferq_hresult_name(got_), (unsigned)got_,         \
              xferq_hresult_message(got_), xferq_hresult_name(want_), (unsigned)want_);    \
      return __LINE__;                                                                     \
    }                                                                                      \
  } while (0)

#define EXPECT_TRUE(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);      \
      return __LINE__;                                                         \
    }                                                                          \
  } while (0)

#define EXPECT_STREQ(a, b)                                                                    \
  do {                                                                                        \
    const char* a_ = (a);                                                                     \
    const char* b_ = (b);                                                                     \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                    \
      fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
              a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                        \
      return __LINE__;                                                                        \
    }                                                                                         \
  } while (0)

#define RUN(step)              \
  do {                         \
    int line_ = (step);        \
    if (line_ != 0) return line_; \
  } while (0)

/* --------------------------------------------------------- helpers */

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int file_exists(const char* path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static long long file_size(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Polls the job's state until `want` or about timeout_ms; 1 if reached. */
static int wait_state(xferq_job* job, int32_t want, long timeout_ms) {
  long waited = 0;
  for (;;) {
    int32_t s = -1;
    if (xferq_job_state(job, &s) == XFERQ_S_OK && s == want) return 1;
    if (waited >= timeout_ms) return 0;
    sleep_ms(5);
    waited += 5;
  }
}

/* What the callbacks saw; they run on the worker thread. */
struct events {
  pthread_mutex_t mu;
  int transferred;
  int errors;
  int modified;
  xferq_hr last_error;
  int32_t last_error_context;
  char last_error_job[XFERQ_JOB_ID_SIZE];
};

static void on_transferred(void* user, const char* job_id) {
  struct events* ev = (struct events*)user;
  (void)job_id;
  pthread_mutex_lock(&ev->mu);
  ev->transferred++;
  pthread_mutex_unlock(&ev->mu);
}

static void on_error(void* user, const char* job_id, const xferq_error_info* error,
                     const char* description) {
  struct events* ev = (struct events*)user;
  (void)description;
  pthread_mutex_lock(&ev->mu);
  ev->errors++;
  ev->last_error = error->hresult;
  ev->last_error_context = error->context;
  snprintf(ev->last_error_job, sizeof ev->last_error_job, "%s", job_id);
  pthread_mutex_unlock(&ev->mu);
}

static void on_modified(void* user, const char* job_id) {
  struct events* ev = (struct events*)user;
  (void)job_id;
  pthread_mutex_lock(&ev->mu);
  ev->modified++;
  pthread_mutex_unlock(&ev->mu);
}

static int events_transferred(struct events* ev) {
  int n;
  pthread_mutex_lock(&ev->mu);
  n = ev->transferred;
  pthread_mutex_unlock(&ev->mu);
  return n;
}

/* Everything the scenario holds, released by cleanup() whatever happened. */
struct ctx {
  const char* base_url;
  const char* dir;
  xferq_queue* queue;
  xferq_job* done;      /* completed job */
  xferq_job* cancelled; /* cancelled mid-transfer */
  xferq_job* partial;   /* one file 404: ERROR, then partial complete */
  xferq_job* other;     /* scratch handle */
  char done_id[XFERQ_JOB_ID_SIZE];
  char cancelled_id[XFERQ_JOB_ID_SIZE];
  struct events ev;
};

static void path_in(const struct ctx* c, const char* name, char* out, size_t size) {
  snprintf(out, size, "%s/%s", c->dir, name);
}

static void url_of(const struct ctx* c, const char* path, char* out, size_t size) {
  snprintf(out, size, "%s%s", c->base_url, path);
}

/* ------------------------------------------------------------ steps */

static int check_codes(void) {
  EXPECT_STREQ(xferq_hresult_name(XFERQ_S_OK), "S_OK");
  EXPECT_STREQ(xferq_hresult_name(XFERQ_BG_S_PARTIAL_COMPLETE), "BG_S_PARTIAL_COMPLETE");
  EXPECT_STREQ(xferq_hresult_name(0x80D02013u), "DO_E_INVALID_STATE");
  EXPECT_STREQ(xferq_hresult_name(0x80200001u), "BG_E_NOT_FOUND");
  EXPECT_STREQ(xferq_hresult_name(XFERQ_BG_E_HTTP_ERROR(404)), "BG_E_HTTP_ERROR_404");
  EXPECT_STREQ(xferq_hresult_name(XFERQ_E_INSUFFICIENT_BUFFER), "ERROR_INSUFFICIENT_BUFFER");
  EXPECT_STREQ(xferq_hresult_name(XFERQ_BG_E_MAXDOWNLOAD_TIMEOUT), "BG_E_MAXDOWNLOAD_TIMEOUT");
  EXPECT_STREQ(xferq_hresult_name(XFERQ_BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED), "BG_E_MAX_DOWNLOAD_SIZE_LIMIT_REACHED");
  EXPECT_STREQ(xferq_hresult_name(0x12345678u), "0x12345678");
  /* Static strings: the same pointer every time. */
  EXPECT_TRUE(xferq_hresult_name(0x12345678u) == xferq_hresult_name(0x12345678u));
  EXPECT_TRUE(strlen(xferq_hresult_message(XFERQ_DO_E_INVALID_STATE)) > 0);
  EXPECT_TRUE(strstr(xferq_hresult_message(XFERQ_BG_E_HTTP_ERROR(503)), "503") != NULL);
  EXPECT_TRUE(XFERQ_FAILED(XFERQ_DO_E_INVALID_STATE) && XFERQ_SUCCEEDED(XFERQ_BG_S_PARTIAL_COMPLETE));
  EXPECT_STREQ(xferq_state_name(XFERQ_STATE_TRANSIENT_ERROR), "TRANSIENT_ERROR");
  EXPECT_STREQ(xferq_state_name(XFERQ_STATE_CANCELLED), "CANCELLED");
  EXPECT_STREQ(xferq_state_name(42), "UNKNOWN");
  EXPECT_STREQ(xferq_priority_name(XFERQ_PRIORITY_FOREGROUND), "FOREGROUND");
  /* NULL handles. */
  EXPECT_HR(xferq_job_cancel(NULL), XFERQ_BG_E_NOT_FOUND);
  EXPECT_HR(xferq_queue_start_worker(NULL), XFERQ_E_INVALIDARG);
  EXPECT_STREQ(xferq_job_id(NULL), "");
  xferq_job_release(NULL);
  xferq_queue_close(NULL);
  xferq_free_files(NULL);
  xferq_free_file_response(NULL);
  return 0;
}

static int open_queue(struct ctx* c) {
  char path[1024];
  xferq_queue* q = (xferq_queue*)&q; /* must be reset to NULL on failure */
  xferq_queue_options o;
  xferq_callbacks cb;
  FILE* f;

  EXPECT_HR(xferq_queue_open(NULL, NULL, &q), XFERQ_E_INVALIDARG);
  EXPECT_TRUE(q == NULL);

  /* Not a queue file: refused, left alone. */
  path_in(c, "garbage.db", path, sizeof path);
  f = fopen(path, "wb");
  EXPECT_TRUE(f != NULL);
  {
    int i;
    for (i = 0; i < 512; ++i) fputs("this is not a database ", f);
  }
  fclose(f);
  EXPECT_HR(xferq_queue_open(path, NULL, &q), XFERQ_E_DATABASE_CORRUPT);
  EXPECT_TRUE(q == NULL);

  xferq_queue_options_init(&o);
  EXPECT_TRUE(o.start_worker == 1 && o.max_concurrent_transfers == 4 && o.verify_tls == 1);
  o.progress_interval_ms = 50;
  o.poll_interval_ms = 10;
  o.minimum_retry_delay_floor_s = 0;
  o.stall_timeout_s = 30;
  o.user_agent = "xferq-c-abi-test";
  path_in(c, "queue.db", path, sizeof path);
  EXPECT_HR(xferq_queue_open(path, &o, &c->queue), XFERQ_S_OK);
  EXPECT_TRUE(c->queue != NULL);

  cb.transferred = on_transferred;
  cb.error = on_error;
  cb.modified = on_modified;
  EXPECT_HR(xferq_queue_set_callbacks(c->queue, &cb, &c->ev), XFERQ_S_OK);

  /* The time slice: not in the options struct (its layout stays), a setter. */
  {
    uint32_t slice = 0;
    EXPECT_HR(xferq_queue_time_slice(c->queue, &slice), XFERQ_S_OK);
    EXPECT_TRUE(slice == 300000);
    EXPECT_HR(xferq_queue_set_time_slice(c->queue, 250), XFERQ_S_OK);
    EXPECT_HR(xferq_queue_time_slice(c->queue, &slice), XFERQ_S_OK);
    EXPECT_TRUE(slice == 250);
    EXPECT_HR(xferq_queue_set_time_slice(c->queue, 300000), XFERQ_S_OK);
    EXPECT_HR(xferq_queue_set_time_slice(NULL, 1), XFERQ_E_INVALIDARG);
    EXPECT_HR(xferq_queue_time_slice(c->queue, NULL), XFERQ_E_INVALIDARG);
  }
  return 0;
}

static int properties(struct ctx* c) {
  xferq_job* j = c->done;
  char buf[64];
  char tiny[4];
  size_t required = 0;
  int32_t i32 = -1;
  uint32_t u32 = 0;
  xferq_error_info info;

  EXPECT_HR(xferq_job_error(j, &info, NULL, 0, NULL), XFERQ_BG_E_ERROR_INFORMATION_UNAVAILABLE);

  EXPECT_HR(xferq_job_priority(j, &i32), XFERQ_S_OK);
  EXPECT_TRUE(i32 == XFERQ_PRIORITY_NORMAL);
  EXPECT_HR(xferq_job_set_priority(j, XFERQ_PRIORITY_HIGH), XFERQ_S_OK);
  EXPECT_HR(xferq_job_priority(j, &i32), XFERQ_S_OK);
  EXPECT_TRUE(i32 == XFERQ_PRIORITY_HIGH);
  EXPECT_HR(xferq_job_set_priority(j, 7), XFERQ_E_NOTIMPL);
  EXPECT_HR(xferq_job_priority(j, NULL), XFERQ_E_INVALIDARG);

  /* The buffer convention: size first, then the string. */
  EXPECT_HR(xferq_job_display_name(j, NULL, 0, &required), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(required == strlen("c-abi job") + 1);
  tiny[0] = 'x';
  EXPECT_HR(xferq_job_display_name(j, tiny, sizeof tiny, &required), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(tiny[0] == '\0' && required == 10);
  EXPECT_HR(xferq_job_display_name(j, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, "c-abi job");
  EXPECT_HR(xferq_job_set_display_name(j, "c-abi job \xc3\xa9t\xc3\xa9"), XFERQ_S_OK); /* UTF-8 */
  EXPECT_HR(xferq_job_display_name(j, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, "c-abi job \xc3\xa9t\xc3\xa9");
  EXPECT_HR(xferq_job_set_display_name(j, ""), XFERQ_E_INVALIDARG);

  EXPECT_HR(xferq_job_description(j, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, "");
  EXPECT_HR(xferq_job_set_description(j, "from C"), XFERQ_S_OK);
  EXPECT_HR(xferq_job_description(j, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, "from C");

  EXPECT_HR(xferq_job_minimum_retry_delay(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 600);
  EXPECT_HR(xferq_job_set_minimum_retry_delay(j, 30), XFERQ_S_OK);
  EXPECT_HR(xferq_job_minimum_retry_delay(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 30);
  EXPECT_HR(xferq_job_no_progress_timeout(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 1209600);
  EXPECT_HR(xferq_job_set_no_progress_timeout(j, 3600), XFERQ_S_OK);
  EXPECT_HR(xferq_job_no_progress_timeout(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 3600);
  EXPECT_HR(xferq_job_error_count(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 0);
  return 0;
}

/* Bandwidth limits: queue-wide, per priority, schedule and per job; bad
 * input refused with nothing changed. */
static int bandwidth(struct ctx* c) {
  xferq_job* j = NULL;
  int64_t v = -1;
  size_t n = 99;
  xferq_bandwidth_window w[2] = {{0x3e, 9, 17, 1000000}, {0x41, 0, 24, 0}};
  xferq_bandwidth_window out[2];
  xferq_bandwidth_window bad = {0, 9, 17, 1};

  EXPECT_HR(xferq_queue_bandwidth_limit(c->queue, &v), XFERQ_S_OK);
  EXPECT_TRUE(v == 0);
  EXPECT_HR(xferq_queue_set_bandwidth_limit(c->queue, 20000000), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_set_bandwidth_limit(c->queue, -1), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_queue_bandwidth_limit(c->queue, &v), XFERQ_S_OK);
  EXPECT_TRUE(v == 20000000);
  EXPECT_HR(xferq_queue_set_priority_bandwidth_limit(c->queue, XFERQ_PRIORITY_LOW, 1000), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_set_priority_bandwidth_limit(c->queue, 9, 1000), XFERQ_E_NOTIMPL);
  EXPECT_HR(xferq_queue_priority_bandwidth_limit(c->queue, XFERQ_PRIORITY_LOW, &v), XFERQ_S_OK);
  EXPECT_TRUE(v == 1000);
  EXPECT_HR(xferq_queue_set_bandwidth_schedule(c->queue, w, 2), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_set_bandwidth_schedule(c->queue, &bad, 1), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_queue_bandwidth_schedule(c->queue, NULL, 0, &n), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(n == 2);
  EXPECT_HR(xferq_queue_bandwidth_schedule(c->queue, out, 2, &n), XFERQ_S_OK);
  EXPECT_TRUE(out[0].days == 0x3e && out[0].start_hour == 9 && out[0].end_hour == 17 && out[0].bytes_per_sec == 1000000);
  EXPECT_TRUE(out[1].days == 0x41 && out[1].bytes_per_sec == 0);
  /* Back to none, so the transfers of the other steps run unthrottled. */
  EXPECT_HR(xferq_queue_set_bandwidth_schedule(c->queue, NULL, 0), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_set_bandwidth_limit(c->queue, 0), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_set_priority_bandwidth_limit(c->queue, XFERQ_PRIORITY_LOW, 0), XFERQ_S_OK);

  EXPECT_HR(xferq_queue_create_job(c->queue, "bandwidth", &j), XFERQ_S_OK);
  EXPECT_HR(xferq_job_bandwidth_limit(j, &v), XFERQ_S_OK);
  EXPECT_TRUE(v == 0);
  EXPECT_HR(xferq_job_set_bandwidth_limit(j, 250000), XFERQ_S_OK);
  EXPECT_HR(xferq_job_set_bandwidth_limit(j, -5), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_bandwidth_limit(j, &v), XFERQ_S_OK);
  EXPECT_TRUE(v == 250000);
  EXPECT_HR(xferq_job_cancel(j), XFERQ_S_OK);
  xferq_job_release(j);
  return 0;
}

/* HTTP options and limits on a job with two files, before it runs. */
static int http_options(struct ctx* c, xferq_job* j, const char* url) {
  char buf[256];
  size_t required = 0;
  uint64_t u64 = 1;
  uint32_t u32 = 0;

  EXPECT_HR(xferq_job_set_remote_name(j, 0, url), XFERQ_S_OK);
  EXPECT_HR(xferq_job_set_remote_name(j, 2, url), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_set_remote_name(j, 0, "ftp://127.0.0.1/x"), XFERQ_E_UNSUPPORTED_SCHEME);
  EXPECT_HR(xferq_job_set_remote_name(j, 0, NULL), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_replace_remote_prefix(j, c->base_url, c->base_url), XFERQ_S_OK);
  EXPECT_HR(xferq_job_replace_remote_prefix(j, "", c->base_url), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_replace_remote_prefix(j, c->base_url, "ftp://h"), XFERQ_E_UNSUPPORTED_SCHEME);

  EXPECT_HR(xferq_job_max_download_size(j, &u64), XFERQ_S_OK);
  EXPECT_TRUE(u64 == 0);
  EXPECT_HR(xferq_job_set_max_download_size(j, 1u << 30), XFERQ_S_OK);
  EXPECT_HR(xferq_job_max_download_size(j, &u64), XFERQ_S_OK);
  EXPECT_TRUE(u64 == (1u << 30));
  EXPECT_HR(xferq_job_maximum_download_time(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 7776000);
  EXPECT_HR(xferq_job_set_maximum_download_time(j, 3600), XFERQ_S_OK);
  EXPECT_HR(xferq_job_maximum_download_time(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 3600);
  EXPECT_HR(xferq_job_set_maximum_download_time(j, 0), XFERQ_S_OK); /* back to the default */
  EXPECT_HR(xferq_job_maximum_download_time(j, &u32), XFERQ_S_OK);
  EXPECT_TRUE(u32 == 7776000);

  EXPECT_HR(xferq_job_set_tls_options(j, "relative.pem", NULL, NULL, NULL, NULL), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_set_tls_options(j, "/nonexistent/ca.pem", NULL, NULL, NULL, NULL),
            XFERQ_ERROR_FILE_NOT_FOUND);
  EXPECT_HR(xferq_job_set_tls_options(j, NULL, NULL, NULL, "/tmp/key.pem", NULL), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_set_tls_options(j, NULL, c->dir, NULL, NULL, NULL), XFERQ_S_OK);
  EXPECT_HR(xferq_job_tls_option(j, XFERQ_TLS_CA_DIRECTORY, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, c->dir);
  EXPECT_HR(xferq_job_tls_option(j, 9, buf, sizeof buf, &required), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_set_tls_options(j, NULL, NULL, NULL, NULL, NULL), XFERQ_S_OK);
  EXPECT_HR(xferq_job_tls_option(j, XFERQ_TLS_CA_DIRECTORY, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, "");
  EXPECT_HR(xferq_job_tls_option(j, XFERQ_TLS_HAS_KEY_PASSWORD, buf, sizeof buf, &required), XFERQ_S_OK);
  EXPECT_STREQ(buf, "");
  return 0;
}

/* Create, inspect, fill, run, complete: S_OK, files in place. */
static int completed_job(struct ctx* c) {
  xferq_job* j = NULL;
  char url[512], a[1024], b[1024];
  int32_t state = -1;
  xferq_progress p;
  xferq_times t;
  xferq_file_info* files = NULL;
  size_t count = 0;
  xferq_file_spec specs[2];
  char ids[4][XFERQ_JOB_ID_SIZE];
  char temp0[1024];
  long long now_us = (long long)time(NULL) * 1000000LL;
  int waited;

  EXPECT_HR(xferq_queue_create_job(c->queue, "", &j), XFERQ_E_INVALIDARG);
  EXPECT_TRUE(j == NULL);
  EXPECT_HR(xferq_queue_create_job(c->queue, "c-abi job", &c->done), XFERQ_S_OK);
  j = c->done;
  EXPECT_TRUE(strlen(xferq_job_id(j)) == XFERQ_JOB_ID_SIZE - 1 && xferq_job_id(j)[0] == '{');
  snprintf(c->done_id, sizeof c->done_id, "%s", xferq_job_id(j));

  EXPECT_HR(xferq_job_state(j, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_SUSPENDED);

  /* Finding it again, and not finding others. */
  EXPECT_HR(xferq_queue_get_job(c->queue, c->done_id, &c->other), XFERQ_S_OK);
  EXPECT_STREQ(xferq_job_id(c->other), c->done_id);
  xferq_job_release(c->other);
  c->other = NULL;
  EXPECT_HR(xferq_queue_get_job(c->queue, "{00000000-0000-0000-0000-000000000000}", &c->other),
            XFERQ_BG_E_NOT_FOUND);
  EXPECT_TRUE(c->other == NULL);

  EXPECT_HR(xferq_job_resume(j), XFERQ_BG_E_EMPTY);
  RUN(properties(c));

  EXPECT_HR(xferq_job_progress(j, &p), XFERQ_S_OK);
  EXPECT_TRUE(p.files_total == 0 && p.bytes_transferred == 0);
  EXPECT_HR(xferq_job_times(j, &t), XFERQ_S_OK);
  EXPECT_TRUE(t.creation_us > now_us - 86400000000LL && t.creation_us < now_us + 86400000000LL);
  EXPECT_TRUE(t.modification_us >= t.creation_us && t.transfer_completion_us == 0);

  /* Bad files are refused. */
  url_of(c, C_ABI_SMALL_PATH, url, sizeof url);
  path_in(c, "a.bin", a, sizeof a);
  path_in(c, "b.bin", b, sizeof b);
  EXPECT_HR(xferq_job_add_file(j, "ftp://127.0.0.1/x", a), XFERQ_E_UNSUPPORTED_SCHEME);
  EXPECT_HR(xferq_job_add_file(j, "not a url", a), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_add_file(j, url, "relative/a.bin"), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_add_file(j, NULL, a), XFERQ_E_INVALIDARG);

  specs[0].remote_url = url;
  specs[0].local_path = a;
  specs[1].remote_url = url;
  specs[1].local_path = b;
  EXPECT_HR(xferq_job_add_files(j, specs, 2), XFERQ_S_OK);

  EXPECT_HR(xferq_job_files(j, &files, &count), XFERQ_S_OK);
  EXPECT_TRUE(count == 2 && files != NULL);
  EXPECT_STREQ(files[0].remote_url, url);
  EXPECT_STREQ(files[1].local_path, b);
  EXPECT_TRUE(files[0].bytes_transferred == 0 && !files[0].completed);
  xferq_free_files(files);
  files = NULL;

  RUN(http_options(c, j, url));
  {
    int64_t size = 0;
    char h256[65], h512[129];
    EXPECT_HR(xferq_job_set_file_integrity(j, 0, C_ABI_SMALL_SIZE, NULL, NULL), XFERQ_S_OK);
    EXPECT_HR(xferq_job_set_file_integrity(j, 0, -1, "not hex", NULL), XFERQ_E_INVALIDARG);
    EXPECT_HR(xferq_job_file_integrity(j, 0, &size, h256, h512), XFERQ_S_OK);
    EXPECT_TRUE(size == C_ABI_SMALL_SIZE && h256[0] == '\0' && h512[0] == '\0');
    EXPECT_HR(xferq_job_set_validation_state(j, 0, 0), XFERQ_DO_E_INVALID_STATE); /* not transferred yet */
  }

  /* Listing: active jobs only, then with final ones. */
  EXPECT_HR(xferq_queue_job_ids(c->queue, 0, NULL, 0, &count), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(count == 1);
  EXPECT_HR(xferq_queue_job_ids(c->queue, 0, ids, 4, &count), XFERQ_S_OK);
  EXPECT_TRUE(count == 1);
  EXPECT_STREQ(ids[0], c->done_id);

  /* Run it. */
  EXPECT_HR(xferq_job_resume(j), XFERQ_S_OK);
  EXPECT_TRUE(wait_state(j, XFERQ_STATE_TRANSFERRED, 20000));
  for (waited = 0; events_transferred(&c->ev) < 1 && waited < 5000; waited += 5) sleep_ms(5);
  EXPECT_TRUE(events_transferred(&c->ev) == 1);

  EXPECT_HR(xferq_job_progress(j, &p), XFERQ_S_OK);
  EXPECT_TRUE(p.bytes_total == 2 * C_ABI_SMALL_SIZE && p.bytes_transferred == 2 * C_ABI_SMALL_SIZE);
  EXPECT_TRUE(p.files_total == 2 && p.files_transferred == 2);
  EXPECT_HR(xferq_job_times(j, &t), XFERQ_S_OK);
  EXPECT_TRUE(t.transfer_completion_us >= t.creation_us);

  EXPECT_HR(xferq_job_files(j, &files, &count), XFERQ_S_OK);
  EXPECT_TRUE(count == 2 && files[0].completed && files[1].completed);
  EXPECT_TRUE(files[0].bytes_total == C_ABI_SMALL_SIZE);
  snprintf(temp0, sizeof temp0, "%s", files[0].temp_path);
  xferq_free_files(files);
  files = NULL;
  /* What the server answered for the first file. */
  {
    xferq_file_response* resp = NULL;
    EXPECT_HR(xferq_job_file_response(j, 2, &resp), XFERQ_E_INVALIDARG);
    EXPECT_TRUE(resp == NULL);
    EXPECT_HR(xferq_job_file_response(j, 0, &resp), XFERQ_S_OK);
    EXPECT_TRUE(resp != NULL && resp->http_status == 200);
    EXPECT_STREQ(resp->etag, "\"v1\"");
    EXPECT_STREQ(resp->final_url, "");
    EXPECT_TRUE(resp->content_type[0] != '\0');
    xferq_free_file_response(resp);
  }
  EXPECT_TRUE(temp0[0] != '\0' && file_exists(temp0));
  EXPECT_TRUE(!file_exists(a));

  /* Complete: S_OK, the files at their final paths. */
  EXPECT_HR(xferq_job_complete(j), XFERQ_S_OK);
  EXPECT_HR(xferq_job_state(j, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_ACKNOWLEDGED);
  EXPECT_TRUE(file_size(a) == C_ABI_SMALL_SIZE && file_size(b) == C_ABI_SMALL_SIZE);
  EXPECT_TRUE(!file_exists(temp0));

  /* A final job refuses everything that would change it. */
  EXPECT_HR(xferq_job_cancel(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_complete(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_suspend(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_resume(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_set_display_name(j, "late"), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_set_priority(j, XFERQ_PRIORITY_LOW), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_add_file(j, url, a), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_state(j, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_ACKNOWLEDGED);

  EXPECT_HR(xferq_queue_job_ids(c->queue, 0, ids, 4, &count), XFERQ_S_OK);
  EXPECT_TRUE(count == 0);
  EXPECT_HR(xferq_queue_job_ids(c->queue, 1, ids, 4, &count), XFERQ_S_OK);
  EXPECT_TRUE(count == 1);
  EXPECT_STREQ(ids[0], c->done_id);
  return 0;
}

/* Cancel while bytes are moving: S_OK, temp file gone at once; a second
 * Cancel is DO_E_INVALID_STATE. */
static int cancelled_job(struct ctx* c) {
  xferq_job* j = NULL;
  char url[512], path[1024], temp[1024];
  xferq_progress p;
  xferq_file_info* files = NULL;
  size_t count = 0;
  int32_t state = -1;
  long waited = 0;

  EXPECT_HR(xferq_queue_create_job(c->queue, "c-abi cancel", &c->cancelled), XFERQ_S_OK);
  j = c->cancelled;
  snprintf(c->cancelled_id, sizeof c->cancelled_id, "%s", xferq_job_id(j));
  url_of(c, C_ABI_SLOW_PATH, url, sizeof url);
  path_in(c, "slow.bin", path, sizeof path);
  EXPECT_HR(xferq_job_add_file(j, url, path), XFERQ_S_OK);
  EXPECT_HR(xferq_job_resume(j), XFERQ_S_OK);

  for (;;) {
    EXPECT_HR(xferq_job_progress(j, &p), XFERQ_S_OK);
    if (p.bytes_transferred > 0) break;
    EXPECT_TRUE(waited < 20000);
    sleep_ms(5);
    waited += 5;
  }
  EXPECT_HR(xferq_job_state(j, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_TRANSFERRING);
  EXPECT_TRUE(p.bytes_transferred < C_ABI_SLOW_SIZE && p.bytes_total == C_ABI_SLOW_SIZE);

  EXPECT_HR(xferq_job_files(j, &files, &count), XFERQ_S_OK);
  EXPECT_TRUE(count == 1);
  snprintf(temp, sizeof temp, "%s", files[0].temp_path);
  xferq_free_files(files);
  EXPECT_TRUE(temp[0] != '\0' && file_exists(temp));

  EXPECT_HR(xferq_job_cancel(j), XFERQ_S_OK);
  EXPECT_TRUE(!file_exists(temp));
  EXPECT_TRUE(!file_exists(path));
  EXPECT_HR(xferq_job_state(j, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_CANCELLED);

  EXPECT_HR(xferq_job_cancel(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_resume(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_complete(j), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_job_add_file(j, url, path), XFERQ_DO_E_INVALID_STATE);
  sleep_ms(100);
  EXPECT_TRUE(!file_exists(temp) && !file_exists(path));
  return 0;
}

/* One good file and one 404: ERROR with the HTTP error, then Complete keeps
 * the good file: BG_S_PARTIAL_COMPLETE. */
static int partial_job(struct ctx* c) {
  xferq_job* j = NULL;
  char good_url[512], bad_url[512], good[1024], bad[1024];
  char desc[512], tiny[2];
  size_t required = 0;
  xferq_file_spec specs[2];
  xferq_error_info info;
  uint32_t errors = 0;
  int32_t state = -1;
  int waited, seen = 0;

  EXPECT_HR(xferq_queue_create_job(c->queue, "c-abi partial", &c->partial), XFERQ_S_OK);
  j = c->partial;
  url_of(c, C_ABI_SMALL_PATH, good_url, sizeof good_url);
  url_of(c, C_ABI_MISSING_PATH, bad_url, sizeof bad_url);
  path_in(c, "c.bin", good, sizeof good);
  path_in(c, "d.bin", bad, sizeof bad);
  specs[0].remote_url = good_url;
  specs[0].local_path = good;
  specs[1].remote_url = bad_url;
  specs[1].local_path = bad;
  EXPECT_HR(xferq_job_add_files(j, specs, 2), XFERQ_S_OK);
  EXPECT_HR(xferq_job_resume(j), XFERQ_S_OK);
  EXPECT_TRUE(wait_state(j, XFERQ_STATE_ERROR, 20000));

  EXPECT_HR(xferq_job_error(j, &info, desc, sizeof desc, &required), XFERQ_S_OK);
  EXPECT_TRUE(info.hresult == XFERQ_BG_E_HTTP_ERROR(404));
  EXPECT_STREQ(xferq_hresult_name(info.hresult), "BG_E_HTTP_ERROR_404");
  EXPECT_TRUE(info.context == XFERQ_CONTEXT_REMOTE_FILE);
  EXPECT_TRUE(info.file_index == 1);
  EXPECT_TRUE(strlen(desc) > 0 && required == strlen(desc) + 1);
  EXPECT_HR(xferq_job_error(j, &info, tiny, sizeof tiny, &required), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(tiny[0] == '\0' && required > sizeof tiny);
  EXPECT_HR(xferq_job_error(j, &info, NULL, 0, &required), XFERQ_S_OK);
  EXPECT_TRUE(required == strlen(desc) + 1);
  EXPECT_HR(xferq_job_error_count(j, &errors), XFERQ_S_OK);
  EXPECT_TRUE(errors >= 1);

  for (waited = 0; !seen && waited < 5000; waited += 5) {
    pthread_mutex_lock(&c->ev.mu);
    seen = c->ev.errors > 0;
    pthread_mutex_unlock(&c->ev.mu);
    if (!seen) sleep_ms(5);
  }
  EXPECT_TRUE(seen);
  pthread_mutex_lock(&c->ev.mu);
  seen = c->ev.last_error == XFERQ_BG_E_HTTP_ERROR(404) &&
         c->ev.last_error_context == XFERQ_CONTEXT_REMOTE_FILE &&
         strcmp(c->ev.last_error_job, xferq_job_id(j)) == 0;
  pthread_mutex_unlock(&c->ev.mu);
  EXPECT_TRUE(seen);

  EXPECT_HR(xferq_job_complete(j), XFERQ_BG_S_PARTIAL_COMPLETE);
  EXPECT_HR(xferq_job_state(j, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_ACKNOWLEDGED);
  EXPECT_TRUE(file_size(good) == C_ABI_SMALL_SIZE);
  EXPECT_TRUE(!file_exists(bad));
  EXPECT_HR(xferq_job_complete(j), XFERQ_DO_E_INVALID_STATE);
  return 0;
}

/* Upload jobs: one existing local file each; reply file names for
 * upload-reply jobs only. */
static int upload_jobs(struct ctx* c) {
  char src[1024], url[1024], reply[1024];
  FILE* f;
  xferq_job* up = NULL;
  xferq_job* down = NULL;
  path_in(c, "c-abi-upload.bin", src, sizeof src);
  path_in(c, "c-abi-upload.reply", reply, sizeof reply);
  url_of(c, "/upload/c-abi.bin", url, sizeof url);
  f = fopen(src, "wb");
  EXPECT_TRUE(f != NULL);
  fputs("uploaded by the C test", f);
  fclose(f);
  EXPECT_HR(xferq_queue_create_job_of_type(c->queue, "c-abi upload", 7, &up), XFERQ_E_NOTIMPL);
  EXPECT_HR(xferq_queue_create_job_of_type(c->queue, "c-abi upload", XFERQ_JOB_TYPE_UPLOAD_REPLY, &up),
            XFERQ_S_OK);
  EXPECT_HR(xferq_job_add_file(up, url, src), XFERQ_S_OK);
  EXPECT_HR(xferq_job_add_file(up, url, src), XFERQ_BG_E_TOO_MANY_FILES);
  EXPECT_HR(xferq_job_set_reply_file_name(up, reply), XFERQ_S_OK);
  EXPECT_HR(xferq_job_complete(up), XFERQ_DO_E_INVALID_STATE); /* uploads: TRANSFERRED only */
  EXPECT_HR(xferq_job_cancel(up), XFERQ_S_OK);
  EXPECT_HR(xferq_job_set_reply_file_name(up, reply), XFERQ_DO_E_INVALID_STATE);
  EXPECT_HR(xferq_queue_create_job_of_type(c->queue, "c-abi download", XFERQ_JOB_TYPE_DOWNLOAD, &down),
            XFERQ_S_OK);
  EXPECT_HR(xferq_job_set_reply_file_name(down, reply), XFERQ_E_NOTIMPL);
  EXPECT_HR(xferq_job_cancel(down), XFERQ_S_OK);
  xferq_job_release(up);
  xferq_job_release(down);
  return 0;
}

/* What the progress callbacks saw (worker thread). */
struct progress_events {
  pthread_mutex_t mu;
  int files;
  int calls;
  uint32_t last_file;
  int64_t last_bytes;
};

static void on_file(void* user, const char* job_id, uint32_t file_index) {
  struct progress_events* pe = (struct progress_events*)user;
  (void)job_id;
  pthread_mutex_lock(&pe->mu);
  pe->files++;
  pe->last_file = file_index;
  pthread_mutex_unlock(&pe->mu);
}

static void on_progress(void* user, const char* job_id, const xferq_progress* p) {
  struct progress_events* pe = (struct progress_events*)user;
  (void)job_id;
  pthread_mutex_lock(&pe->mu);
  pe->calls++;
  pe->last_bytes = p->bytes_transferred;
  pthread_mutex_unlock(&pe->mu);
}

/* The notify command line (touch, no shell: "a;b" is one file name) and the
 * progress callbacks, which leave the other callbacks registered. */
static int notifications(struct ctx* c) {
  char url[512], local[1024], arg0[1024], arg1[1024], marker[1024], buf[4096];
  const char* args[2];
  const char* bad[1] = {NULL};
  size_t required = 0, arg_count = 9;
  xferq_job* j = NULL;
  xferq_progress_callbacks pcb;
  struct progress_events pe;
  int transferred_before, waited, files = 0, calls = 0;
  int64_t last_bytes = 0;

  memset(&pe, 0, sizeof pe);
  pthread_mutex_init(&pe.mu, NULL);
  memset(&pcb, 0, sizeof pcb);
  pcb.file_transferred = on_file;
  pcb.progress = on_progress;
  pcb.progress_interval_ms = 0;
  pcb.progress_percent = 101;
  EXPECT_HR(xferq_queue_set_progress_callbacks(c->queue, &pcb, &pe), XFERQ_E_INVALIDARG);
  pcb.progress_percent = 0;
  EXPECT_HR(xferq_queue_set_progress_callbacks(c->queue, &pcb, &pe), XFERQ_S_OK);

  EXPECT_HR(xferq_queue_create_job(c->queue, "c-abi notify", &j), XFERQ_S_OK);
  path_in(c, "notified-{job}", arg0, sizeof arg0);
  path_in(c, "a;b", arg1, sizeof arg1);
  args[0] = arg0;
  args[1] = arg1;
  EXPECT_HR(xferq_job_set_notify_command_line(j, "/nonexistent/notify", args, 2), XFERQ_ERROR_FILE_NOT_FOUND);
  EXPECT_HR(xferq_job_set_notify_command_line(j, "touch", args, 2), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_set_notify_command_line(j, "/usr/bin/touch", bad, 1), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_notify_command_line(j, buf, sizeof buf, &required, &arg_count), XFERQ_S_OK);
  EXPECT_TRUE(required == 1 && buf[0] == '\0' && arg_count == 0);
  EXPECT_HR(xferq_job_set_notify_command_line(j, "/usr/bin/touch", args, 2), XFERQ_S_OK);
  EXPECT_HR(xferq_job_notify_command_line(j, NULL, 0, &required, &arg_count), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(required == strlen("/usr/bin/touch") + strlen(arg0) + strlen(arg1) + 3);
  EXPECT_HR(xferq_job_notify_command_line(j, buf, sizeof buf, &required, &arg_count), XFERQ_S_OK);
  EXPECT_TRUE(arg_count == 2);
  EXPECT_STREQ(buf, "/usr/bin/touch");
  EXPECT_STREQ(buf + strlen(buf) + 1, arg0);
  EXPECT_STREQ(buf + strlen(buf) + 1 + strlen(arg0) + 1, arg1);

  transferred_before = events_transferred(&c->ev);
  url_of(c, C_ABI_SMALL_PATH, url, sizeof url);
  path_in(c, "notify.bin", local, sizeof local);
  EXPECT_HR(xferq_job_add_file(j, url, local), XFERQ_S_OK);
  EXPECT_HR(xferq_job_resume(j), XFERQ_S_OK);
  EXPECT_TRUE(wait_state(j, XFERQ_STATE_TRANSFERRED, 20000));
  snprintf(marker, sizeof marker, "%s/notified-%s", c->dir, xferq_job_id(j));
  for (waited = 0; waited < 10000 && !(file_exists(marker) && file_exists(arg1)); waited += 10) sleep_ms(10);
  EXPECT_TRUE(file_exists(marker));
  EXPECT_TRUE(file_exists(arg1));
  for (waited = 0; waited < 10000 && events_transferred(&c->ev) == transferred_before; waited += 10) sleep_ms(10);
  EXPECT_TRUE(events_transferred(&c->ev) == transferred_before + 1); /* still registered */
  pthread_mutex_lock(&pe.mu);
  files = pe.files;
  calls = pe.calls;
  last_bytes = pe.last_bytes;
  pthread_mutex_unlock(&pe.mu);
  EXPECT_TRUE(files == 1 && pe.last_file == 0);
  EXPECT_TRUE(calls >= 1 && last_bytes == C_ABI_SMALL_SIZE);
  EXPECT_HR(xferq_job_complete(j), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_set_progress_callbacks(c->queue, NULL, NULL), XFERQ_S_OK);
  xferq_job_release(j);
  pthread_mutex_destroy(&pe.mu);
  return 0;
}

/* Reopened without a worker: the jobs kept their final states. */
static int reopened(struct ctx* c) {
  char path[1024];
  xferq_queue_options o;
  int32_t state = -1;
  int modified;

  pthread_mutex_lock(&c->ev.mu);
  modified = c->ev.modified;
  pthread_mutex_unlock(&c->ev.mu);
  EXPECT_TRUE(modified > 0);

  EXPECT_HR(xferq_queue_stop_worker(c->queue), XFERQ_S_OK);
  xferq_queue_close(c->queue);
  c->queue = NULL;
  /* A job handle outlives its queue. */
  EXPECT_HR(xferq_job_state(c->done, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_ACKNOWLEDGED);

  xferq_queue_options_init(&o);
  o.start_worker = 0;
  path_in(c, "queue.db", path, sizeof path);
  EXPECT_HR(xferq_queue_open(path, &o, &c->queue), XFERQ_S_OK);
  EXPECT_HR(xferq_queue_get_job(c->queue, c->done_id, &c->other), XFERQ_S_OK);
  EXPECT_HR(xferq_job_state(c->other, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_ACKNOWLEDGED);
  xferq_job_release(c->other);
  c->other = NULL;
  EXPECT_HR(xferq_queue_get_job(c->queue, c->cancelled_id, &c->other), XFERQ_S_OK);
  EXPECT_HR(xferq_job_state(c->other, &state), XFERQ_S_OK);
  EXPECT_TRUE(state == XFERQ_STATE_CANCELLED);
  EXPECT_HR(xferq_job_cancel(c->other), XFERQ_DO_E_INVALID_STATE);
  return 0;
}

/* AddFileWithRanges: bad lists refused, then dir/d.bin = small[100..199] +
 * small[0..9] + small[65000..] (the driver compares the bytes). */
static int ranges(struct ctx* c) {
  xferq_job* j = NULL;
  char url[512], d[1024];
  xferq_file_range bad[2] = {{0, 10}, {5, 10}};
  xferq_file_range zero[1] = {{10, 0}};
  xferq_file_range good[3] = {{100, 100}, {0, 10}, {65000, XFERQ_LENGTH_TO_EOF}};
  xferq_file_range back[3];
  size_t count = 0;
  url_of(c, C_ABI_SMALL_PATH, url, sizeof url);
  path_in(c, "d.bin", d, sizeof d);
  EXPECT_HR(xferq_queue_create_job(c->queue, "c-abi ranges", &j), XFERQ_S_OK);
  EXPECT_HR(xferq_job_add_file_with_ranges(j, url, d, NULL, 0), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_add_file_with_ranges(j, url, d, bad, 2), XFERQ_BG_E_OVERLAPPING_RANGES);
  EXPECT_HR(xferq_job_add_file_with_ranges(j, url, d, zero, 1), XFERQ_BG_E_INVALID_RANGE);
  EXPECT_HR(xferq_job_add_file_with_ranges(j, url, d, good, 3), XFERQ_S_OK);
  EXPECT_HR(xferq_job_file_ranges(j, 0, NULL, 0, &count), XFERQ_E_INSUFFICIENT_BUFFER);
  EXPECT_TRUE(count == 3);
  EXPECT_HR(xferq_job_file_ranges(j, 0, back, 3, &count), XFERQ_S_OK);
  EXPECT_TRUE(back[0].offset == 100 && back[1].length == 10 && back[2].length == XFERQ_LENGTH_TO_EOF);
  EXPECT_HR(xferq_job_file_ranges(j, 1, back, 3, &count), XFERQ_E_INVALIDARG);
  EXPECT_HR(xferq_job_resume(j), XFERQ_S_OK);
  EXPECT_TRUE(wait_state(j, XFERQ_STATE_TRANSFERRED, 20000));
  EXPECT_HR(xferq_job_complete(j), XFERQ_S_OK);
  EXPECT_TRUE(file_size(d) == 100 + 10 + (C_ABI_SMALL_SIZE - 65000));
  xferq_job_release(j);
  return 0;
}

static int scenario(struct ctx* c) {
  RUN(check_codes());
  RUN(open_queue(c));
  RUN(completed_job(c));
  RUN(cancelled_job(c));
  RUN(partial_job(c));
  RUN(upload_jobs(c));
  RUN(notifications(c));
  RUN(ranges(c)); /* before reopened(): that queue has no worker */
  RUN(reopened(c));
  RUN(bandwidth(c)); /* last: its job would change the job counts above */
  return 0;
}

int run_c_abi_scenario(const char* base_url, const char* dir) {
  struct ctx c;
  int line;
  memset(&c, 0, sizeof c);
  c.base_url = base_url;
  c.dir = dir;
  pthread_mutex_init(&c.ev.mu, NULL);
  line = scenario(&c);
  xferq_job_release(c.done);
  xferq_job_release(c.cancelled);
  xferq_job_release(c.partial);
  xferq_job_release(c.other);
  xferq_queue_close(c.queue);
  pthread_mutex_destroy(&c.ev.mu);
  return line;
}
