// xferq/callbacks.h — notifications of job events, like IBackgroundCopyCallback.
#ifndef XFERQ_CALLBACKS_H_
#define XFERQ_CALLBACKS_H_

#include <functional>
#include <string>

#include "xferq/types.h"

namespace xferq {

// Each callback receives the job's id. They run on the thread that caused the
// event — the worker thread for transfer events, the caller's thread for API
// calls — after every lock is released, so they may call back into the Queue.
// They are not persisted: register them again after reopening a queue. Keep
// them short: the worker waits for them.
struct JobCallbacks {
  // The job reached TRANSFERRED: call complete() to get the files.
  std::function<void(const std::string& job_id)> transferred;
  // The job entered ERROR (never for TRANSIENT_ERROR, as in BITS).
  std::function<void(const std::string& job_id, const JobErrorInfo& error)> error;
  // Anything else changed: state, properties, files, progress commits.
  std::function<void(const std::string& job_id)> modified;
};

}  // namespace xferq

#endif  // XFERQ_CALLBACKS_H_
