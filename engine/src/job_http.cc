// job_http.cc — Job's HTTP options (custom headers, credentials, proxy
// settings, security flags, TLS options) and remote names: the argument
// checks here, one store transaction each, then the modified callback.
#include "clock.h"
#include "queue_core.h"
#include "validate.h"
#include "xferq/job.h"

namespace xferq {

using detail::Property;

namespace {
std::error_code no_job() { return make_error_code(Errc::not_found); }
}  // namespace

std::error_code Job::set_custom_headers(const std::vector<std::string>& headers) {
  if (!core_) return no_job();
  if (auto ec = detail::check_custom_headers(headers)) return ec;
  std::string joined;
  for (const auto& h : headers) joined += (joined.empty() ? "" : "\n") + h;
  return core_->set_property(id_, Property::custom_headers, 0, joined);
}

Result<std::vector<std::string>> Job::custom_headers() const {
  if (!core_) return no_job();
  auto joined = core_->store().custom_headers(id_);
  if (!joined) return joined.error();
  return detail::split_lines(*joined);
}

std::error_code Job::set_credentials(AuthTarget target, AuthScheme scheme, std::string_view user,
                                     std::string_view password) {
  if (!core_) return no_job();
  if (auto ec = detail::check_credentials(target, scheme, user, password)) return ec;
  return core_->changed(id_, core_->store().set_credentials(id_, target, scheme, scheme == AuthScheme::bearer ? "" : user,
                                                            password, detail::now_us()));
}

std::error_code Job::remove_credentials(AuthTarget target, AuthScheme scheme) {
  if (!core_) return no_job();
  if (static_cast<int>(target) < 0 || static_cast<int>(target) > 1 || static_cast<int>(scheme) < 0 ||
      static_cast<int>(scheme) > 2)
    return make_error_code(Errc::invalid_arg);
  return core_->changed(id_, core_->store().remove_credentials(id_, target, scheme, detail::now_us()));
}

std::error_code Job::set_proxy_settings(const ProxySettings& settings) {
  if (!core_) return no_job();
  if (auto ec = detail::check_proxy_settings(settings)) return ec;
  return core_->changed(id_, core_->store().set_proxy_settings(id_, settings, detail::now_us()));
}

Result<ProxySettings> Job::proxy_settings() const {
  if (!core_) return no_job();
  return core_->store().proxy_settings(id_);
}

std::error_code Job::set_security_flags(uint32_t flags) {
  if (!core_) return no_job();
  if (auto ec = detail::check_security_flags(flags)) return ec;
  return core_->set_property(id_, Property::security_flags, flags, {});
}

Result<uint32_t> Job::security_flags() const {
  if (!core_) return no_job();
  return core_->store().security_flags(id_);
}

std::error_code Job::set_tls_options(const TlsOptions& options) {
  if (!core_) return no_job();
  if (auto ec = detail::check_tls_options(options)) return ec;
  return core_->changed(id_, core_->store().set_tls_options(id_, options, detail::now_us()));
}

Result<TlsOptions> Job::tls_options() const {
  if (!core_) return no_job();
  auto tls = core_->store().tls_options(id_);
  if (!tls) return tls.error();
  tls->client_key_password.clear();  // write-only
  return tls;
}


std::error_code Job::set_remote_name(uint32_t file_index, std::string_view url) {
  if (!core_) return no_job();
  if (auto ec = detail::check_remote_url(url, core_->options().allow_other_schemes)) return ec;
  // Remote names are for downloads (BITS: E_NOTIMPL for upload jobs).
  if (auto ec = core_->require_type(id_, JobType::download)) return ec;
  return core_->changed(id_, core_->store().set_remote_name(id_, file_index, std::string(url), detail::now_us()));
}

std::error_code Job::replace_remote_prefix(std::string_view old_prefix, std::string_view new_prefix) {
  if (!core_) return no_job();
  if (old_prefix.empty()) return make_error_code(Errc::invalid_arg);
  // Remote names are for downloads (BITS: E_NOTIMPL for upload jobs).
  if (auto ec = core_->require_type(id_, JobType::download)) return ec;
  const bool other_schemes = core_->options().allow_other_schemes;
  auto check = [other_schemes](const std::string& url) { return detail::check_remote_url(url, other_schemes); };
  return core_->changed(id_, core_->store().replace_remote_prefix(id_, std::string(old_prefix),
                                                                  std::string(new_prefix), check,
                                                                  detail::now_us()));
}

}  // namespace xferq
