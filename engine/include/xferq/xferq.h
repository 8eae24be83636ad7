// xferq/xferq.h — everything: include this one header to use xferq.
#ifndef XFERQ_XFERQ_H_
#define XFERQ_XFERQ_H_

#include "xferq/callbacks.h"
#include "xferq/error.h"
#include "xferq/job.h"
#include "xferq/options.h"
#include "xferq/queue.h"
#include "xferq/result.h"
#include "xferq/types.h"

#endif  // XFERQ_XFERQ_H_
