// nginx_test.cc — transfers through the real engine against a real
// third-party server, Debian's nginx (nginx_fixture.h): custom headers and
// Basic credentials as nginx sees them (its access log), credentials kept
// from another host, TLS trust and client certificates with a test CA, the
// https->http redirect rule, remote-name changes that resume or restart, the
// download size and time limits, and the response metadata a file records.
// Every check looks at the bytes on disk and at nginx's log, not only at the
// job's state. Skipped if nginx is not installed (scripts/install-deps.sh).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <set>

#include "nginx_fixture.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

constexpr uint32_t kHttp401 = 0x80190191u, kHttp403 = 0x80190193u, kHttp400 = 0x80190190u;
constexpr int64_t kMiB = 1024 * 1024;

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string basic(const std::string& user, const std::string& pw) { return "Basic " + base64(user + ":" + pw); }

// The ETag nginx's static module sends for a file: "mtime-size" in hex.
std::string nginx_etag(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%" PRIx64 "-%" PRIx64 "\"", static_cast<uint64_t>(st.st_mtime),
                static_cast<uint64_t>(st.st_size));
  return buf;
}

// "bytes=N-" -> N; -1 otherwise.
long long range_start(const std::string& range) {
  if (range.rfind("bytes=", 0) != 0 || range.empty() || range.back() != '-') return -1;
  return std::atoll(range.c_str() + 6);
}

// The file at `path` holds exactly `expected`; else where it differs.
::testing::AssertionResult same_bytes(const std::string& path, const std::string& expected) {
  if (!exists(path)) return ::testing::AssertionFailure() << path << " does not exist";
  const std::string got = read_file(path);
  if (got == expected) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < expected.size() && got[i] == expected[i]) ++i;
  return ::testing::AssertionFailure() << path << ": " << got.size() << " bytes, expected " << expected.size()
                                       << "; first difference at byte " << i;
}

std::string describe(const std::vector<NginxLogEntry>& log) {
  std::string s;
  for (const auto& e : log) s += "  " + e.raw + "\n";
  return s.empty() ? "  (no entries)\n" : s;
}

std::string error_text(const Job& job) {
  auto e = job.error();
  if (!e.ok()) return state_name(job);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", e->hresult);
  return state_name(job) + " " + buf + " " + e->description;
}

class Nginx : public NginxTest {
 protected:
  void SetUp() override {
    NginxTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    open();
  }
  void open(QueueOptions o = test_options(true)) {
    queue_.reset();
    queue_ = open_queue(dir_ / "queue.db", o);
    ASSERT_TRUE(queue_);
  }
  // A job with one file, not resumed.
  Job job_for(const std::string& url, const std::string& local, const std::string& name = "nginx") {
    auto job = queue_->create_job(name);
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_file(url, local)) << url;
    return *job;
  }
  // Resumes `job`, waits for TRANSFERRED and completes it; false (with the
  // state, error and nginx's log in the failure message) otherwise.
  ::testing::AssertionResult transfer(Job& job, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (auto ec = job.resume()) return ::testing::AssertionFailure() << "resume: " << ec.message();
    if (!wait_state(job, JobState::transferred, timeout))
      return ::testing::AssertionFailure() << "not TRANSFERRED: " << error_text(job) << "\nnginx log:\n"
                                           << describe(nginx_.access_log());
    CompleteStatus st{};
    if (auto ec = job.complete(&st)) return ::testing::AssertionFailure() << "complete: " << ec.message();
    if (st != CompleteStatus::all_files) return ::testing::AssertionFailure() << "partial complete";
    return ::testing::AssertionSuccess();
  }
  // Resumes `job` and waits for ERROR; its hresult (0 if it did not get there).
  uint32_t fail(Job& job, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    EXPECT_FALSE(job.resume());
    if (!wait_state(job, JobState::error, timeout)) {
      ADD_FAILURE() << "not ERROR: " << error_text(job);
      return 0;
    }
    auto e = job.error();
    return e.ok() ? e->hresult : 0;
  }
  bool logged(const std::function<bool(const NginxLogEntry&)>& pred) { return nginx_.wait_log(pred); }

  ScratchDir dir_;
  std::unique_ptr<Queue> queue_;
};

// ---- Custom headers -----------------------------------------------------------

TEST_F(Nginx, CustomHeaderOpensAGuardedLocation) {
  const std::string body = make_body(300000, 11);
  nginx_.put("h.bin", body);
  Job job = job_for(nginx_.url("/hdr/h.bin"), dir_ / "h.bin");
  EXPECT_EQ(fail(job), kHttp403) << error_text(job);
  EXPECT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/hdr/h.bin" && e.status == 403 && e.api_key.empty(); }))
      << describe(nginx_.access_log());

  ASSERT_FALSE(job.set_custom_headers({"X-Api-Key: sesame"}));
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "h.bin", body));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/hdr/h.bin" && e.status == 200 && e.api_key == "sesame";
  })) << describe(nginx_.access_log());
}

// A transfer suspended mid-file resumes with a Range request that carries the
// header too (/hdr-slow/ is throttled to 4 MB/s so the suspend lands mid-file).
TEST_F(Nginx, CustomHeaderIsSentOnTheResumingRangeRequest) {
  const std::string body = make_body(16 * kMiB, 12);
  nginx_.put("big.bin", body);
  Job job = job_for(nginx_.url("/hdr-slow/big.bin"), dir_ / "big.bin");
  ASSERT_FALSE(job.set_custom_headers({"X-Api-Key: sesame", "X-Other: 1"}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] {
    auto p = job.progress();
    return p.ok() && p->bytes_transferred >= kMiB;
  }, std::chrono::seconds(20))) << error_text(job);
  ASSERT_FALSE(job.suspend());
  // The aborted request is logged once nginx sees the connection go.
  ASSERT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/hdr-slow/big.bin"; }))
      << describe(nginx_.access_log());
  // What the resume must ask for: the bytes committed (read once the old
  // request is gone, just before the resume).
  const int64_t kept = job.progress()->bytes_transferred;
  ASSERT_GT(kept, 0);
  ASSERT_LT(kept, static_cast<int64_t>(body.size())) << "the transfer was not suspended mid-file";
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "big.bin", body));

  const auto log = nginx_.entries_for("/hdr-slow/big.bin");
  bool first = false, resumed = false;
  for (const auto& e : log) {
    EXPECT_EQ(e.api_key, "sesame") << e.raw;
    EXPECT_NE(e.status, 403) << e.raw;
    if (e.range.empty() && e.status == 200) first = true;
    if (range_start(e.range) > 0 && e.status == 206) {
      resumed = true;
      EXPECT_EQ(e.if_range, nginx_etag(nginx_.docroot() + "/big.bin")) << e.raw;
      EXPECT_EQ(range_start(e.range), kept) << e.raw;
    }
  }
  EXPECT_TRUE(first) << describe(log);
  EXPECT_TRUE(resumed) << "no 206 Range request with the header:\n" << describe(log);
}

// ---- Credentials ----------------------------------------------------------------

TEST_F(Nginx, BasicAuthNeedsTheRightCredentials) {
  const std::string body = make_body(120000, 21);
  nginx_.put("s.bin", body);
  Job none = job_for(nginx_.url("/basic/s.bin"), dir_ / "none.bin");
  EXPECT_EQ(fail(none), kHttp401) << error_text(none);
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/basic/s.bin" && e.status == 401 && e.authorization.empty();
  })) << describe(nginx_.access_log());
  EXPECT_FALSE(exists(dir_ / "none.bin"));

  Job good = job_for(nginx_.url("/basic/s.bin"), dir_ / "good.bin");
  ASSERT_FALSE(good.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "pw"));
  ASSERT_TRUE(transfer(good));
  EXPECT_TRUE(same_bytes(dir_ / "good.bin", body));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/basic/s.bin" && e.status == 200 && e.authorization == basic("user", "pw");
  })) << describe(nginx_.access_log());

  Job wrong = job_for(nginx_.url("/basic/s.bin"), dir_ / "wrong.bin");
  ASSERT_FALSE(wrong.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "wrong"));
  EXPECT_EQ(fail(wrong), kHttp401) << error_text(wrong);
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/basic/s.bin" && e.status == 401 && e.authorization == basic("user", "wrong");
  })) << describe(nginx_.access_log());
  EXPECT_FALSE(exists(dir_ / "wrong.bin"));
  // The error is the job's, not the file's: correcting the password and
  // resuming the same job gets the file.
  ASSERT_FALSE(wrong.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "pw"));
  ASSERT_TRUE(transfer(wrong));
  EXPECT_TRUE(same_bytes(dir_ / "wrong.bin", body));
}

TEST_F(Nginx, CredentialsAreNotForwardedToAnotherHost) {
  nginx_.put("f", make_body(5000, 31));
  Job job = job_for(nginx_.url("/redirect-other-host/f"), dir_ / "f");
  ASSERT_FALSE(job.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "pw"));
  EXPECT_EQ(fail(job), kHttp401) << error_text(job);
  ASSERT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/basic/f"; })) << describe(nginx_.access_log());
  const auto log = nginx_.access_log();
  bool origin = false, other = false;
  for (const auto& e : log) {
    if (e.uri == "/redirect-other-host/f") {
      origin = true;
      EXPECT_EQ(e.server_addr, "127.0.0.1") << e.raw;
      EXPECT_EQ(e.status, 302) << e.raw;
      // Sent to the origin: the assertion below would be vacuous otherwise.
      EXPECT_EQ(e.authorization, basic("user", "pw")) << e.raw;
    }
    if (e.uri == "/basic/f") {
      other = true;
      EXPECT_EQ(e.server_addr, "127.0.0.2") << e.raw;
      EXPECT_EQ(e.host, "127.0.0.2") << e.raw;
      EXPECT_EQ(e.authorization, "") << "credentials forwarded to another host: " << e.raw;
      EXPECT_EQ(e.status, 401) << e.raw;
    }
  }
  EXPECT_TRUE(origin) << describe(log);
  EXPECT_TRUE(other) << describe(log);
  EXPECT_FALSE(exists(dir_ / "f"));
}

// ---- TLS ------------------------------------------------------------------------

TEST_F(Nginx, HttpsWithAnUntrustedCaFailsWithATlsError) {
  const std::string body = make_body(70000, 41);
  nginx_.put("t.bin", body);
  Job job = job_for(nginx_.tls_url("/files/t.bin"), dir_ / "t.bin");
  EXPECT_EQ(fail(job), static_cast<uint32_t>(Errc::tls)) << error_text(job);
  EXPECT_EQ(job.error()->context, ErrorContext::general_transport);
  EXPECT_FALSE(exists(dir_ / "t.bin"));
  EXPECT_TRUE(nginx_.entries_for("/files/t.bin").empty()) << "a request went through:\n"
                                                          << describe(nginx_.access_log());
}

TEST_F(Nginx, HttpsWithTheJobsCaBundleTransfers) {
  const std::string body = make_body(70000, 42);
  nginx_.put("t.bin", body);
  Job job = job_for(nginx_.tls_url("/files/t.bin"), dir_ / "t.bin");
  EXPECT_EQ(fail(job), static_cast<uint32_t>(Errc::tls)) << error_text(job);
  TlsOptions tls;
  tls.ca_bundle = nginx_.ca_pem();
  ASSERT_FALSE(job.set_tls_options(tls));
  EXPECT_EQ(job.tls_options()->ca_bundle, nginx_.ca_pem());
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "t.bin", body));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/files/t.bin" && e.scheme == "https" && e.status == 200;
  })) << describe(nginx_.access_log());
  // The host is still verified: 127.0.0.2 and localhost are in the
  // certificate's names, so they work too.
  Job other = job_for(nginx_.tls_url("/files/t.bin", "localhost"), dir_ / "t2.bin");
  ASSERT_FALSE(other.set_tls_options(tls));
  ASSERT_TRUE(transfer(other));
  EXPECT_TRUE(same_bytes(dir_ / "t2.bin", body));
  // Another job of the queue still trusts only the system's CAs.
  Job plain = job_for(nginx_.tls_url("/files/t.bin"), dir_ / "t3.bin");
  EXPECT_EQ(fail(plain), static_cast<uint32_t>(Errc::tls)) << error_text(plain);
}

TEST_F(Nginx, HttpsWithTheQueuesCaBundleTransfers) {
  const std::string body = make_body(50000, 43);
  nginx_.put("q.bin", body);
  QueueOptions o = test_options(true);
  o.ca_bundle = nginx_.ca_pem();
  open(o);
  Job job = job_for(nginx_.tls_url("/files/q.bin", "127.0.0.2"), dir_ / "q.bin");
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "q.bin", body));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/files/q.bin" && e.server_addr == "127.0.0.2" && e.scheme == "https" && e.status == 200;
  })) << describe(nginx_.access_log());
}

TEST_F(Nginx, HttpsToHttpRedirectIsRefusedUnlessAllowed) {
  const std::string body = make_body(40000, 51);
  nginx_.put("d.bin", body);
  QueueOptions o = test_options(true);
  o.verify_tls = false;  // the trust is not what this test is about
  open(o);
  Job refused = job_for(nginx_.tls_url("/down/d.bin"), dir_ / "refused.bin");
  EXPECT_EQ(fail(refused), static_cast<uint32_t>(Errc::unsupported_scheme)) << error_text(refused);
  EXPECT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/down/d.bin" && e.status == 301; }))
      << describe(nginx_.access_log());
  EXPECT_TRUE(nginx_.entries_for("/files/d.bin").empty()) << "the http URL was fetched:\n"
                                                          << describe(nginx_.access_log());
  EXPECT_FALSE(exists(dir_ / "refused.bin"));

  Job allowed = job_for(nginx_.tls_url("/down/d.bin"), dir_ / "allowed.bin");
  ASSERT_FALSE(allowed.set_security_flags(kRedirectAllowHttpsToHttp | kRedirectPolicyAllowReport));
  ASSERT_TRUE(transfer(allowed));
  EXPECT_TRUE(same_bytes(dir_ / "allowed.bin", body));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/files/d.bin" && e.scheme == "http" && e.status == 200;
  })) << describe(nginx_.access_log());
  EXPECT_EQ((*allowed.files())[0].final_url, nginx_.url("/files/d.bin"));
}

// The client ports of the mTLS server's log entries for `uri`, with the
// verification nginx logged.
std::vector<std::pair<uint16_t, std::string>> mtls_connections(const NginxServer& nginx, const std::string& uri) {
  std::vector<std::pair<uint16_t, std::string>> out;
  for (const auto& e : nginx.entries_for(uri))
    if (e.server_port == nginx.mtls_port()) out.emplace_back(e.remote_port, e.ssl_client_verify);
  return out;
}

TEST_F(Nginx, MutualTlsNeedsTheClientCertificate) {
  const std::string body = make_body(90000, 61);
  nginx_.put("m.bin", body);
  TlsOptions trust;
  trust.ca_bundle = nginx_.ca_pem();
  auto refused = [&](Job& job, const std::string& local) {
    const uint32_t hr = fail(job);
    EXPECT_TRUE(hr == kHttp400 || hr == static_cast<uint32_t>(Errc::tls)) << error_text(job);
    EXPECT_FALSE(exists(local));
    EXPECT_EQ((*job.files())[0].bytes_transferred, 0);
    return hr;
  };

  Job anonymous = job_for(nginx_.mtls_url("/files/m.bin"), dir_ / "anon.bin");
  ASSERT_FALSE(anonymous.set_tls_options(trust));
  if (refused(anonymous, dir_ / "anon.bin") == kHttp400) {
    EXPECT_TRUE(logged([](const NginxLogEntry& e) {
      return e.uri == "/files/m.bin" && e.status == 400 && e.ssl_client_verify == "NONE";
    })) << describe(nginx_.access_log());
  }

  TlsOptions id = trust;
  id.client_certificate = nginx_.client_cert();
  id.client_key = nginx_.client_key();
  Job with_cert = job_for(nginx_.mtls_url("/files/m.bin"), dir_ / "cert.bin");
  ASSERT_FALSE(with_cert.set_tls_options(id));
  ASSERT_TRUE(transfer(with_cert));
  EXPECT_TRUE(same_bytes(dir_ / "cert.bin", body));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) {
    return e.uri == "/files/m.bin" && e.status == 200 && e.ssl_client_verify == "SUCCESS";
  })) << describe(nginx_.access_log());

  // A job without a certificate never rides on the authenticated connection
  // the previous job left open.
  Job anonymous_after = job_for(nginx_.mtls_url("/files/m.bin"), dir_ / "anon2.bin");
  ASSERT_FALSE(anonymous_after.set_tls_options(trust));
  refused(anonymous_after, dir_ / "anon2.bin");

  // The certificate and its key in one file (client_key "").
  const std::string both = dir_ / "both.pem";
  write_file(both, read_file(nginx_.client_cert()) + read_file(nginx_.client_key()));
  TlsOptions combined = trust;
  combined.client_certificate = both;
  Job one_file = job_for(nginx_.mtls_url("/files/m.bin"), dir_ / "combined.bin");
  ASSERT_FALSE(one_file.set_tls_options(combined));
  ASSERT_TRUE(transfer(one_file));
  EXPECT_TRUE(same_bytes(dir_ / "combined.bin", body));

  // The encrypted key. Each of the jobs below names a copy of the
  // certificate of its own, so that this part holds whatever libcurl's
  // connection reuse does (TlsIdentityIsNotReusedWithAnotherKeyOrPassphrase
  // tests the engine's own guard).
  auto cert_copy = [&](const std::string& name) {
    const std::string p = dir_ / name;
    write_file(p, read_file(nginx_.client_cert()));
    return p;
  };
  std::set<uint16_t> before;
  for (const auto& [port, verify] : mtls_connections(nginx_, "/files/m.bin")) before.insert(port);
  TlsOptions enc = trust;
  enc.client_certificate = cert_copy("enc-cert.pem");
  enc.client_key = nginx_.client_key_encrypted();
  enc.client_key_password = NginxServer::kKeyPassphrase;
  Job encrypted = job_for(nginx_.mtls_url("/files/m.bin"), dir_ / "enc.bin");
  ASSERT_FALSE(encrypted.set_tls_options(enc));
  auto stored = encrypted.tls_options();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->client_key_password, "") << "the passphrase was read back";
  EXPECT_TRUE(stored->has_client_key_password);
  EXPECT_EQ(stored->client_key, nginx_.client_key_encrypted());
  ASSERT_TRUE(transfer(encrypted));
  EXPECT_TRUE(same_bytes(dir_ / "enc.bin", body));
  const auto after = mtls_connections(nginx_, "/files/m.bin");
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back().second, "SUCCESS");
  EXPECT_EQ(before.count(after.back().first), 0u) << "the encrypted key's job reused an earlier connection:\n"
                                                  << describe(nginx_.access_log());

  // The wrong passphrase: refused when set, or the attempt fails; never a
  // transfer (and no request: the handshake cannot complete).
  TlsOptions bad = enc;
  bad.client_certificate = cert_copy("bad-cert.pem");
  bad.client_key_password = "not-the-passphrase";
  Job wrong = job_for(nginx_.mtls_url("/files/m.bin"), dir_ / "wrong.bin");
  if (!wrong.set_tls_options(bad)) {
    EXPECT_EQ(fail(wrong), static_cast<uint32_t>(Errc::tls)) << error_text(wrong);
    EXPECT_FALSE(exists(dir_ / "wrong.bin"));
  }
  EXPECT_EQ(mtls_connections(nginx_, "/files/m.bin").size(), after.size())
      << "a request went out without the key:\n" << describe(nginx_.access_log());
}

// An encrypted key and no passphrase: refused when set, or the attempt fails
// with a TLS error. Never OpenSSL's own "Enter PEM pass phrase:" prompt on
// the terminal, which blocks the worker thread (the job stays CONNECTING)
// when the process has one: libcurl installs its passphrase callback only if
// CURLOPT_KEYPASSWD is set: the engine always sets it ("" if none).
TEST_F(Nginx, EncryptedKeyWithoutPassphraseFails) {
  nginx_.put("n.bin", make_body(20000, 63));
  TlsOptions o;
  o.ca_bundle = nginx_.ca_pem();
  o.client_certificate = nginx_.client_cert();
  o.client_key = nginx_.client_key_encrypted();
  Job job = job_for(nginx_.mtls_url("/files/n.bin"), dir_ / "n.bin");
  if (job.set_tls_options(o)) return;  // refused when set: fine
  EXPECT_EQ(fail(job), static_cast<uint32_t>(Errc::tls)) << error_text(job);
  EXPECT_FALSE(exists(dir_ / "n.bin"));
  EXPECT_TRUE(nginx_.entries_for("/files/n.bin").empty()) << describe(nginx_.access_log());
}

// libcurl (7.88) matches a connection and a TLS session to reuse by the
// client certificate's path, not by the key or its passphrase: a job naming
// the same certificate with the wrong passphrase would get the connection
// another job authenticated. The engine gives every job with a client
// identity a fresh connection, never reused, without session resumption.
TEST_F(Nginx, TlsIdentityIsNotReusedWithAnotherKeyOrPassphrase) {
  const std::string body = make_body(50000, 62);
  nginx_.put("r.bin", body);
  TlsOptions good;
  good.ca_bundle = nginx_.ca_pem();
  good.client_certificate = nginx_.client_cert();
  good.client_key = nginx_.client_key_encrypted();
  good.client_key_password = NginxServer::kKeyPassphrase;
  Job first = job_for(nginx_.mtls_url("/files/r.bin"), dir_ / "first.bin");
  ASSERT_FALSE(first.set_tls_options(good));
  ASSERT_TRUE(transfer(first));
  TlsOptions bad = good;
  bad.client_key_password = "not-the-passphrase";
  Job second = job_for(nginx_.mtls_url("/files/r.bin"), dir_ / "second.bin");
  if (second.set_tls_options(bad)) return;  // refused when set: fine
  EXPECT_EQ(fail(second), static_cast<uint32_t>(Errc::tls)) << error_text(second) << "\n"
                                                             << describe(nginx_.access_log());
  EXPECT_FALSE(exists(dir_ / "second.bin"));
}

TEST_F(Nginx, BadTlsFilesAreRefusedAndChangeNothing) {
  TlsOptions good;
  good.ca_bundle = nginx_.ca_pem();
  good.client_certificate = nginx_.client_cert();
  good.client_key = nginx_.client_key_encrypted();
  good.client_key_password = NginxServer::kKeyPassphrase;
  Job job = job_for(nginx_.mtls_url("/files/x"), dir_ / "x");
  ASSERT_FALSE(job.set_tls_options(good));
  auto same = [&](const char* what) {
    auto now = job.tls_options();
    ASSERT_TRUE(now.ok()) << what;
    EXPECT_EQ(now->ca_bundle, good.ca_bundle) << what;
    EXPECT_EQ(now->ca_directory, "") << what;
    EXPECT_EQ(now->client_certificate, good.client_certificate) << what;
    EXPECT_EQ(now->client_key, good.client_key) << what;
    EXPECT_TRUE(now->has_client_key_password) << what;
  };
  const std::string not_pem = dir_ / "not.pem";
  write_file(not_pem, "this is not a certificate\n");
  auto with_cert = [&](const std::string& cert) {
    TlsOptions o = good;
    o.client_certificate = cert;
    return job.set_tls_options(o);
  };
  EXPECT_EQ(with_cert("relative/client.pem"), make_error_code(Errc::invalid_arg));
  same("relative path");
  EXPECT_EQ(with_cert(dir_ / "missing.pem"), make_error_code(Errc::file_not_found));
  same("missing file");
  EXPECT_EQ(with_cert(dir_.path()), make_error_code(Errc::invalid_arg));
  same("a directory");
  EXPECT_EQ(with_cert(not_pem), make_error_code(Errc::invalid_arg));
  same("not PEM");
  {
    TlsOptions o = good;
    o.client_key = not_pem;
    EXPECT_EQ(job.set_tls_options(o), make_error_code(Errc::invalid_arg));
    same("key not PEM");
  }
  {
    TlsOptions o = good;
    o.ca_bundle = not_pem;
    EXPECT_EQ(job.set_tls_options(o), make_error_code(Errc::invalid_arg));
    same("CA bundle not PEM");
  }
  {
    TlsOptions o;  // a key without a certificate
    o.client_key = nginx_.client_key();
    EXPECT_EQ(job.set_tls_options(o), make_error_code(Errc::invalid_arg));
    same("key without certificate");
  }
  if (::geteuid() != 0) {  // root reads any file
    const std::string locked = dir_ / "locked.pem";
    write_file(locked, read_file(nginx_.client_cert()));
    ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
    EXPECT_EQ(with_cert(locked), make_error_code(Errc::access_denied));
    same("unreadable file");
  }
  // Empty options clear them.
  ASSERT_FALSE(job.set_tls_options(TlsOptions{}));
  auto cleared = job.tls_options();
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->client_certificate, "");
  EXPECT_FALSE(cleared->has_client_key_password);
}

// ---- Remote names ---------------------------------------------------------------

class NginxRemoteName : public Nginx {
 protected:
  void SetUp() override {
    Nginx::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    a_ = make_body(16 * kMiB, 71);
    b_ = make_body(16 * kMiB, 72);
    const std::string a = nginx_.put("a", a_);
    // a2: the same file under another name (a hard link: same bytes, same
    // mtime, so nginx's ETag matches and If-Range holds).
    ASSERT_EQ(::link(a.c_str(), (nginx_.docroot() + "/a2").c_str()), 0);
    // b: other bytes, another mtime: another ETag.
    const std::string b = nginx_.put("b", b_);
    struct timespec times[2] = {{time(nullptr) - 1000, 0}, {time(nullptr) - 1000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, b.c_str(), times, 0), 0);
    ASSERT_NE(nginx_etag(a), nginx_etag(b));
    ASSERT_EQ(nginx_etag(a), nginx_etag(nginx_.docroot() + "/a2"));
  }
  // Starts a job on the throttled /slow/a and suspends it once at least
  // 1 MiB is committed; the bytes kept.
  int64_t start_and_suspend(Job& job) {
    EXPECT_FALSE(job.resume());
    EXPECT_TRUE(wait_for([&] {
      auto p = job.progress();
      return p.ok() && p->bytes_transferred >= kMiB;
    }, std::chrono::seconds(20))) << error_text(job);
    EXPECT_FALSE(job.suspend());
    EXPECT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/slow/a"; })) << describe(nginx_.access_log());
    const int64_t kept = job.progress()->bytes_transferred;
    EXPECT_GE(kept, kMiB);
    EXPECT_LT(kept, static_cast<int64_t>(a_.size())) << "not suspended mid-file";
    return kept;
  }
  std::string a_, b_;
};

TEST_F(NginxRemoteName, SameEntityUnderANewNameResumesWithRange) {
  Job job = job_for(nginx_.url("/slow/a"), dir_ / "a");
  const int64_t kept = start_and_suspend(job);
  ASSERT_FALSE(job.set_remote_name(0, nginx_.url("/files/a2")));
  EXPECT_EQ((*job.files())[0].remote_url, nginx_.url("/files/a2"));
  EXPECT_EQ((*job.files())[0].bytes_transferred, kept) << "the bytes fetched were dropped";
  EXPECT_EQ(job.progress()->bytes_transferred, kept);
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "a", a_));
  const auto log = nginx_.entries_for("/files/a2");
  ASSERT_EQ(log.size(), 1u) << describe(log);
  EXPECT_EQ(log[0].status, 206) << log[0].raw;
  EXPECT_EQ(range_start(log[0].range), kept) << log[0].raw;
  EXPECT_EQ(log[0].if_range, nginx_etag(nginx_.docroot() + "/a")) << log[0].raw;
  // Only the rest came from a2.
  EXPECT_LT(log[0].bytes_sent, static_cast<long long>(a_.size()) - kept + 4096) << log[0].raw;
  auto files = job.files();
  EXPECT_EQ((*files)[0].http_status, 206) << "the last response's status";
  EXPECT_EQ((*files)[0].etag, nginx_etag(nginx_.docroot() + "/a2"));
}

TEST_F(NginxRemoteName, OtherEntityUnderANewNameRestartsFromZero) {
  Job job = job_for(nginx_.url("/slow/a"), dir_ / "b");
  const int64_t kept = start_and_suspend(job);
  ASSERT_FALSE(job.set_remote_name(0, nginx_.url("/files/b")));
  ASSERT_TRUE(transfer(job));
  const std::string got = read_file(dir_ / "b");
  EXPECT_TRUE(same_bytes(dir_ / "b", b_))
      << (got.compare(0, kept, a_, 0, kept) == 0 ? "A's bytes spliced onto B's" : "not B");
  // The resume asked for the rest of A's entity (Range + If-Range with A's
  // ETag); nginx answered the whole of B (200), and B was fetched whole.
  const auto log = nginx_.entries_for("/files/b");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(range_start(log[0].range), kept) << log[0].raw;
  EXPECT_EQ(log[0].if_range, nginx_etag(nginx_.docroot() + "/a")) << log[0].raw;
  EXPECT_EQ(log[0].status, 200) << log[0].raw;
  for (const auto& e : log) EXPECT_NE(e.status, 206) << "a range of B was spliced onto A's bytes: " << e.raw;
  auto files = job.files();
  EXPECT_EQ((*files)[0].etag, nginx_etag(nginx_.docroot() + "/b"));
  EXPECT_EQ((*files)[0].http_status, 200);
}

TEST_F(Nginx, ReplaceRemotePrefixMovesEveryMatchingFile) {
  nginx_.put("p1", make_body(30000, 81));
  nginx_.put("p2", make_body(40000, 82));
  auto job = queue_->create_job("prefix");
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->add_files({{nginx_.url("/gone/p1"), dir_ / "p1"}, {nginx_.url("/gone/p2"), dir_ / "p2"}}));
  EXPECT_EQ(job->replace_remote_prefix("", nginx_.url("/files/")), make_error_code(Errc::invalid_arg));
  EXPECT_FALSE(job->replace_remote_prefix("http://example.invalid/", nginx_.url("/files/"))) << "none matches: S_OK";
  EXPECT_EQ(job->replace_remote_prefix(nginx_.url("/gone/"), "ftp://127.0.0.1/"),
            make_error_code(Errc::unsupported_scheme));
  EXPECT_EQ((*job->files())[0].remote_url, nginx_.url("/gone/p1")) << "changed although refused";
  ASSERT_FALSE(job->replace_remote_prefix(nginx_.url("/gone/"), nginx_.url("/files/", "127.0.0.2")));
  EXPECT_EQ((*job->files())[1].remote_url, nginx_.url("/files/p2", "127.0.0.2"));
  ASSERT_TRUE(transfer(*job));
  EXPECT_TRUE(same_bytes(dir_ / "p1", read_file(nginx_.docroot() + "/p1")));
  EXPECT_TRUE(same_bytes(dir_ / "p2", read_file(nginx_.docroot() + "/p2")));
  EXPECT_TRUE(nginx_.entries_for("/gone/p1").empty()) << describe(nginx_.access_log());
  for (const char* uri : {"/files/p1", "/files/p2"}) {
    const auto log = nginx_.entries_for(uri);
    ASSERT_EQ(log.size(), 1u) << describe(nginx_.access_log());
    EXPECT_EQ(log[0].server_addr, "127.0.0.2") << log[0].raw;
  }
}

// ---- Limits ---------------------------------------------------------------------

TEST_F(Nginx, MaxDownloadSizeRefusesWhatWouldGoPastIt) {
  const std::string one = make_body(60000, 91), two = make_body(60000, 92);
  nginx_.put("l1", one);
  nginx_.put("l2", two);
  // Exactly the limit: transfers.
  Job exact = job_for(nginx_.url("/files/l1"), dir_ / "exact");
  ASSERT_FALSE(exact.set_max_download_size(one.size()));
  ASSERT_TRUE(transfer(exact));
  EXPECT_TRUE(same_bytes(dir_ / "exact", one));
  // Two files of 60,000 under a limit of 100,000: the first transfers, the
  // second's Content-Length goes past the limit.
  auto job = queue_->create_job("limited");
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->add_files({{nginx_.url("/files/l1"), dir_ / "l1"}, {nginx_.url("/files/l2"), dir_ / "l2"}}));
  ASSERT_FALSE(job->set_max_download_size(100000));
  EXPECT_EQ(*job->max_download_size(), 100000u);
  EXPECT_EQ(fail(*job), static_cast<uint32_t>(Errc::max_download_size_reached)) << error_text(*job);
  EXPECT_EQ(job->error()->file_index, std::optional<uint32_t>(1));
  auto files = job->files();
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE((*files)[0].completed);
  EXPECT_FALSE((*files)[1].completed);
  EXPECT_LE((*files)[0].bytes_transferred + (*files)[1].bytes_transferred, 100000);
  if (!(*files)[1].temp_path.empty() && exists((*files)[1].temp_path)) {
    struct stat st {};
    ASSERT_EQ(::stat((*files)[1].temp_path.c_str(), &st), 0);
    EXPECT_LE(st.st_size, 100000 - 60000) << "bytes past the limit were written";
  }
  EXPECT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/files/l2"; })) << describe(nginx_.access_log());
  CompleteStatus st{};
  ASSERT_FALSE(job->complete(&st));
  EXPECT_EQ(st, CompleteStatus::partial);
  EXPECT_TRUE(same_bytes(dir_ / "l1", one));
  EXPECT_FALSE(exists(dir_ / "l2"));
}

TEST_F(Nginx, MaximumDownloadTimeStopsASlowTransferAndKeepsItsBytes) {
  const std::string body = make_body(6 * kMiB, 93);
  nginx_.put("slowfile", body);  // /slow/: 2 MB/s, so 3 s in all
  Job job = job_for(nginx_.url("/slow/slowfile"), dir_ / "slowfile");
  ASSERT_FALSE(job.set_maximum_download_time(std::chrono::seconds(1)));
  EXPECT_EQ(fail(job), static_cast<uint32_t>(Errc::max_download_timeout)) << error_text(job);
  const int64_t kept = job.progress()->bytes_transferred;
  EXPECT_GT(kept, 0) << "what arrived was dropped";
  EXPECT_LT(kept, static_cast<int64_t>(body.size()));
  EXPECT_GE(job.info()->download_time_used, std::chrono::seconds(1));
  EXPECT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/slow/slowfile"; }))
      << describe(nginx_.access_log());
  // The default again: resumes from what it kept.
  ASSERT_FALSE(job.set_maximum_download_time(std::chrono::seconds(0)));
  EXPECT_EQ(*job.maximum_download_time(), std::chrono::seconds(7776000));
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "slowfile", body));
  const auto log = nginx_.entries_for("/slow/slowfile");
  ASSERT_EQ(log.size(), 2u) << describe(log);
  EXPECT_EQ(range_start(log[1].range), kept) << log[1].raw;
  EXPECT_EQ(log[1].status, 206) << log[1].raw;
}

// ---- Response metadata ------------------------------------------------------------

TEST_F(Nginx, FilesRecordTheLastResponsesMetadata) {
  const std::string text = "hello from nginx\n";
  const std::string path = nginx_.put("x.txt", text);
  Job job = job_for(nginx_.url("/files/x.txt"), dir_ / "x.txt");
  Job cd = job_for(nginx_.url("/cd/x.txt"), dir_ / "cd.txt");
  ASSERT_TRUE(transfer(job));
  ASSERT_TRUE(transfer(cd));
  EXPECT_TRUE(same_bytes(dir_ / "x.txt", text));
  EXPECT_TRUE(same_bytes(dir_ / "cd.txt", text));
  auto f = job.files();
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)[0].http_status, 200);
  EXPECT_EQ((*f)[0].content_type, "text/plain");
  EXPECT_EQ((*f)[0].etag, nginx_etag(path));
  EXPECT_FALSE((*f)[0].last_modified.empty());
  EXPECT_EQ((*f)[0].content_disposition, "");
  auto g = cd.files();
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)[0].http_status, 200);
  EXPECT_EQ((*g)[0].content_disposition, "attachment; filename=\"x.txt\"");
  EXPECT_EQ((*g)[0].last_modified, (*f)[0].last_modified);
  EXPECT_TRUE(logged([](const NginxLogEntry& e) { return e.uri == "/cd/x.txt" && e.status == 200; }));
}

}  // namespace
}  // namespace xferq::testing
