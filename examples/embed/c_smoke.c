/* c_smoke.c — the C ABI from an installed xferq (no server needed): open a
 * queue, create a job, cancel it, and check the codes. Exit 0 on success.
 * Usage: c_smoke DIR (an existing, writable directory). */
#include <stdio.h>
#include <string.h>

#include <xferq/xferq_c.h>

#define CHECK(call, want)                                                             \
  do {                                                                                \
    xferq_hr got_ = (call);                                                           \
    if (got_ != (xferq_hr)(want)) {                                                   \
      fprintf(stderr, "c_smoke: %s gave %s, expected %s\n", #call,                    \
              xferq_hresult_name(got_), xferq_hresult_name(want));                    \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

int main(int argc, char** argv) {
  char db[1024], local[1024];
  xferq_queue_options options;
  xferq_queue* queue = NULL;
  xferq_job* job = NULL;
  int32_t state = -1;
  int rc;

  if (argc != 2) {
    fprintf(stderr, "usage: c_smoke DIR\n");
    return 2;
  }
  snprintf(db, sizeof db, "%s/c-smoke.db", argv[1]);
  snprintf(local, sizeof local, "%s/never.bin", argv[1]);

  xferq_queue_options_init(&options);
  options.start_worker = 0;
  CHECK(xferq_queue_open(db, &options, &queue), XFERQ_S_OK);
  CHECK(xferq_queue_create_job(queue, "c smoke", &job), XFERQ_S_OK);
  CHECK(xferq_job_add_file(job, "http://127.0.0.1:9/never.bin", local), XFERQ_S_OK);
  CHECK(xferq_job_cancel(job), XFERQ_S_OK);
  CHECK(xferq_job_cancel(job), XFERQ_DO_E_INVALID_STATE);
  CHECK(xferq_job_state(job, &state), XFERQ_S_OK);
  rc = state == XFERQ_STATE_CANCELLED ? 0 : 1;
  printf("c_smoke: job %s is %s; second cancel: %s\n", xferq_job_id(job), xferq_state_name(state),
         xferq_hresult_name(XFERQ_DO_E_INVALID_STATE));
  xferq_job_release(job);
  xferq_queue_close(queue);
  return rc;
}
