// c_abi_driver.cc — runs the C scenario (c_abi_test.c, compiled as C)
// against the fixture server, and checks the bytes it left on disk.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "c_abi_scenario.h"
#include "http_fixture.h"

namespace {

using xferq::testing::FixtureServer;
using xferq::testing::Resource;

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/xferq-c-abi-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Resource resource(std::string body, size_t bytes_per_sec = 0) {
  Resource r;
  r.body = std::move(body);
  r.etag = "\"v1\"";
  r.bytes_per_sec = bytes_per_sec;
  return r;
}

TEST(CAbi, WholeLifeOfJobsFromC) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  FixtureServer server;
  const std::string small = xferq::testing::make_body(C_ABI_SMALL_SIZE, 7);
  server.set(C_ABI_SMALL_PATH, resource(small));
  server.set(C_ABI_SLOW_PATH, resource(xferq::testing::make_body(C_ABI_SLOW_SIZE, 8), C_ABI_SLOW_RATE));
  Resource missing;
  missing.status = 404;
  server.set(C_ABI_MISSING_PATH, missing);

  const std::string base = server.url("");
  EXPECT_EQ(run_c_abi_scenario(base.c_str(), dir.path().c_str()), 0)
      << "the C scenario failed at the line above (c_abi_test.c)";

  const std::string want = xferq::testing::content_hash(small);
  EXPECT_EQ(xferq::testing::file_content_hash(dir.path() + "/a.bin"), want);
  EXPECT_EQ(xferq::testing::file_content_hash(dir.path() + "/b.bin"), want);
  EXPECT_EQ(xferq::testing::file_content_hash(dir.path() + "/c.bin"), want);
  // The ranges step: small[100..199] + small[0..9] + small[65000..].
  EXPECT_EQ(xferq::testing::file_content_hash(dir.path() + "/d.bin"),
            xferq::testing::content_hash(small.substr(100, 100) + small.substr(0, 10) + small.substr(65000)));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/slow.bin"));
  server.stop();
}

}  // namespace
