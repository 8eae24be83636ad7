// crash_resources.h — the resources the crash harness serves, shared by the
// parent (crash_test.cc, which serves them) and crash_child.cc (which
// downloads them). Plain data: the child links neither gtest nor the fixture.
#ifndef XFERQ_TESTS_CRASH_CRASH_RESOURCES_H_
#define XFERQ_TESTS_CRASH_CRASH_RESOURCES_H_

#include <cstddef>

namespace xferq::crash {

struct CrashResource {
  const char* path;
  size_t size;
  size_t bytes_per_sec;     // 0: as fast as possible
  long long drop_after;     // >= 0: the server drops each response after this many bytes
  int status;               // 200, or an error status
  bool good;                // range-capable and eventually transferable without errors
};

inline constexpr CrashResource kCrashResources[] = {
    {"/fast0", 20 * 1024, 0, -1, 200, true},
    {"/fast1", 90 * 1024 + 7, 0, -1, 200, true},
    {"/fast2", 200 * 1024 + 1, 0, -1, 200, true},
    {"/slow0", 256 * 1024, 512 * 1024, -1, 200, true},
    {"/slow1", 600 * 1024 + 3, 1024 * 1024, -1, 200, true},
    {"/slow2", 1024 * 1024, 2 * 1024 * 1024, -1, 200, true},
    {"/slow3", 400 * 1024 + 11, 768 * 1024, -1, 200, true},
    // Drops every response after 100 KiB: TRANSIENT_ERROR, then a Range resume.
    {"/flaky", 300 * 1024 + 5, 1024 * 1024, 100 * 1024, 200, false},
    {"/busy", 0, 0, -1, 503, false},  // TRANSIENT_ERROR forever
    {"/gone", 0, 0, -1, 404, false},  // ERROR
};
inline constexpr size_t kCrashResourceCount = sizeof(kCrashResources) / sizeof(kCrashResources[0]);

}  // namespace xferq::crash

#endif  // XFERQ_TESTS_CRASH_CRASH_RESOURCES_H_
