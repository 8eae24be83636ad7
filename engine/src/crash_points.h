// crash_points.h — named places where the crash-test harness can kill the process.
//
// XFERQ_CRASH_AT="name" (or "name:N") in the environment makes the process
// SIGKILL itself the first (N-th) time it passes crash_point("name"). Without
// the variable a crash point costs one load of a static flag. Only the
// crash-safety tests set it; the names are listed in crash_points.cc.
#ifndef XFERQ_CRASH_POINTS_H_
#define XFERQ_CRASH_POINTS_H_

namespace xferq::detail {

#ifdef XFERQ_CRASH_POINTS
void crash_point(const char* name);
#else
// Compiled out (the default outside test builds): XFERQ_CRASH_AT does nothing.
inline void crash_point(const char*) {}
#endif

// Whether this build has crash points (the crash harness skips without them).
bool crash_points_compiled();

}  // namespace xferq::detail

#endif  // XFERQ_CRASH_POINTS_H_
