// crash_points.cc — see crash_points.h.
//
// Points: cancel.after_commit, cancel.after_discard, complete.after_commit,
// complete.between_renames, recovery.between_ops, worker.after_temp_record,
// worker.after_temp_create, worker.after_progress_commit,
// worker.before_file_finish.
#include "crash_points.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef XFERQ_CRASH_POINTS

namespace xferq::detail {
namespace {

struct Target {
  std::string name;
  long remaining = 1;
};

Target* parse() {
  const char* spec = std::getenv("XFERQ_CRASH_AT");
  if (!spec || !*spec) return nullptr;
  auto* t = new Target;  // lives for the process: it is about to die anyway
  const char* colon = std::strchr(spec, ':');
  t->name = colon ? std::string(spec, colon) : std::string(spec);
  if (colon) t->remaining = std::max(1L, std::strtol(colon + 1, nullptr, 10));
  return t;
}

}  // namespace

bool crash_points_compiled() { return true; }

void crash_point(const char* name) {
  static Target* const target = parse();
  if (!target || target->name != name) return;
  static std::atomic<long> passes{0};
  if (++passes >= target->remaining) ::kill(::getpid(), SIGKILL);
}

}  // namespace xferq::detail

#else

namespace xferq::detail {
bool crash_points_compiled() { return false; }
}  // namespace xferq::detail

#endif  // XFERQ_CRASH_POINTS
