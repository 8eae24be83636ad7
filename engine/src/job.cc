// job.cc — Job's methods: argument checks here, everything else in the core.
#include "xferq/job.h"

#include <cstdint>

#include "clock.h"
#include "fs/file_ops.h"
#include "queue_core.h"
#include "validate.h"

namespace xferq {

using detail::Call;
using detail::Property;

namespace {
std::error_code no_job() { return make_error_code(Errc::not_found); }

// One field of the job's snapshot (every getter is one read).
template <typename T, typename Field>
Result<T> field_of(const Job& job, Field field) {
  auto i = job.info();
  if (!i) return i.error();
  return T((*i).*field);
}
}  // namespace

std::error_code Job::add_file(std::string_view remote_url, std::string_view local_path) {
  return add_files({FileSpec{std::string(remote_url), std::string(local_path)}});
}

std::error_code Job::add_file_with_ranges(std::string_view remote_url, std::string_view local_path,
                                         std::vector<FileRange> ranges) {
  if (ranges.empty()) return make_error_code(Errc::invalid_arg);
  FileSpec spec{std::string(remote_url), std::string(local_path)};
  spec.ranges = std::move(ranges);
  return add_files({spec});
}

std::error_code Job::add_files(const std::vector<FileSpec>& files) {
  if (!core_) return no_job();
  return core_->add_files(id_, files);
}

Result<std::vector<FileInfo>> Job::files() const {
  if (!core_) return no_job();
  return core_->store().files(id_);
}

std::error_code Job::suspend() { return core_ ? core_->change_state(id_, Call::suspend) : no_job(); }
std::error_code Job::resume() { return core_ ? core_->change_state(id_, Call::resume) : no_job(); }
std::error_code Job::cancel() { return core_ ? core_->cancel(id_) : no_job(); }
std::error_code Job::complete(CompleteStatus* status) {
  return core_ ? core_->complete(id_, status) : no_job();
}

std::error_code Job::set_file_integrity(uint32_t file_index, const FileIntegrity& integrity) {
  if (!core_) return no_job();
  FileIntegrity canonical = integrity;
  if (auto ec = detail::canonicalize_integrity(&canonical)) return ec;
  if (auto ec = core_->require_type(id_, JobType::download)) return ec;
  return core_->changed(id_, core_->store().set_file_integrity(id_, file_index, canonical, detail::now_us()));
}

std::error_code Job::set_validation_state(uint32_t file_index, bool valid) {
  if (!core_) return no_job();
  if (valid) {
    // Nothing to do, but the file must exist and be transferred, as for false.
    auto files = core_->store().files(id_);
    if (!files) return files.error();
    if (file_index >= files->size()) return make_error_code(Errc::invalid_arg);
    return (*files)[file_index].completed ? std::error_code() : make_error_code(Errc::invalid_state);
  }
  return core_->invalidate_file(id_, file_index);
}

Result<JobInfo> Job::info() const {
  if (!core_) return no_job();
  return core_->store().job_info(id_);
}

Result<JobState> Job::state() const {
  if (!core_) return no_job();
  return core_->store().job_state(id_);
}

Result<JobProgress> Job::progress() const { return field_of<JobProgress>(*this, &JobInfo::progress); }

Result<JobTimes> Job::times() const { return field_of<JobTimes>(*this, &JobInfo::times); }

Result<JobErrorInfo> Job::error() const {
  auto i = info();
  if (!i) return i.error();
  if (!i->error) return make_error_code(Errc::error_information_unavailable);
  return *i->error;
}

Result<uint32_t> Job::error_count() const { return field_of<uint32_t>(*this, &JobInfo::error_count); }

Result<JobPriority> Job::priority() const { return field_of<JobPriority>(*this, &JobInfo::priority); }

std::error_code Job::set_priority(JobPriority priority) {
  if (!core_) return no_job();
  const int p = static_cast<int>(priority);
  if (p < 0 || p > 3) return make_error_code(Errc::not_implemented);
  return core_->set_property(id_, Property::priority, p, {});
}

Result<std::string> Job::display_name() const { return field_of<std::string>(*this, &JobInfo::display_name); }

std::error_code Job::set_display_name(std::string_view name) {
  if (!core_) return no_job();
  if (auto ec = detail::check_text(name, detail::kMaxDisplayName, false)) return ec;
  return core_->set_property(id_, Property::display_name, 0, name);
}

Result<std::string> Job::description() const { return field_of<std::string>(*this, &JobInfo::description); }

std::error_code Job::set_description(std::string_view text) {
  if (!core_) return no_job();
  if (auto ec = detail::check_text(text, detail::kMaxDescription, true, true)) return ec;
  return core_->set_property(id_, Property::description, 0, text);
}

Result<std::chrono::seconds> Job::minimum_retry_delay() const { return field_of<std::chrono::seconds>(*this, &JobInfo::minimum_retry_delay); }

std::error_code Job::set_minimum_retry_delay(std::chrono::seconds delay) {
  if (!core_) return no_job();
  if (delay.count() < 0) return make_error_code(Errc::invalid_arg);
  const auto floor = core_->options().minimum_retry_delay_floor;
  return core_->set_property(id_, Property::retry_delay_s, std::max(delay, floor).count(), {});
}

Result<std::chrono::seconds> Job::no_progress_timeout() const { return field_of<std::chrono::seconds>(*this, &JobInfo::no_progress_timeout); }

std::error_code Job::set_no_progress_timeout(std::chrono::seconds timeout) {
  if (!core_) return no_job();
  if (timeout.count() < 0) return make_error_code(Errc::invalid_arg);
  return core_->set_property(id_, Property::no_progress_timeout_s, timeout.count(), {});
}

Result<uint64_t> Job::max_download_size() const { return field_of<uint64_t>(*this, &JobInfo::max_download_size); }

std::error_code Job::set_max_download_size(uint64_t bytes) {
  if (!core_) return no_job();
  if (bytes > static_cast<uint64_t>(INT64_MAX)) return make_error_code(Errc::invalid_arg);
  return core_->set_property(id_, Property::max_download_size, static_cast<int64_t>(bytes), {});
}

Result<std::chrono::seconds> Job::maximum_download_time() const {
  return field_of<std::chrono::seconds>(*this, &JobInfo::maximum_download_time);
}

std::error_code Job::set_maximum_download_time(std::chrono::seconds limit) {
  if (!core_) return no_job();
  if (limit.count() < 0 || limit.count() > INT64_MAX / 1000000) return make_error_code(Errc::invalid_arg);
  const int64_t seconds = limit.count() == 0 ? JobInfo().maximum_download_time.count() : limit.count();
  return core_->set_property(id_, Property::max_download_time_s, seconds, {});
}

std::error_code Job::set_reply_file_name(std::string_view path) {
  if (!core_) return no_job();
  if (auto ec = core_->require_type(id_, JobType::upload_reply)) return ec;
  if (auto ec = detail::check_local_path(path)) return ec;
  // Two spellings of one target (a symlinked directory) must compare equal
  // with the other jobs' targets, as add_file's paths do.
  auto canonical = detail::canonical_target(std::string(path));
  if (!canonical) return canonical.error();
  return core_->set_property(id_, Property::reply_file_name, 0, *canonical);
}

Result<std::string> Job::reply_file_name() const {
  if (!core_) return no_job();
  if (auto ec = core_->require_type(id_, JobType::upload_reply)) return ec;
  auto target = core_->store().reply_target(id_);
  if (!target) return target.error();
  return target->value_or(std::string());
}

}  // namespace xferq
