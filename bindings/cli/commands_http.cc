// commands_http.cc — the subcommands of a job's HTTP options: custom
// headers, security flags (redirect policy), credentials, proxy settings,
// TLS options, remote names and download limits.
#include "command_support.h"
#include "commands.h"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>

namespace xferq::cli {

namespace {

// Changes a job's TLS options: reads them, lets `edit` change them, writes
// them back (a stored passphrase is kept: has_client_key_password).
void edit_tls(const Globals& g, const std::string& jobref, const std::function<void(TlsOptions&)>& edit) {
  auto q = open_queue(g, false);
  Job job = find_job(*q, jobref);
  TlsOptions t = get(job.tls_options());
  edit(t);
  check(job.set_tls_options(t), job, "set the TLS options of");
}

}  // namespace

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
    // "-": from standard input, so that it need not show in the process list.
    const std::string password = args[3] == "-" ? secret_from_stdin("password") : args[3];
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


int cmd_setclientcertificate(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty() || args.size() > 3)
      throw Fail{{kExitUsage, "usage: setclientcertificate JOB CERTFILE [KEYFILE [-]] (- reads the key's passphrase from stdin)"}};
    if (args.size() == 3 && args[2] != "-")
      fail_arg("the key's passphrase is read from standard input only: give - (it must not show in the process list)");
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    TlsOptions t = get(job.tls_options());
    t.client_certificate = absolute_path(args[0]);
    t.client_key = args.size() > 1 && !args[1].empty() ? absolute_path(args[1]) : std::string();
    t.client_key_password = args.size() == 3 ? secret_from_stdin("passphrase") : std::string();
    t.has_client_key_password = false;  // a new certificate: its passphrase, or none
    check(job.set_tls_options(t), job, "set the client certificate of");
    std::cout << "Client certificate set.\n";  // the passphrase is never echoed
    return kExitOk;
  });
}

int cmd_removeclientcertificate(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    TlsOptions t = get(job.tls_options());
    t.client_certificate.clear();
    t.client_key.clear();
    t.client_key_password.clear();
    t.has_client_key_password = false;
    check(job.set_tls_options(t), job, "remove the client certificate of");
    std::cout << "Client certificate removed.\n";
    return kExitOk;
  });
}

int cmd_setcacertificates(const Globals& g, const std::string& jobref, const std::string& path) {
  return guarded([&] {
    edit_tls(g, jobref, [&](TlsOptions& t) {
      t.ca_bundle.clear();
      t.ca_directory.clear();
      if (path.empty()) return;  // back to the queue's / system's CAs
      const std::string p = absolute_path(path);
      (std::filesystem::is_directory(p) ? t.ca_directory : t.ca_bundle) = p;
    });
    std::cout << (path.empty() ? "CA certificates: the system's.\n" : "CA certificates set.\n");
    return kExitOk;
  });
}

int cmd_setremotename(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.size() != 2) throw Fail{{kExitUsage, "usage: setremotename JOB FILE_INDEX URL"}};
    char* end = nullptr;
    const unsigned long index = std::strtoul(args[0].c_str(), &end, 10);
    if (args[0].empty() || !end || *end != '\0' || index > 0xFFFFFFFFul)
      fail_arg("the file index must be a number (0 for the first file): " + shown(args[0]));
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_remote_name(static_cast<uint32_t>(index), args[1]), job, "set a remote name of");
    std::cout << "Remote name of file " << index << " set.\n";
    return kExitOk;
  });
}

int cmd_replaceremoteprefix(const Globals& g, const std::string& jobref, const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.size() != 2) throw Fail{{kExitUsage, "usage: replaceremoteprefix JOB OLD_PREFIX NEW_PREFIX"}};
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.replace_remote_prefix(args[0], args[1]), job, "replace the remote prefix of");
    std::cout << "Remote prefix replaced.\n";
    return kExitOk;
  });
}

int cmd_setmaxdownloadtime(const Globals& g, const std::string& jobref, const std::string& seconds) {
  return guarded([&] {
    const int64_t s = parse_seconds(seconds);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_maximum_download_time(std::chrono::seconds(s)), job, "set the maximum download time of");
    std::cout << "Maximum download time set to " << get(job.maximum_download_time()).count() << " s.\n";
    return kExitOk;
  });
}

int cmd_getmaxdownloadtime(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    std::cout << get(job.maximum_download_time()).count() << "\n";
    return kExitOk;
  });
}

int cmd_setmaxdownloadsize(const Globals& g, const std::string& jobref, const std::string& bytes) {
  return guarded([&] {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(bytes.c_str(), &end, 10);
    if (bytes.empty() || bytes[0] == '-' || !end || *end != '\0')
      fail_arg("the size must be a number of bytes (0: no limit): " + shown(bytes));
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_max_download_size(v), job, "set the maximum download size of");
    std::cout << "Maximum download size set to " << v << (v ? " bytes.\n" : " (no limit).\n");
    return kExitOk;
  });
}

int cmd_getmaxdownloadsize(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    std::cout << get(job.max_download_size()) << "\n";
    return kExitOk;
  });
}

}  // namespace xferq::cli
