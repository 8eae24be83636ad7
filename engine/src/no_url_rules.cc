// no_url_rules.cc — the URL rules of validate.h in the control library, which
// is linked without libcurl (no_worker.cc says why). Without libcurl's
// parser no URL can be judged, so none is accepted and none is shown; the
// `xferq` front never runs a command that takes or shows one (it hands those
// to the full command, bindings/cli/front.cc).
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

std::error_code check_remote_url(std::string_view, bool) { return make_error_code(Errc::not_implemented); }

std::string redact_url(const std::string& url) { return url.empty() ? url : "(URL not shown)"; }

}  // namespace xferq::detail
