// serve_security_test.cc — `xferq serve` is safe by default: every /api/
// request needs the token (kept 0600, printed only when made), other origins
// are refused (no CORS header ever), a non-loopback address needs TLS, and
// HTTPS works with a certificate.
#include <sys/stat.h>

#include "serve_client.h"

namespace xferq::testing {
namespace {

using nlohmann::json;

class ServeSecurityTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ / "queue.db"; }
  int run_cli(const std::vector<std::string>& args, const std::string& tag) {
    const pid_t pid = spawn(XFERQ_CLI_PATH, args, dir_ / (tag + ".out"), dir_ / (tag + ".err"));
    return wait_exit(pid, std::chrono::milliseconds(20000));
  }
  ScratchDir dir_;
};

TEST_F(ServeSecurityTest, EveryApiRequestNeedsTheToken) {
  ServeProcess server(dir_.path(), db());
  const std::string token = server.token();
  ASSERT_EQ(token.size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "api.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Printed once, when made; never on stderr.
  EXPECT_NE(server.out().find(token), std::string::npos);
  EXPECT_EQ(server.err().find(token), std::string::npos);

  const std::vector<std::string> wrong = {"", "Bearer", "Bearer ", "Bearer " + token + "x", "Bearer " + token.substr(1),
                                          "Bearer " + std::string(64, '0'), "Basic " + token, token};
  for (const std::string& auth : wrong) {
    SCOPED_TRACE(auth);
    httplib::Headers h;
    if (!auth.empty()) h.emplace("Authorization", auth);
    for (const char* path : {"/api/jobs", "/api/status", "/api/events"}) {
      HttpAnswer a = server.call("GET", path, "", h, false);
      EXPECT_EQ(a.status, 401) << path;
      EXPECT_EQ(a.error_name(), "E_ACCESSDENIED");
      EXPECT_EQ(a.header("WWW-Authenticate"), "Bearer realm=\"xferq\"");
    }
    EXPECT_EQ(server.call("POST", "/api/jobs", R"({"display_name":"x"})", h, false).status, 401);
  }
  EXPECT_EQ(server.call("GET", "/api/jobs", "", {{"Authorization", "bearer " + token}}, false).status, 200);
  EXPECT_EQ(server.call("GET", "/api/jobs").json()["jobs"].size(), 0u) << "a refused POST made a job";
  // The dashboard's files hold no secret and need no token.
  HttpAnswer page = server.call("GET", "/", "", {}, false);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<title>xferq</title>"), std::string::npos);
  EXPECT_EQ(page.body.find(token), std::string::npos);
  EXPECT_NE(page.header("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  ASSERT_EQ(server.stop(), 0);

  // Started again: the same token, not printed.
  ServeProcess again(dir_.path(), db());
  EXPECT_EQ(again.token(), token);
  EXPECT_EQ(again.out().find(token), std::string::npos);
}

TEST_F(ServeSecurityTest, TokenOptionAndUnsafeTokenFiles) {
  const std::string given = "given-token-0123456789";
  ServeProcess server(dir_.path(), db(), {"--token", given});
  EXPECT_EQ(server.call("GET", "/api/jobs", "", {{"Authorization", "Bearer " + given}}, false).status, 200);
  EXPECT_EQ(server.out().find(given), std::string::npos) << "a given token is never printed";
  server.stop();
  // Too short a token; a token file others can read.
  EXPECT_EQ(run_cli({"--db", db(), "serve", "--listen", "127.0.0.1:0", "--token", "short"}, "short"), 5);
  write_file(dir_ / "open.token", std::string(40, 'a') + "\n");
  ::chmod((dir_ / "open.token").c_str(), 0644);
  EXPECT_NE(run_cli({"--db", db(), "serve", "--listen", "127.0.0.1:0", "--token-file", dir_ / "open.token"}, "open"), 0);
  EXPECT_NE(read_file(dir_ / "open.err").find("0600"), std::string::npos) << read_file(dir_ / "open.err");
}

TEST_F(ServeSecurityTest, CrossOriginRequestsAreRefused) {
  ServeProcess server(dir_.path(), db());
  const std::string other_port = "http://127.0.0.1:" + std::to_string(server.port() + 1);
  const std::vector<httplib::Headers> foreign = {
      {{"Origin", "http://evil.example"}}, {{"Origin", other_port}}, {{"Origin", "null"}},
      {{"Origin", "https://127.0.0.1:" + std::to_string(server.port())}}, {{"Sec-Fetch-Site", "cross-site"}},
      {{"Sec-Fetch-Site", "same-site"}}};
  for (const httplib::Headers& h : foreign) {
    SCOPED_TRACE(h.begin()->first + ": " + h.begin()->second);
    HttpAnswer get = server.call("GET", "/api/jobs", "", h);
    EXPECT_EQ(get.status, 403);
    EXPECT_EQ(get.error_name(), "E_ACCESSDENIED");
    EXPECT_EQ(get.header("Access-Control-Allow-Origin"), "");
    EXPECT_EQ(server.call("POST", "/api/jobs", R"({"display_name":"x"})", h).status, 403);
  }
  // A preflight is refused, so a browser never sends the real request.
  HttpAnswer preflight = server.call("OPTIONS", "/api/jobs", "",
                                     {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "POST"},
                                      {"Access-Control-Request-Headers", "authorization,content-type"}}, false);
  EXPECT_EQ(preflight.status, 403);
  EXPECT_EQ(preflight.header("Access-Control-Allow-Origin"), "");
  EXPECT_EQ(preflight.header("Access-Control-Allow-Headers"), "");
  EXPECT_EQ(server.call("GET", "/api/jobs").json()["jobs"].size(), 0u) << "a refused POST made a job";
  // The dashboard's own origin is fine.
  EXPECT_EQ(server.call("GET", "/api/jobs", "", {{"Origin", server.origin()}, {"Sec-Fetch-Site", "same-origin"}}).status, 200);
}

TEST_F(ServeSecurityTest, NonLoopbackAddressNeedsTls) {
  EXPECT_EQ(run_cli({"--db", db(), "serve", "--listen", "0.0.0.0:0"}, "any"), 2);
  EXPECT_NE(read_file(dir_ / "any.err").find("--tls-cert"), std::string::npos);
  EXPECT_EQ(run_cli({"--db", db(), "serve", "--listen", "nonsense"}, "bad"), 2);
  EXPECT_EQ(run_cli({"--db", db(), "serve", "--listen", "127.0.0.1:0", "--tls-cert", dir_ / "c.pem"}, "half"), 5);
}

TEST_F(ServeSecurityTest, ServesHttpsWithACertificate) {
  const std::string cert = dir_ / "cert.pem", key = dir_ / "key.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout " + key +
                          " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a certificate";
  const pid_t pid = spawn(XFERQ_CLI_PATH,
                          {"--db", db(), "serve", "--listen", "127.0.0.1:0", "--token", "tls-token-0123456789",
                           "--tls-cert", cert, "--tls-key", key},
                          dir_ / "tls.out", dir_ / "tls.err");
  int port = 0;
  ASSERT_TRUE(wait_for([&] {
    const std::string out = read_file(dir_ / "tls.out");
    const auto at = out.find("listening on https://127.0.0.1:");
    if (at != std::string::npos) port = std::stoi(out.substr(at + 31));
    return port != 0;
  })) << read_file(dir_ / "tls.err");
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_path(cert.c_str());
  cli.enable_server_certificate_verification(true);
  auto r = cli.Get("/api/status", {{"Authorization", "Bearer tls-token-0123456789"}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, std::chrono::milliseconds(20000)), 0);
}

}  // namespace
}  // namespace xferq::testing
