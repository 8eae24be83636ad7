// pg_fixture.cc — see pg_fixture.h: initdb, pg_ctl start, databases per
// test, and the stop by PID at exit.
#include "pg_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

namespace xferq::testing {
namespace {

const char kBinDir[] = "/usr/lib/postgresql/15/bin";
const char kClusterUser[] = "postgres";

// A free TCP port on 127.0.0.1 (the kernel's pick; released for the server
// to take a moment later).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Runs argv (as the cluster user when we are root), its output appended to
// `log`, in `cwd`; its exit status (-1 if it could not run).
int run(std::vector<std::string> argv, const std::string& log, const std::string& cwd) {
  if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", kClusterUser, "--"});
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    const int null_in = ::open("/dev/null", O_RDONLY);
    if (null_in >= 0) ::dup2(null_in, 0);
    // The cluster user may not enter the test's working directory.
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A watchdog that outlives this process if it is killed (a CTest timeout
// sends SIGKILL, and no destructor runs): a shell in its own session whose
// stdin is a pipe only this process writes to. When the pipe closes — this
// process ended, however — it stops the postmaster by its PID and removes
// the cluster's directory. After a normal exit it finds both gone already.
void start_watchdog(pid_t postmaster, const std::string& dir) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const std::string script =
      "cat >/dev/null; kill -INT \"$0\" 2>/dev/null; i=0; "
      "while kill -0 \"$0\" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; "
      "kill -KILL \"$0\" 2>/dev/null; [ -n \"$1\" ] && rm -rf \"$1\"";
  const std::string pid_text = std::to_string(postmaster);
  const std::string keep_dir = std::getenv("XFERQ_TEST_PG_KEEP") ? std::string() : dir;
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls until exec.
  std::vector<std::string> argv = {"/bin/sh", "-c", script, pid_text, keep_dir};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    ::dup2(fds[0], 0);  // dup2 clears close-on-exec on the copy
    const int null_out = ::open("/dev/null", O_WRONLY);
    if (null_out >= 0) {
      ::dup2(null_out, 1);
      ::dup2(null_out, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[0]);
  // fds[1] stays open (close-on-exec, so programs the tests start do not
  // hold it) until this process ends.
  if (pid < 0) ::close(fds[1]);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A queue on a server URL keeps its worker's lock file and wake-up socket in
// the temp directory (local_files_base() in storage/store.h), one pair per
// URL; with a fresh database per test they would pile up in /tmp. This
// binary's temp directory is therefore one of its own, set before main()
// (no thread runs yet to read the environment) and removed at exit.
class PrivateTempDir {
 public:
  PrivateTempDir() {
    char tmpl[] = "/tmp/xferq-pgtmp-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    path_ = tmpl;
    ::setenv("TMPDIR", path_.c_str(), 1);
  }
  ~PrivateTempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

 private:
  std::string path_;
};
const PrivateTempDir private_temp_dir;

}  // namespace

PgCluster* PgCluster::shared(std::string* why) {
  // Destroyed at exit, which stops the cluster.
  static std::unique_ptr<PgCluster> cluster;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    std::unique_ptr<PgCluster> c(new PgCluster());
    const char* external = std::getenv("XFERQ_TEST_PG_URL");
    const bool ok = external && *external ? c->use_external(external) || (failure = "XFERQ_TEST_PG_URL unusable", false)
                                          : c->start(&failure);
    if (ok) cluster = std::move(c);
  });
  if (!cluster && why) *why = failure;
  return cluster.get();
}

bool PgCluster::use_external(const std::string& url) {
  external_base_ = url;
  admin_url_ = url;
  try {
    pqxx::connection c(admin_url_);
    return c.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

bool PgCluster::start(std::string* why) {
  const std::string initdb = std::string(kBinDir) + "/initdb";
  if (::access(initdb.c_str(), X_OK) != 0) {
    *why = initdb + " not found (install postgresql-15: scripts/install-deps.sh)";
    return false;
  }
  const passwd* pw = ::getpwnam(kClusterUser);
  if (::geteuid() == 0 && !pw) {
    *why = "running as root and there is no `postgres` user to run initdb as";
    return false;
  }
  char tmpl[] = "/tmp/xferq-pg-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    *why = "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;
  ::chmod(dir_.c_str(), 0700);
  if (::geteuid() == 0 && ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    *why = "cannot give " + dir_ + " to the postgres user";
    return false;
  }
  const std::string log = dir_ + "/setup.log", data = dir_ + "/data";
  // Trust is written for local and loopback host lines only (initdb's
  // pg_hba.conf), and the server listens on 127.0.0.1 alone.
  if (run({initdb, "-D", data, "-U", "xferq", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"}, log, dir_) != 0) {
    *why = "initdb failed: " + slurp(log);
    return false;
  }
  // A few tries: the free port may be taken between free_port() and the bind.
  for (int attempt = 0; attempt < 5 && postmaster_ < 0; ++attempt) {
    port_ = free_port();
    // fsync off: a test cluster never survives a power cut anyway.
    const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
                                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200";
    if (run({std::string(kBinDir) + "/pg_ctl", "-D", data, "-o", options, "-l", dir_ + "/server.log", "-w", "-t", "60",
             "start"}, log, dir_) != 0)
      continue;
    std::ifstream pidfile(data + "/postmaster.pid");
    long pid = -1;
    if (pidfile >> pid) postmaster_ = static_cast<pid_t>(pid);
  }
  if (postmaster_ < 0) {
    *why = "pg_ctl start failed: " + slurp(log) + slurp(dir_ + "/server.log");
    return false;
  }
  admin_url_ = url_for("postgres");
  start_watchdog(postmaster_, dir_);
  return true;
}

std::string PgCluster::url_for(const std::string& database) const {
  if (!external_base_.empty()) {
    // Replace the database part of the external URL: postgresql://who@host:port/db?params
    const auto scheme = external_base_.find("://");
    const auto slash = external_base_.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    const auto query = external_base_.find('?');
    std::string base = slash == std::string::npos ? external_base_ : external_base_.substr(0, slash);
    return base + "/" + database + (query == std::string::npos ? "" : external_base_.substr(query));
  }
  return "postgresql://xferq@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgCluster::create_database() {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string name = "xferq_test_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  pqxx::connection c(admin_url_);
  pqxx::nontransaction tx(c);
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
  return url_for(name);
}

std::string PgCluster::log_tail() const { return dir_.empty() ? std::string() : slurp(dir_ + "/server.log"); }

void PgCluster::stop() {
  if (postmaster_ > 0) {
    // Fast shutdown (SIGINT): clients are disconnected, then the postmaster
    // exits. It is not our child (pg_ctl started it): its end shows as the
    // PID gone or, if nobody reaps it yet, postmaster.pid removed (the
    // postmaster's last act).
    const std::string pidfile = dir_ + "/data/postmaster.pid";
    ::kill(postmaster_, SIGINT);
    auto running = [&] { return ::kill(postmaster_, 0) == 0 && ::access(pidfile.c_str(), F_OK) == 0; };
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (running() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (running()) ::kill(postmaster_, SIGKILL);
    postmaster_ = -1;
  }
  if (!dir_.empty() && !std::getenv("XFERQ_TEST_PG_KEEP")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

PgCluster::~PgCluster() { stop(); }

}  // namespace xferq::testing
