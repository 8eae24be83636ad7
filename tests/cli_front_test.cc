// cli_front_test.cc — the `xferq` front (bindings/cli/front.cc): it runs the
// state calls itself, linked without libcurl and libpq, and hands every other
// command line to xferq-full. Real processes, a real queue file; the full
// command's own behaviour is cli_test.cc's.
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "child_process.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

struct Outcome {
  int status = -1;
  std::string out, err;
};

class CliFrontTest : public ::testing::Test {
 protected:
  Outcome run(const std::string& program, const std::vector<std::string>& args) {
    const std::string out = dir_ / "front.out", err = dir_ / "front.err";
    Outcome r;
    r.status = wait_exit(spawn(program, args, out, err), std::chrono::milliseconds(30000));
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }
  static std::string line(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  std::string db() const { return dir_ / "queue.db"; }

  ScratchDir dir_;
};

// What the dynamic linker loads for the front: no libcurl, no libpq, no
// libcpp-httplib — loading those (some forty libraries) is what made a
// process started to cancel a job take 25 ms before it did anything.
TEST_F(CliFrontTest, TheFrontLinksNeitherLibcurlNorLibpq) {
  Outcome r = run("/usr/bin/readelf", {"-d", XFERQ_CLI_PATH});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_NE(r.out.find("(NEEDED)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("libsqlite3"), std::string::npos) << r.out;
  for (const char* lib : {"libcurl", "libpq", "libpqxx", "libcpp-httplib", "libssl", "libsystemd"})
    EXPECT_EQ(r.out.find(lib), std::string::npos) << lib << " is loaded by the front:\n" << r.out;
  Outcome full = run("/usr/bin/readelf", {"-d", XFERQ_FULL_PATH});
  EXPECT_NE(full.out.find("libcurl"), std::string::npos) << full.out;
}

// A copy of the front alone, with no xferq-full beside it: the state calls
// still run (so the front did not hand them over), and anything else fails
// with a line that says what is missing, changing nothing.
TEST_F(CliFrontTest, WithoutTheFullCommandTheStateCallsRunAndTheRestSayWhatIsMissing) {
  namespace fs = std::filesystem;
  const fs::path bin = dir_ / "bin";
  fs::create_directories(bin);
  const std::string front = bin / "xferq";
  fs::copy_file(XFERQ_CLI_PATH, front);
  ::chmod(front.c_str(), 0755);

  Outcome created = run(front, {"--db", db(), "create", "alone"});
  ASSERT_EQ(created.status, 0) << created.err;
  const std::string id = line(created.out);
  EXPECT_EQ(id.size(), 38u) << id;
  Outcome priority = run(front, {"--db", db(), "setpriority", id, "HIGH"});
  EXPECT_EQ(priority.status, 0) << priority.err;
  Outcome resumed = run(front, {"--db", db(), "resume", id});
  EXPECT_EQ(resumed.status, 5) << resumed.err;  // BG_E_EMPTY: a job without files
  Outcome canceled = run(front, {"--db", db(), "cancel", id});
  EXPECT_EQ(canceled.status, 0) << canceled.err;
  EXPECT_EQ(canceled.out, "Job canceled.\n");
  EXPECT_EQ(line(run(front, {"--db", db(), "getstate", id}).out), "CANCELLED");

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--db", db(), "list"}, {"--db", db(), "addfile", id, "http://127.0.0.1:1/x", dir_ / "x.bin"},
           {"--version"}, {}}) {
    Outcome r = run(front, args);
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("xferq: E_FAIL: the full xferq command (xferq-full) is not installed beside ", 0), 0u)
        << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_ / "x.bin"));
  EXPECT_FALSE(fs::exists(bin / "xferq-full"));
}

// The front's own commands and the full command's, from the installed-like
// build tree: the same usage errors, and --help / --version answered.
TEST_F(CliFrontTest, TheFrontAndTheFullCommandAnswerAlike) {
  const std::vector<std::vector<std::string>> lines = {
      {"--db", db(), "cancel"},                        // a front command, JOB missing
      {"--db", db(), "setpriority", "x", "URGENT"},    // a front command, a bad argument
      {"--db", db(), "getstate", "{00000000-0000-0000-0000-000000000000}"},
      {"--db", db(), "frobnicate"},                    // no such command
      {"--version"}};
  run(XFERQ_CLI_PATH, {"--db", db(), "create", "exists"});
  for (const auto& args : lines) {
    Outcome front = run(XFERQ_CLI_PATH, args);
    Outcome full = run(XFERQ_FULL_PATH, args);
    EXPECT_EQ(front.status, full.status) << args.back();
    EXPECT_EQ(front.out, full.out) << args.back();
    EXPECT_EQ(front.err, full.err) << args.back();
  }
  Outcome help = run(XFERQ_CLI_PATH, {"--help"});
  EXPECT_EQ(help.status, 0);
  for (const char* command : {"cancel", "addfile", "serve", "setbandwidthschedule"})
    EXPECT_NE(help.out.find(command), std::string::npos) << command;
}

// A server queue (postgresql://) needs libpq: even a state call on one is
// the full command's, and its error names the queue without the password.
TEST_F(CliFrontTest, AStateCallOnAServerQueueIsTheFullCommands) {
  const std::string url = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/queue?sslmode=disable";
  const std::vector<std::string> args = {"--db", url, "cancel", "{00000000-0000-0000-0000-000000000000}"};
  Outcome front = run(XFERQ_CLI_PATH, args);
  Outcome full = run(XFERQ_FULL_PATH, args);
  EXPECT_NE(front.status, 0);
  EXPECT_EQ(front.status, full.status);
  EXPECT_EQ(front.err, full.err);
  EXPECT_EQ(front.err.find("s3cr3t"), std::string::npos) << front.err;
#ifdef XFERQ_WITH_POSTGRESQL
  EXPECT_EQ(front.err.find("E_NOTIMPL"), std::string::npos) << front.err;
#endif
}

}  // namespace
}  // namespace xferq::testing
