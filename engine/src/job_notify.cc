// job_notify.cc — Job's notify command line (BITS's SetNotifyCmdLine): the
// argument checks, one store transaction, then the modified callback. The
// worker runs it (worker/notifier.h).
#include "clock.h"
#include "queue_core.h"
#include "validate.h"
#include "xferq/job.h"

namespace xferq {

std::error_code Job::set_notify_command_line(std::string_view program, const std::vector<std::string>& args) {
  if (!core_) return make_error_code(Errc::not_found);
  if (auto ec = detail::check_notify_command_line(program, args)) return ec;
  NotifyCommandLine command{std::string(program), args};
  return core_->changed(id_, core_->store().set_notify_command_line(id_, command, detail::now_us()));
}

Result<NotifyCommandLine> Job::notify_command_line() const {
  if (!core_) return make_error_code(Errc::not_found);
  return core_->store().notify_command_line(id_);
}

}  // namespace xferq
