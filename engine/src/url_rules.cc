// url_rules.cc — the remote URL rules of validate.h: what a file's URL must be
// (check_remote_url) and how one is shown (redact_url). Both read the URL with
// libcurl's own parser (CURLU), so what is checked and hidden is what libcurl
// will fetch. Part of the full library only; the control library, which has
// no libcurl, has no_url_rules.cc instead.
#include <curl/curl.h>

#include <cstring>

#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

std::error_code check_remote_url(std::string_view url, bool allow_other_schemes) {
  if (url.empty() || !is_valid_utf8(url)) return make_error_code(Errc::invalid_arg);
  if (url.size() > kMaxUrlLength) return make_error_code(Errc::string_too_long);
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20) return make_error_code(Errc::invalid_arg);
  CURLU* u = curl_url();
  const std::string s(url);
  std::error_code ec;
  if (curl_url_set(u, CURLUPART_URL, s.c_str(), 0) != CURLUE_OK) {
    ec = make_error_code(Errc::invalid_arg);
  } else {
    char* scheme = nullptr;
    char* host = nullptr;
    const bool has_scheme = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK;
    const auto sep = s.find("://");
    // "://" must follow the scheme itself: libcurl also reads "http:/host"
    // and "http:///host", whose user-info and host the checks below (and the
    // redaction of credentials) would otherwise misread.
    if (!has_scheme || sep == std::string::npos || sep != std::strlen(scheme)) {
      ec = make_error_code(Errc::invalid_arg);
    } else if (!allow_other_schemes && std::string_view(scheme) != "http" &&
               std::string_view(scheme) != "https") {
      ec = make_error_code(Errc::unsupported_scheme);
    } else if (sep + 3 >= s.size() || s[sep + 3] == '/' ||
               curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
      ec = make_error_code(Errc::invalid_arg);  // no host
    }
    curl_free(scheme);
    curl_free(host);
  }
  curl_url_cleanup(u);
  return ec;
}

std::string redact_url(const std::string& url) {
  // libcurl decides what the user-info is (it also reads "scheme:/user@host"
  // forms), so libcurl rewrites it: the URL shown is libcurl's, with "***"
  // for the user-info. A URL libcurl cannot parse is shown as "(unparsable
  // URL)" if it holds an '@' (it might hide credentials), else as given.
  CURLU* u = curl_url();
  std::string out = url.find('@') == std::string::npos ? url : "(unparsable URL)";
  char* user = nullptr;
  char* password = nullptr;
  char* full = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    const bool has_user = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK;
    const bool has_password = curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK;
    if (has_user || has_password) {
      curl_url_set(u, CURLUPART_PASSWORD, nullptr, 0);
      curl_url_set(u, CURLUPART_USER, "***", 0);
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) out = has_user || has_password ? full : url;
  }
  curl_free(full);
  curl_free(user);
  curl_free(password);
  curl_url_cleanup(u);
  return out;
}

}  // namespace xferq::detail
