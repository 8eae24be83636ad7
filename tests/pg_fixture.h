// pg_fixture.h — a real, private PostgreSQL server for the PostgreSQL
// backend's tests: one cluster per test binary, a fresh database per test.
//
// The cluster is made with initdb and started with pg_ctl (Debian's
// PostgreSQL 15 binaries, /usr/lib/postgresql/15/bin) in a directory under
// /tmp, listening on 127.0.0.1 only, on a free port, with its unix socket in
// that directory and trust authentication (the only clients that can reach it
// are this machine's). initdb refuses to run as root, so when the tests run as
// root (CI) the binaries run as the `postgres` system user (created by
// Debian's postgresql package) through runuser, in a directory given to that
// user. The cluster is stopped by its postmaster's PID when the test binary
// exits — also when it is killed (a CTest timeout): a watchdog shell in its
// own session waits for the binary's end on a pipe, then stops the
// postmaster and removes the directory. XFERQ_TEST_PG_KEEP keeps the
// directory (data and server.log) for a look afterwards. XFERQ_TEST_PG_URL (a libpq URL of a role that may CREATE DATABASE)
// points the tests at an existing server instead.
//
// Thread safety: PgCluster::shared() and create_database() may be called
// from any thread; the tests call them from the main thread.
#ifndef XFERQ_TESTS_PG_FIXTURE_H_
#define XFERQ_TESTS_PG_FIXTURE_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>

namespace xferq::testing {

class PgCluster {
 public:
  // The binary's cluster, started on first use. nullptr when it cannot run
  // here; *why then says why (for GTEST_SKIP or a failure).
  static PgCluster* shared(std::string* why);

  // A new, empty database; its postgresql:// URL.
  std::string create_database();
  // The cluster's server log (empty for an external server).
  std::string log_tail() const;

  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

 private:
  PgCluster() = default;
  bool start(std::string* why);
  bool use_external(const std::string& url);
  void stop();
  std::string url_for(const std::string& database) const;

  std::mutex mu_;
  std::string dir_;            // the cluster's directory: data/, the socket, the log
  std::string admin_url_;      // the maintenance database's URL
  std::string external_base_;  // XFERQ_TEST_PG_URL, when set
  int port_ = 0;
  pid_t postmaster_ = -1;
  int databases_ = 0;
};

}  // namespace xferq::testing

// Skips the current test (with the reason) when no PostgreSQL can run here.
#define XFERQ_PG_CLUSTER_OR_SKIP(var)                                    \
  std::string var##_why;                                                \
  ::xferq::testing::PgCluster* var = ::xferq::testing::PgCluster::shared(&var##_why); \
  if (!var) GTEST_SKIP() << "no PostgreSQL: " << var##_why

#endif  // XFERQ_TESTS_PG_FIXTURE_H_
