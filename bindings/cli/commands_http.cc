// commands_http.cc — the subcommands of a job's HTTP options: custom
// headers, security flags (redirect policy), credentials and proxy settings.
#include "command_support.h"
#include "commands.h"

#include <cctype>
#include <cstdlib>
#include <iostream>

namespace xferq::cli {

int cmd_setcustomheaders(const Globals& g, const std::string& jobref, const std::vector<std::string>& headers) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_custom_headers(headers), job, "set the custom headers of");
    std::cout << (headers.empty() ? std::string("Custom headers removed.\n")
                                  : std::to_string(headers.size()) + " custom header(s) set.\n");
    return kExitOk;
  });
}

int cmd_getcustomheaders(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    for (const std::string& h : get(job.custom_headers())) std::cout << shown(hidden_secret(h)) << "\n";
    return kExitOk;
  });
}

int cmd_setsecurityflags(const Globals& g, const std::string& jobref, const std::string& text) {
  return guarded([&] {
    // bitsadmin /SetSecurityFlags takes the BITS value, decimal or 0x-hex.
    char* end = nullptr;
    const unsigned long v = std::strtoul(text.c_str(), &end, 0);
    if (text.empty() || !end || *end != '\0' || v > 0xFFFFFFFFul) fail_arg("security flags must be a number: " + shown(text));
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_security_flags(static_cast<uint32_t>(v)), job, "set the security flags of");
    std::cout << "Security flags set to " << hresult_hex(static_cast<uint32_t>(v)) << ".\n";
    return kExitOk;
  });
}

namespace {

// bitsadmin's words: SERVER|PROXY and BASIC|DIGEST|BEARER (any case).
void parse_auth(const std::string& target_word, const std::string& scheme_word, AuthTarget* target,
                AuthScheme* scheme) {
  std::string t = target_word, s = scheme_word;
  for (char& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (t == "SERVER") *target = AuthTarget::server;
  else if (t == "PROXY") *target = AuthTarget::proxy;
  else fail_arg("the target must be SERVER or PROXY, not " + shown(target_word));
  if (s == "BASIC") *scheme = AuthScheme::basic;
  else if (s == "DIGEST") *scheme = AuthScheme::digest;
  else if (s == "BEARER") *scheme = AuthScheme::bearer;
  else fail_arg("the scheme must be BASIC, DIGEST or BEARER, not " + shown(scheme_word));
}

}  // namespace

int cmd_setcredentials(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.size() != 4) throw Fail{{kExitUsage, "usage: setcredentials JOB SERVER|PROXY BASIC|DIGEST|BEARER USER PASSWORD"}};
    AuthTarget target;
    AuthScheme scheme;
    parse_auth(args[0], args[1], &target, &scheme);
    std::string password = args[3];
    if (password == "-") {
      // From standard input, so that it need not show in the process list.
      if (!std::getline(std::cin, password)) fail_arg("no password on standard input");
      if (!password.empty() && password.back() == '\r') password.pop_back();
    }
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_credentials(target, scheme, args[2], password), job, "set the credentials of");
    std::cout << "Credentials set.\n";  // never echoed
    return kExitOk;
  });
}

int cmd_setproxysettings(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty() || args.size() > 3)
      throw Fail{{kExitUsage, "usage: setproxysettings JOB PRECONFIG|NO_PROXY|OVERRIDE [LIST [BYPASS]]"}};
    std::string usage = args[0];
    for (char& c : usage) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ProxySettings p;
    if (usage == "PRECONFIG") p.usage = ProxyUsage::preconfig;
    else if (usage == "NO_PROXY") p.usage = ProxyUsage::no_proxy;
    else if (usage == "OVERRIDE") p.usage = ProxyUsage::override_list;
    else fail_arg("the usage must be PRECONFIG, NO_PROXY or OVERRIDE, not " + shown(args[0]));
    if (args.size() > 1) p.proxy_list = args[1];
    if (args.size() > 2) p.bypass_list = args[2];
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_proxy_settings(p), job, "set the proxy settings of");
    std::cout << "Proxy settings set.\n";
    return kExitOk;
  });
}

int cmd_removecredentials(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.size() != 2) throw Fail{{kExitUsage, "usage: removecredentials JOB SERVER|PROXY BASIC|DIGEST|BEARER"}};
    AuthTarget target;
    AuthScheme scheme;
    parse_auth(args[0], args[1], &target, &scheme);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.remove_credentials(target, scheme), job, "remove the credentials of");
    std::cout << "Credentials removed.\n";
    return kExitOk;
  });
}

int cmd_getsecurityflags(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    std::cout << hresult_hex(get(job.security_flags())) << "\n";
    return kExitOk;
  });
}


}  // namespace xferq::cli
