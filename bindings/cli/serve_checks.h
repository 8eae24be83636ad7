// serve_checks.h — the library's own argument checks (engine/src/validate.h),
// run by the API over a whole request before its first library call. The
// setters and add_files make the same checks, but each in its own call: a
// PATCH refused by its third setter would keep what the first two set, and a
// POST /api/jobs refused by add_files would leave its new job behind.
// Private to bindings/cli.
#ifndef XFERQ_BINDINGS_CLI_SERVE_CHECKS_H_
#define XFERQ_BINDINGS_CLI_SERVE_CHECKS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "xferq/xferq.h"

namespace xferq::cli {

// The properties a PATCH (or a POST /api/jobs) sets, parsed from its body.
// Thread safety: a plain value type; not synchronized.
struct PropertyChanges {
  std::optional<std::string> display_name, description, reply_file_name;
  std::optional<JobPriority> priority;
  std::optional<int64_t> minimum_retry_delay, no_progress_timeout, security_flags;
  std::optional<std::vector<std::string>> custom_headers;
  std::optional<ProxySettings> proxy;
};

// What the first setter to refuse `c` on a job of `type` would return, in
// the order the API applies them; {} if none would. Not the job's state: a
// setter refuses a final job before it changes anything.
std::error_code check_properties(const PropertyChanges& c, JobType type);

// What add_files would refuse of `files` for a new (empty) job of `type`:
// the URL rules, a download's target or an upload's source, one file per
// upload job, at most kMaxFilesPerJob; {} if none of these. (It can still
// refuse what depends on other jobs, such as a target already in use.)
std::error_code check_new_files(const std::vector<FileSpec>& files, JobType type, bool allow_other_schemes);

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_SERVE_CHECKS_H_
