// serve_checks.cc — the API's checks of a whole request before its first
// library call (serve_checks.h), made with the library's own check functions
// so that they refuse exactly what the calls would. The one file of the
// command that includes an engine header outside engine/include.
#include "serve_checks.h"

#include "validate.h"

namespace xferq::cli {

std::error_code check_properties(const PropertyChanges& c, JobType type) {
  // As the setters check, in serve_api.cc's apply() order; priority and the
  // two delays were checked when the body was parsed.
  if (c.display_name)
    if (auto ec = detail::check_text(*c.display_name, detail::kMaxDisplayName, false)) return ec;
  if (c.description)
    if (auto ec = detail::check_text(*c.description, detail::kMaxDescription, true, true)) return ec;
  if (c.security_flags)
    if (auto ec = detail::check_security_flags(static_cast<uint32_t>(*c.security_flags))) return ec;
  if (c.custom_headers)
    if (auto ec = detail::check_custom_headers(*c.custom_headers)) return ec;
  if (c.proxy)
    if (auto ec = detail::check_proxy_settings(*c.proxy)) return ec;
  if (c.reply_file_name) {
    if (type != JobType::upload_reply) return make_error_code(Errc::not_implemented);
    if (auto ec = detail::check_local_path(*c.reply_file_name)) return ec;
  }
  return {};
}

std::error_code check_new_files(const std::vector<FileSpec>& files, JobType type, bool allow_other_schemes) {
  const bool upload = type != JobType::download;
  if (upload && files.size() > 1) return make_error_code(Errc::too_many_files);
  // As QueueCore::add_files checks each file (a spec from the API has no
  // ranges and no integrity), then the store the count.
  for (const FileSpec& f : files) {
    if (auto ec = detail::check_remote_url(f.remote_url, allow_other_schemes)) return ec;
    if (auto ec = upload ? detail::check_upload_source(f.local_path) : detail::check_local_path(f.local_path)) return ec;
  }
  if (files.size() > static_cast<size_t>(detail::kMaxFilesPerJob)) return make_error_code(Errc::too_many_files_in_job);
  return {};
}

}  // namespace xferq::cli
