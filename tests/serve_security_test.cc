// serve_security_test.cc — `xferq serve` is safe by default: every /api/
// request needs the token (kept 0600, never printed), origins other
// than its own and those --origin names are refused (no CORS header ever), no
// body is read past 64 KiB, a non-loopback address needs TLS, and HTTPS works
// with a certificate.
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
  // Never printed, not even when made (the output goes to journals and logs):
  // the output says where it is.
  EXPECT_EQ(server.out().find(token), std::string::npos) << server.out();
  EXPECT_EQ(server.err().find(token), std::string::npos);
  EXPECT_NE(server.out().find("new API token in " + (dir_ / "api.token")), std::string::npos) << server.out();

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
  EXPECT_NE(server.err().find("shows in the process list"), std::string::npos) << server.err();
  server.stop();
  // "--token -": read from standard input, so that it is not in the process
  // list; none there is a usage error.
  const std::string piped = "piped-token-0123456789";
  const pid_t pid = spawn("/bin/sh",
                          {"-c", std::string("exec ") + XFERQ_CLI_PATH + " --db " + db() +
                                     " serve --listen 127.0.0.1:0 --token - <<'END'\n" + piped + "\nEND\n"},
                          dir_ / "piped.out", dir_ / "piped.err");
  int port = 0;
  ASSERT_TRUE(wait_for([&] {
    const std::string out = read_file(dir_ / "piped.out");
    const auto at = out.find("listening on http://127.0.0.1:");
    if (at != std::string::npos) port = std::stoi(out.substr(at + 30));
    return port != 0;
  }, std::chrono::milliseconds(20000))) << read_file(dir_ / "piped.err");
  httplib::Client piped_client("127.0.0.1", port);
  auto piped_answer = piped_client.Get("/api/jobs", {{"Authorization", "Bearer " + piped}});
  ASSERT_TRUE(piped_answer);
  EXPECT_EQ(piped_answer->status, 200);
  EXPECT_EQ(read_file(dir_ / "piped.err").find("process list"), std::string::npos) << "no warning for -";
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, std::chrono::milliseconds(20000)), 0);
  const pid_t empty = spawn("/bin/sh",
                            {"-c", std::string("exec ") + XFERQ_CLI_PATH + " --db " + db() +
                                       " serve --listen 127.0.0.1:0 --token - </dev/null"},
                            dir_ / "nostdin.out", dir_ / "nostdin.err");
  EXPECT_EQ(wait_exit(empty, std::chrono::milliseconds(20000)), 5);
  EXPECT_NE(read_file(dir_ / "nostdin.err").find("no token on standard input"), std::string::npos);
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

// A page served under another name (a host name, a reverse proxy) is named
// with --origin; origins compare without their scheme's default port, as a
// browser sends them ("https://host", not "https://host:443").
TEST_F(ServeSecurityTest, OriginOptionAddsOriginsComparedWithoutDefaultPorts) {
  ServeProcess server(dir_.path(), db(),
                      {"--origin", "https://XferQ.example.com:443/", "--origin", "http://proxy.example:8080",
                       "--origin", "http://[::1]:80"});
  for (const std::string& o : {std::string("https://xferq.example.com"), std::string("https://xferq.example.com:443"),
                               std::string("http://proxy.example:8080"), std::string("http://[::1]"), server.origin()}) {
    SCOPED_TRACE(o);
    EXPECT_EQ(server.call("GET", "/api/jobs", "", {{"Origin", o}, {"Sec-Fetch-Site", "same-origin"}}).status, 200);
    EXPECT_EQ(server.call("POST", "/api/jobs", R"({"display_name":"from a page"})", {{"Origin", o}}).status, 201);
  }
  for (const char* o : {"http://xferq.example.com", "https://xferq.example.com:8443", "http://proxy.example",
                        "https://proxy.example:8080", "https://evil.example", "null"}) {
    SCOPED_TRACE(o);
    EXPECT_EQ(server.call("POST", "/api/jobs", R"({"display_name":"x"})", {{"Origin", o}}).status, 403);
  }
  EXPECT_EQ(server.call("GET", "/api/jobs").json()["jobs"].size(), 5u);
  server.stop();
  // Not origins: refused as usage errors before anything starts.
  int i = 0;
  for (const char* bad : {"xferq.example.com", "ftp://h", "https://h/path", "https://u@h", "https://h:0",
                          "https://h:99999", "https://h?x", "https://"}) {
    SCOPED_TRACE(bad);
    const std::string tag = "origin" + std::to_string(i++);
    EXPECT_EQ(run_cli({"--db", db(), "serve", "--listen", "127.0.0.1:0", "--origin", bad}, tag), 2);
    EXPECT_NE(read_file(dir_ / (tag + ".err")).find("--origin"), std::string::npos);
  }
}

// The status of a raw answer ("HTTP/1.1 411 Length Required" -> 411; 0: none).
int status_of(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 && answer.size() >= 12 ? std::atoi(answer.substr(9, 3).c_str()) : 0;
}

// httplib reads a chunked, compressed or unframed body whole, whatever its
// size, before any route (and for any path): such bodies are refused before
// a byte of them is read, with or without the token, and the connection
// ends with the answer (the unread body must not be taken for a request).
TEST_F(ServeSecurityTest, BodiesOfUnboundedLengthAreRefusedUnread) {
  ServeProcess server(dir_.path(), db());
  const std::string auth = "Authorization: Bearer " + server.token() + "\r\n";
  const std::string json_type = "Content-Type: application/json\r\n";
  // Each body is left unfinished: an answer that waited for it would not come.
  const std::string chunked = "Transfer-Encoding: chunked\r\n\r\n10000\r\n" + std::string(1000, 'x');
  struct Case {
    std::string request;
    int status;
  };
  const std::vector<Case> cases = {
      {"POST / HTTP/1.1\r\nHost: x\r\n" + chunked, 411},
      {"PUT /index.html HTTP/1.1\r\nHost: x\r\n" + chunked, 411},
      {"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth + json_type + chunked, 411},
      {"PATCH /api/jobs/x HTTP/1.1\r\nHost: x\r\n" + chunked, 411},
      {"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth + json_type + "Content-Encoding: gzip\r\n"
       "Content-Length: 20\r\n\r\n\x1f\x8b", 415},
      {"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth + json_type + "\r\n{", 411},  // read until EOF
      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345", 413},
      // httplib reads no body for a GET: it would be taken for the next request.
      {"GET /api/status HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 16\r\n\r\nGET / HTTP/1.1\r\n", 413},
      {"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth + json_type + "Content-Length: 100000\r\n\r\n{", 413},
      {"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + auth + json_type + "Content-Length: 1e3\r\n\r\n{", 400},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request.substr(0, c.request.find("\r\n\r\n")));
    bool closed = false;
    const auto start = std::chrono::steady_clock::now();
    const std::string answer = raw_exchange(server.port(), c.request, std::chrono::milliseconds(5000), &closed);
    EXPECT_EQ(status_of(answer), c.status) << answer;
    EXPECT_TRUE(closed) << "the connection was kept, with the body unread";
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(5000));
    EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
    EXPECT_EQ(answer.find("Keep-Alive:"), std::string::npos) << answer;
    EXPECT_NE(answer.find("\"E_INVALIDARG\""), std::string::npos) << answer;
  }
  // Still serving; nothing was made; an ordinary body is still fine.
  EXPECT_EQ(server.call("GET", "/api/status").status, 200);
  EXPECT_EQ(server.call("GET", "/api/jobs?all=true").json()["jobs"].size(), 0u);
  EXPECT_EQ(server.post_json("/api/jobs", {{"display_name", "fine"}}).status, 201);
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
