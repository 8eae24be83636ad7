// serve_systemd_test.cc — the systemd side of xferq: the unit files in
// packaging/systemd pass `systemd-analyze verify` (system and user) and
// the system unit's hardening scores well in `systemd-analyze security`; and
// `xferq serve` / `xferq run` tell systemd they are ready (READY=1) and
// stopping (STOPPING=1) on the NOTIFY_SOCKET a Type=notify unit gives them —
// here a real datagram socket of the test's.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <regex>

#include "serve_client.h"

namespace xferq::testing {
namespace {

// The unit template with ExecStart pointing at the binary under test.
std::string configured_unit(const std::string& name) {
  std::string text = read_file(std::string(XFERQ_SOURCE_DIR) + "/packaging/systemd/" + name);
  const std::string cli = XFERQ_CLI_PATH;
  const std::string bindir = cli.substr(0, cli.rfind('/'));
  for (size_t at; (at = text.find("@XFERQ_BINDIR@")) != std::string::npos;) text.replace(at, 14, bindir);
  return text;
}

int run(const std::vector<std::string>& args, const std::string& dir, std::string* output) {
  const pid_t pid = spawn(args[0], std::vector<std::string>(args.begin() + 1, args.end()), dir + "/run.out", dir + "/run.err");
  const int status = wait_exit(pid, std::chrono::milliseconds(60000));
  *output = read_file(dir + "/run.out") + read_file(dir + "/run.err");
  return status;
}

TEST(SystemdUnits, VerifyAndAreHardened) {
  const std::string analyze = "/usr/bin/systemd-analyze";
  if (!exists(analyze)) GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  ScratchDir dir;
  ::mkdir((dir / "system").c_str(), 0700);
  ::mkdir((dir / "user").c_str(), 0700);
  ::mkdir((dir / "runtime").c_str(), 0700);
  write_file(dir / "system/xferq.service", configured_unit("xferq.service.in"));
  write_file(dir / "user/xferq.service", configured_unit("xferq-user.service.in"));
  write_file(dir / "user/xferq-serve.service", configured_unit("xferq-serve-user.service.in"));
  std::string out;
  EXPECT_EQ(run({analyze, "verify", "--man=no", dir / "system/xferq.service"}, dir.path(), &out), 0) << out;
  ::setenv("XDG_RUNTIME_DIR", (dir / "runtime").c_str(), 1);  // a user manager's verify needs one
  EXPECT_EQ(run({analyze, "--user", "verify", "--man=no", dir / "user/xferq.service", dir / "user/xferq-serve.service"},
                dir.path(), &out), 0) << out;
  ASSERT_EQ(run({analyze, "security", "--offline=yes", dir / "system/xferq.service"}, dir.path(), &out), 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("Overall exposure level for xferq.service: ([0-9.]+)"))) << out;
  EXPECT_LT(std::stod(m[1]), 3.0) << out;
}

#ifdef XFERQ_HAVE_SYSTEMD
// A NOTIFY_SOCKET of the test's: what the child sends arrives here.
// Thread safety: used by one test thread.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  // Waits for a message containing `what`.
  bool wait_for_message(const std::string& what, int seconds = 20) {
    for (int i = 0; i < seconds; ++i) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0 && std::string(buf, static_cast<size_t>(n)).find(what) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(SystemdReadiness, ServeAndRunReportReadyAndStopping) {
  ScratchDir dir;
  NotifySocket notify(dir / "notify.sock");
  ::setenv("NOTIFY_SOCKET", (dir / "notify.sock").c_str(), 1);
  const std::vector<std::vector<std::string>> commands = {
      {"--db", dir / "q.db", "serve", "--listen", "127.0.0.1:0", "--token", "notify-token-0123456789"},
      {"--db", dir / "q.db", "run"}};
  for (const auto& args : commands) {
    SCOPED_TRACE(args[2]);
    const pid_t pid = spawn(XFERQ_CLI_PATH, args, dir / "out", dir / "err");
    EXPECT_TRUE(notify.wait_for_message("READY=1")) << read_file(dir / "err");
    ::kill(pid, SIGTERM);
    EXPECT_TRUE(notify.wait_for_message("STOPPING=1"));
    EXPECT_EQ(wait_exit(pid, std::chrono::milliseconds(20000)), 0) << read_file(dir / "err");
  }
  ::unsetenv("NOTIFY_SOCKET");
}
#endif

}  // namespace
}  // namespace xferq::testing
