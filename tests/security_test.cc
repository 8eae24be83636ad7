// security_test.cc — what an outside attack and a careless operator found
// (the hardening issue), each against real servers: the queue file's mode,
// credentials never shown, a content-coded body never kept as the file, no
// silent HTTPS downgrade on redirect, control characters refused in names,
// two spellings of one target refused, a slow drip treated as a stall.
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>

#include "child_process.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0;
}

class Security : public ::testing::Test {
 protected:
  void open(QueueOptions o = test_options(true)) {
    queue_.reset();
    queue_ = open_queue(dir_ / "queue.db", o);
    ASSERT_TRUE(queue_);
  }
  ScratchDir dir_;
  FixtureServer server_;
  std::unique_ptr<Queue> queue_;
};

TEST_F(Security, QueueFileAndItsWalAndShmArePrivate) {
  const mode_t old = ::umask(022);
  open();
  auto job = queue_->create_job("private");
  ASSERT_TRUE(job.ok());
  ::umask(old);
  EXPECT_EQ(mode_of(dir_ / "queue.db"), 0600u);
  EXPECT_EQ(mode_of(dir_ / "queue.db-wal"), 0600u);
  EXPECT_EQ(mode_of(dir_ / "queue.db-shm"), 0600u);
  // A queue file an older version left world-readable is made private.
  queue_.reset();
  ASSERT_EQ(::chmod((dir_ / "queue.db").c_str(), 0644), 0);
  open();
  EXPECT_EQ(mode_of(dir_ / "queue.db"), 0600u);
}

TEST_F(Security, ReadOnlyOpenNeverCreatesAQueue) {
  QueueOptions o = test_options(false);
  o.create_if_missing = false;
  auto q = Queue::open(dir_ / "missing.db", o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error(), make_error_code(Errc::file_not_found));
  EXPECT_FALSE(exists(dir_ / "missing.db"));
}

TEST_F(Security, CredentialsInAUrlAreNeverShown) {
  open();
  server_.set("/secret", body_resource(make_body(1000, 1)));
  const std::string url = "http://alice:s3cr3t@127.0.0.1:" + std::to_string(server_.port()) + "/secret";
  auto job = queue_->create_job("creds");
  ASSERT_FALSE(job->add_file(url, dir_ / "s.bin"));
  auto files = job->files();
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)[0].remote_url.find("s3cr3t"), std::string::npos) << (*files)[0].remote_url;
  EXPECT_EQ((*files)[0].remote_url.find("alice"), std::string::npos) << (*files)[0].remote_url;
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred));  // the credentials are still used
  ASSERT_FALSE(job->complete());
  // An error description never carries them either.
  const std::string gone = "http://alice:s3cr3t@127.0.0.1:" + std::to_string(server_.port()) + "/gone";
  auto failing = queue_->create_job("creds 404");
  ASSERT_FALSE(failing->add_file(gone, dir_ / "g.bin"));
  ASSERT_FALSE(failing->resume());
  ASSERT_TRUE(wait_state(*failing, JobState::error));
  auto e = failing->error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->description.find("s3cr3t"), std::string::npos) << e->description;
  EXPECT_NE(e->description.find("***@127.0.0.1"), std::string::npos) << e->description;
}

TEST_F(Security, ContentCodedBodyIsNeverKeptAsTheFile) {
  open();
  Resource r = body_resource(std::string("\x1f\x8b\x08\x00 not the file's bytes", 26));
  r.extra_headers.push_back({"Content-Encoding", "gzip"});
  server_.set("/gz", r);
  auto job = queue_->create_job("gzip");
  ASSERT_FALSE(job->add_file(server_.url("/gz"), dir_ / "gz.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::error)) << state_name(*job);
  EXPECT_EQ(job->error()->hresult, static_cast<uint32_t>(Errc::validation_failed));
  EXPECT_EQ(job->progress()->bytes_transferred, 0);
  EXPECT_FALSE(exists(dir_ / "gz.bin"));
}

TEST_F(Security, ControlCharactersInNamesAreRefused) {
  open(test_options(false));
  EXPECT_EQ(queue_->create_job("two\nlines").error(), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(queue_->create_job("bell\x07").error(), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(queue_->create_job("csi\xc2\x9b" "31m").error(), make_error_code(Errc::invalid_arg));
  auto job = queue_->create_job("plain name, caf\xc3\xa9");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->set_display_name("esc\x1b[2J"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_description("esc\x1b[2J"), make_error_code(Errc::invalid_arg));
  EXPECT_FALSE(job->set_description("line one\nline two\twith a tab"));
}

TEST_F(Security, TwoSpellingsOfOneTargetAreOneTarget) {
  open(test_options(false));
  ASSERT_EQ(::mkdir((dir_ / "out").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((dir_ / "out").c_str(), (dir_ / "link").c_str()), 0);
  auto a = queue_->create_job("a");
  auto b = queue_->create_job("b");
  ASSERT_FALSE(a->add_file("http://127.0.0.1:1/f", dir_ / "out/f"));
  EXPECT_EQ(b->add_file("http://127.0.0.1:1/f", dir_ / "link/f"), make_error_code(Errc::file_exists));
  EXPECT_EQ(b->files()->size(), 0u);
}

TEST_F(Security, ASlowDripBelowTheSpeedLimitIsAStall) {
  QueueOptions o = test_options(true);
  o.low_speed_bytes_per_sec = 1000;
  o.stall_timeout = std::chrono::seconds(1);
  open(o);
  Resource r = body_resource(make_body(100000, 3));
  r.bytes_per_sec = 20;  // would take hours
  server_.set("/drip", r);
  auto job = queue_->create_job("drip");
  ASSERT_FALSE(job->add_file(server_.url("/drip"), dir_ / "drip.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transient_error, std::chrono::seconds(15))) << state_name(*job);
  EXPECT_EQ(job->error()->hresult, static_cast<uint32_t>(Errc::transport));
}

// Credentials go to the job's own origin, never to a redirect target on
// another host or port, and are never shown.
TEST_F(Security, CredentialsGoToTheOriginOnly) {
  open();
  FixtureServer other;
  const std::string body = make_body(3000, 5);
  other.set("/elsewhere", body_resource(body));
  Resource moved;
  moved.status = 302;
  moved.location = other.url("/elsewhere");
  server_.set("/moved", moved);
  server_.set("/here", body_resource(body));
  auto job = queue_->create_job("basic");
  ASSERT_FALSE(job->add_files({{server_.url("/here"), dir_ / "here.bin"}, {server_.url("/moved"), dir_ / "there.bin"}}));
  ASSERT_FALSE(job->set_credentials(AuthTarget::server, AuthScheme::basic, "alice", "pa55word"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred)) << state_name(*job);
  auto header = [](const RequestRecord& r, const std::string& name) {
    for (const auto& [n, v] : r.headers)
      if (strcasecmp(n.c_str(), name.c_str()) == 0) return v;
    return std::string();
  };
  ASSERT_FALSE(server_.requests_for("/here").empty());
  EXPECT_EQ(header(server_.requests_for("/here").back(), "Authorization"), "Basic YWxpY2U6cGE1NXdvcmQ=");
  ASSERT_FALSE(other.requests_for("/elsewhere").empty());
  EXPECT_EQ(header(other.requests_for("/elsewhere").back(), "Authorization"), "") << "credentials forwarded";

  auto bearer = queue_->create_job("bearer");
  ASSERT_FALSE(bearer->add_file(server_.url("/here"), dir_ / "b.bin"));
  ASSERT_FALSE(bearer->set_credentials(AuthTarget::server, AuthScheme::bearer, "", "t0ken"));
  ASSERT_FALSE(bearer->resume());
  ASSERT_TRUE(wait_state(*bearer, JobState::transferred)) << state_name(*bearer);
  EXPECT_EQ(header(server_.requests_for("/here").back(), "Authorization"), "Bearer t0ken");

  // Bad input: a clear error, nothing changed.
  EXPECT_EQ(bearer->set_credentials(AuthTarget::server, AuthScheme::basic, "a:b", "x"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(bearer->set_credentials(AuthTarget::server, AuthScheme::basic, "a", std::string("x\0y", 3)),
            make_error_code(Errc::invalid_arg));
  EXPECT_EQ(bearer->set_credentials(AuthTarget::proxy, AuthScheme::digest, "a", ""), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(bearer->set_credentials(static_cast<AuthTarget>(7), AuthScheme::basic, "a", "b"),
            make_error_code(Errc::invalid_arg));
  ASSERT_FALSE(bearer->complete());
  EXPECT_EQ(bearer->set_credentials(AuthTarget::server, AuthScheme::basic, "a", "b"),
            make_error_code(Errc::invalid_state));
  EXPECT_FALSE(job->remove_credentials(AuthTarget::server, AuthScheme::digest)) << "none there: success";
}

// A job's own proxy (OVERRIDE) is a real forward proxy, Debian's tinyproxy,
// started by the test on loopback: its log shows the requests that went
// through it, and a host in the bypass list goes direct.
TEST_F(Security, OverrideProxyCarriesTheJobsRequestsExceptBypassed) {
  if (::access("/usr/bin/tinyproxy", X_OK) != 0) GTEST_SKIP() << "tinyproxy is not installed (scripts/install-deps.sh)";
  // A free port for the proxy (tinyproxy takes a fixed one).
  FixtureServer probe;
  const uint16_t port = probe.port();
  probe.stop();
  const std::string conf = dir_ / "tinyproxy.conf", log = dir_ / "tinyproxy.log";
  {
    std::ofstream c(conf);
    c << "Port " << port << "\nListen 127.0.0.1\nTimeout 30\nLogFile \"" << log << "\"\nLogLevel Info\n"
      << "MaxClients 20\nAllow 127.0.0.1\nDisableViaHeader Yes\n";
  }
  const pid_t proxy = spawn("/usr/bin/tinyproxy", {"-d", "-c", conf}, dir_ / "tp.out", dir_ / "tp.err");
  ASSERT_GT(proxy, 0);
  ASSERT_TRUE(wait_for([&] { return read_file(log).find("listening on") != std::string::npos ||
                                    read_file(log).find("Listening on") != std::string::npos; },
                       std::chrono::milliseconds(10000)))
      << read_file(log) << read_file(dir_ / "tp.err");
  open();
  const std::string body = make_body(4000, 6);
  server_.set("/via", body_resource(body));
  server_.set("/direct", body_resource(body));
  auto via = queue_->create_job("via proxy");
  EXPECT_EQ(via->set_proxy_settings({ProxyUsage::override_list, "", ""}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(via->set_proxy_settings({ProxyUsage::no_proxy, "127.0.0.1:1", ""}), make_error_code(Errc::invalid_arg));
  ASSERT_FALSE(via->set_proxy_settings({ProxyUsage::override_list, "127.0.0.1:" + std::to_string(port), ""}));
  EXPECT_EQ(via->proxy_settings()->usage, ProxyUsage::override_list);
  ASSERT_FALSE(via->add_file(server_.url("/via"), dir_ / "via.bin"));
  ASSERT_FALSE(via->resume());
  const bool via_done = wait_state(*via, JobState::transferred);
  auto direct = queue_->create_job("bypassed");
  ASSERT_FALSE(direct->set_proxy_settings(
      {ProxyUsage::override_list, "127.0.0.1:" + std::to_string(port), "example.invalid;127.0.0.1"}));
  ASSERT_FALSE(direct->add_file(server_.url("/direct"), dir_ / "direct.bin"));
  ASSERT_FALSE(direct->resume());
  const bool direct_done = wait_state(*direct, JobState::transferred);
  ::kill(proxy, SIGTERM);
  ::waitpid(proxy, nullptr, 0);
  ASSERT_TRUE(via_done) << state_name(*via);
  ASSERT_TRUE(direct_done) << state_name(*direct);
  const std::string proxied = read_file(log);
  EXPECT_NE(proxied.find("/via"), std::string::npos) << proxied;
  EXPECT_EQ(proxied.find("/direct"), std::string::npos) << "a bypassed host went through the proxy";
}

// An HTTPS server (Python's, with a certificate made for the test) that
// redirects to plain http: the transfer must refuse, not follow.
TEST_F(Security, HttpsIsNeverRedirectedToHttp) {
  const std::string cert = dir_ / "cert.pem", key = dir_ / "key.pem", port_file = dir_ / "port";
  const pid_t gen = spawn("/usr/bin/openssl",
                          {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days",
                           "1", "-subj", "/CN=127.0.0.1"},
                          dir_ / "openssl.out", dir_ / "openssl.err");
  ASSERT_EQ(wait_exit(gen, std::chrono::seconds(60)), 0) << read_file(dir_ / "openssl.err");
  server_.set("/plain", body_resource(make_body(1000, 4)));
  const pid_t https = spawn("/usr/bin/python3",
                            {XFERQ_FIXTURE_DIR "/https_redirect_server.py", cert, key, port_file,
                             server_.url("/plain")},
                            dir_ / "https.out", dir_ / "https.err");
  ASSERT_GT(https, 0);
  ASSERT_TRUE(wait_for([&] { return exists(port_file); })) << read_file(dir_ / "https.err");
  const std::string port = read_file(port_file);
  QueueOptions o = test_options(true);
  o.verify_tls = false;  // the certificate is the test's own
  open(o);
  auto job = queue_->create_job("downgrade");
  ASSERT_FALSE(job->add_file("https://127.0.0.1:" + port + "/x", dir_ / "x.bin"));
  ASSERT_FALSE(job->resume());
  const bool errored = wait_state(*job, JobState::error);
  // BITS's ALLOW_HTTPS_TO_HTTP flag lets a job follow it.
  auto allowed = queue_->create_job("allowed downgrade");
  ASSERT_FALSE(allowed->set_security_flags(kRedirectAllowHttpsToHttp | kRedirectPolicyAllowReport));
  ASSERT_FALSE(allowed->add_file("https://127.0.0.1:" + port + "/y", dir_ / "y.bin"));
  const bool before = server_.requests_for("/plain").empty();
  ASSERT_FALSE(allowed->resume());
  const bool followed = wait_state(*allowed, JobState::transferred);
  ::kill(https, SIGTERM);
  ::waitpid(https, nullptr, 0);
  EXPECT_TRUE(before) << "the plain-http URL was fetched by the refusing job";
  EXPECT_TRUE(followed) << state_name(*allowed);
  if (followed) {
    EXPECT_EQ((*allowed->files())[0].final_url, server_.url("/plain"));
  }
  ASSERT_TRUE(errored) << state_name(*job);
  EXPECT_EQ(job->error()->hresult, static_cast<uint32_t>(Errc::unsupported_scheme)) << job->error()->description;
}

}  // namespace
}  // namespace xferq::testing
