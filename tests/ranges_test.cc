// ranges_test.cc — Job::add_file_with_ranges (BITS's AddFileWithRanges)
// through the real engine: against Debian's nginx (nginx_fixture.h) for the
// bytes, the Range requests nginx logged and the run-time errors, and against
// the fixture server for a server that ignores Range. Every check compares
// the bytes on disk with the ranges cut from the remote file by hand.
// Skipped (the nginx tests) if nginx is not installed.
#include <cstdio>
#include <string>
#include <vector>

#include "nginx_fixture.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

constexpr uint32_t kInvalidArg = 0x80070057u, kNotImpl = 0x80004001u, kInvalidRange = 0x8020002Bu,
                   kOverlapping = 0x8020002Cu, kTooManyRanges = 0x80200052u, kNoRangeSupport = 0x80200013u;

std::string cut(const std::string& remote, const std::vector<FileRange>& ranges) {
  std::string out;
  for (const FileRange& r : ranges) out += remote.substr(r.offset, r.length == kLengthToEof ? std::string::npos : r.length);
  return out;
}

::testing::AssertionResult same_bytes(const std::string& path, const std::string& expected) {
  if (!exists(path)) return ::testing::AssertionFailure() << path << " does not exist";
  const std::string got = read_file(path);
  if (got == expected) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < expected.size() && got[i] == expected[i]) ++i;
  return ::testing::AssertionFailure() << path << ": " << got.size() << " bytes, expected " << expected.size()
                                       << "; first difference at byte " << i;
}

std::string error_text(const Job& job) {
  auto e = job.error();
  if (!e.ok()) return state_name(job);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", e->hresult);
  return state_name(job) + " " + buf + " " + e->description;
}

std::string describe(const std::vector<NginxLogEntry>& log) {
  std::string s;
  for (const auto& e : log) s += "  " + e.raw + "\n";
  return s.empty() ? "  (no entries)\n" : s;
}

class Ranges : public NginxTest {
 protected:
  void SetUp() override {
    NginxTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    queue_ = open_queue(dir_ / "queue.db", test_options(true));
    ASSERT_TRUE(queue_);
  }
  Job ranged_job(const std::string& url, const std::string& local, const std::vector<FileRange>& ranges) {
    auto job = queue_->create_job("ranges");
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_file_with_ranges(url, local, ranges)) << url;
    return *job;
  }
  ::testing::AssertionResult transfer(Job& job) {
    if (auto ec = job.resume()) return ::testing::AssertionFailure() << "resume: " << ec.message();
    if (!wait_state(job, JobState::transferred, std::chrono::seconds(30)))
      return ::testing::AssertionFailure() << "not TRANSFERRED: " << error_text(job) << "\nnginx log:\n"
                                           << describe(nginx_.access_log());
    CompleteStatus st{};
    if (auto ec = job.complete(&st)) return ::testing::AssertionFailure() << "complete: " << ec.message();
    if (st != CompleteStatus::all_files) return ::testing::AssertionFailure() << "partial complete";
    return ::testing::AssertionSuccess();
  }
  uint32_t fail(Job& job) {
    EXPECT_FALSE(job.resume());
    if (!wait_state(job, JobState::error, std::chrono::seconds(20))) {
      ADD_FAILURE() << "not ERROR: " << error_text(job) << "\n" << describe(nginx_.access_log());
      return 0;
    }
    auto e = job.error();
    return e.ok() ? e->hresult : 0;
  }
  ScratchDir dir_;
  std::unique_ptr<Queue> queue_;
};

// BITS's own example: 100-199, 900-999, 400-499 make a 300-byte file.
TEST_F(Ranges, BitsExampleGivesTheRangesBackToBackInTheGivenOrder) {
  const std::string remote = make_body(2000, 3);
  nginx_.put("r.bin", remote);
  const std::vector<FileRange> ranges = {{100, 100}, {900, 100}, {400, 100}};
  Job job = ranged_job(nginx_.url("/files/r.bin"), dir_ / "r.bin", ranges);
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)[0].ranges, ranges) << "FileInfo shows the ranges";
  EXPECT_EQ((*files)[0].bytes_total, 300) << "the sum of the lengths, known at once";
  ASSERT_TRUE(transfer(job));
  const std::string got = read_file(dir_ / "r.bin");
  ASSERT_EQ(got.size(), 300u);
  EXPECT_EQ(got.substr(0, 100), remote.substr(100, 100));
  EXPECT_EQ(got.substr(100, 100), remote.substr(900, 100));
  EXPECT_EQ(got.substr(200, 100), remote.substr(400, 100));
  // One request per range, in order, each for exactly its bytes.
  const auto log = nginx_.entries_for("/files/r.bin");
  ASSERT_EQ(log.size(), 3u) << describe(log);
  EXPECT_EQ(log[0].range, "bytes=100-199");
  EXPECT_EQ(log[1].range, "bytes=900-999");
  EXPECT_EQ(log[2].range, "bytes=400-499");
  for (const auto& e : log) EXPECT_EQ(e.status, 206) << e.raw;
  EXPECT_EQ(job.progress()->bytes_transferred, 300);
}

TEST_F(Ranges, ToEofRangeTakesTheRestAndSetsTheSize) {
  const std::string remote = make_body(5000, 4);
  nginx_.put("e.bin", remote);
  const std::vector<FileRange> ranges = {{10, 20}, {4000, kLengthToEof}, {0, 5}};
  Job job = ranged_job(nginx_.url("/files/e.bin"), dir_ / "e.bin", ranges);
  EXPECT_EQ((*job.files())[0].bytes_total, kSizeUnknown) << "unknown until the server says where EOF is";
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "e.bin", cut(remote, ranges)));
  EXPECT_EQ(cut(remote, ranges).size(), 20u + 1000u + 5u);
  const auto log = nginx_.entries_for("/files/e.bin");
  ASSERT_EQ(log.size(), 3u) << describe(log);
  EXPECT_EQ(log[1].range, "bytes=4000-");
}

// Suspended inside a range of a throttled location (/slow/: 2 MB/s), the
// resume asks for the rest of that range from the right remote offset, with
// If-Range, and the file ends byte-identical.
TEST_F(Ranges, ResumeMidRangeContinuesFromTheRightRemoteOffset) {
  constexpr int64_t kMiB = 1024 * 1024;
  const std::string remote = make_body(static_cast<size_t>(8 * kMiB), 5);
  nginx_.put("s.bin", remote);
  const std::vector<FileRange> ranges = {{100, 1000}, {2 * kMiB, 5 * kMiB}, {50, 10}};
  Job job = ranged_job(nginx_.url("/slow/s.bin"), dir_ / "s.bin", ranges);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] {
    auto p = job.progress();
    return p.ok() && p->bytes_transferred >= kMiB;
  }, std::chrono::seconds(20))) << error_text(job);
  ASSERT_FALSE(job.suspend());
  ASSERT_TRUE(nginx_.wait_log([](const NginxLogEntry& e) { return e.range == "bytes=2097152-7340031"; }))
      << describe(nginx_.access_log());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t kept = job.progress()->bytes_transferred;
  ASSERT_GT(kept, 1000);
  ASSERT_LT(kept, 1000 + 5 * kMiB) << "not suspended inside the second range";
  ASSERT_TRUE(transfer(job));
  EXPECT_TRUE(same_bytes(dir_ / "s.bin", cut(remote, ranges)));
  const auto log = nginx_.entries_for("/slow/s.bin");
  const std::string want = "bytes=" + std::to_string(2 * kMiB + (kept - 1000)) + "-7340031";
  bool resumed = false;
  for (const auto& e : log)
    if (e.range == want && e.status == 206 && !e.if_range.empty()) resumed = true;
  EXPECT_TRUE(resumed) << "no resume with " << want << ":\n" << describe(log);
  EXPECT_EQ(log.back().range, "bytes=50-59") << describe(log);
}

TEST_F(Ranges, RangePastTheEndIsInvalidRange) {
  const std::string remote = make_body(1000, 6);
  nginx_.put("p.bin", remote);
  // Starts inside the file, ends past it: nginx answers a shorter 206.
  Job job = ranged_job(nginx_.url("/files/p.bin"), dir_ / "p.bin", {{0, 10}, {900, 200}});
  EXPECT_EQ(fail(job), kInvalidRange) << error_text(job);
  // Starts past the end: nginx answers 416.
  Job job2 = ranged_job(nginx_.url("/files/p.bin"), dir_ / "p2.bin", {{5000, 10}});
  EXPECT_EQ(fail(job2), kInvalidRange) << error_text(job2);
  EXPECT_EQ(*job2.error_count(), 1u) << "fatal: not retried";
  job.cancel();
  job2.cancel();
  EXPECT_FALSE(exists(dir_ / "p.bin"));
}

TEST_F(Ranges, IntegrityIsOverTheConcatenation) {
  const std::string remote = make_body(4000, 7);
  nginx_.put("i.bin", remote);
  const std::vector<FileRange> ranges = {{3000, 500}, {0, 700}};
  FileSpec spec(nginx_.url("/files/i.bin"), dir_ / "i.bin");
  spec.ranges = ranges;
  spec.integrity.sha256 = content_hash(cut(remote, ranges));
  spec.integrity.size = 1200;
  auto job = queue_->create_job("i");
  ASSERT_FALSE(job->add_files({spec}));
  ASSERT_TRUE(transfer(*job));
  EXPECT_TRUE(same_bytes(dir_ / "i.bin", cut(remote, ranges)));
  // The digest of the whole remote file is not the concatenation's.
  FileSpec bad(nginx_.url("/files/i.bin"), dir_ / "i2.bin");
  bad.ranges = ranges;
  bad.integrity.sha256 = content_hash(remote);
  auto job2 = queue_->create_job("i2");
  ASSERT_FALSE(job2->add_files({bad}));
  EXPECT_EQ(fail(*job2), 0x80200053u) << error_text(*job2);
}

TEST_F(Ranges, MaxDownloadSizeCountsTheBytesFetched) {
  const std::string remote = make_body(100000, 8);
  nginx_.put("m.bin", remote);
  Job job = ranged_job(nginx_.url("/files/m.bin"), dir_ / "m.bin", {{0, 600}, {50000, 600}});
  ASSERT_FALSE(job.set_max_download_size(1500));
  ASSERT_TRUE(transfer(job)) << "1,200 bytes fetched of a 100,000-byte file";
  Job job2 = ranged_job(nginx_.url("/files/m.bin"), dir_ / "m2.bin", {{0, 1000}, {50000, 1000}});
  ASSERT_FALSE(job2.set_max_download_size(1500));
  EXPECT_EQ(fail(job2), 0x80200064u) << error_text(job2);
}

// ---- Add-time errors ------------------------------------------------------------

TEST(RangesInput, BadInputIsRefusedAndNothingIsAdded) {
  ScratchDir dir;
  auto queue = open_queue(dir / "queue.db", test_options(false));
  ASSERT_TRUE(queue);
  auto job = queue->create_job("bad");
  ASSERT_TRUE(job.ok());
  const std::string url = "http://127.0.0.1:9/x";
  std::vector<FileRange> many;
  for (uint64_t i = 0; i < 501; ++i) many.push_back({i * 10, 5});
  std::vector<FileRange> five_hundred(many.begin(), many.end() - 1);
  struct Case {
    const char* name;
    std::vector<FileRange> ranges;
    uint32_t hr;
  } cases[] = {
      {"no ranges", {}, kInvalidArg},
      {"length 0", {{10, 0}}, kInvalidRange},
      {"offset is LENGTH_TO_EOF", {{kLengthToEof, 5}}, kInvalidRange},
      {"end past INT64_MAX", {{1, UINT64_MAX - 1}}, kInvalidRange},
      {"overlapping", {{100, 100}, {150, 10}}, kOverlapping},
      {"overlapping out of order", {{500, 10}, {100, 401}}, kOverlapping},
      {"duplicate", {{100, 10}, {100, 10}}, kOverlapping},
      {"after a to-EOF range", {{100, kLengthToEof}, {200, 10}}, kOverlapping},
      {"two to-EOF ranges", {{100, kLengthToEof}, {50, kLengthToEof}}, kOverlapping},
      {"501 ranges", many, kTooManyRanges},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(to_hresult(job->add_file_with_ranges(url, dir / "f", c.ranges)), c.hr) << c.name;
    EXPECT_TRUE(job->files()->empty()) << c.name;
  }
  // Adjacent ranges do not overlap; 500 is allowed.
  EXPECT_FALSE(job->add_file_with_ranges(url, dir / "adjacent", {{100, 100}, {200, 100}}));
  EXPECT_FALSE(job->add_file_with_ranges(url, dir / "max", five_hundred));
  ASSERT_EQ(job->files()->size(), 2u);
  EXPECT_EQ((*job->files())[1].ranges.size(), 500u) << "stored and read back";
  // Upload jobs: E_NOTIMPL, nothing added.
  const std::string src = dir / "src";
  write_file(src, "data");
  auto up = queue->create_job("up", JobType::upload);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(to_hresult(up->add_file_with_ranges(url, src, {{0, 2}})), kNotImpl);
  EXPECT_TRUE(up->files()->empty());
  // add_file's own checks still apply.
  EXPECT_EQ(to_hresult(job->add_file_with_ranges(url, "relative", {{0, 2}})), kInvalidArg);
  // Ranges survive a reopen of the queue file.
  const std::string id = job->id();
  queue.reset();
  queue = open_queue(dir / "queue.db", test_options(false));
  auto again = queue->get_job(id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again->files())[0].ranges, (std::vector<FileRange>{{100, 100}, {200, 100}}));
}

// A server that ignores Range (200 with the whole file, same validators).
TEST(RangesFixture, ServerWithoutRangeSupportIsInsufficientRangeSupport) {
  ScratchDir dir;
  FixtureServer server;
  Resource r = body_resource(make_body(3000, 9));
  r.support_range = false;
  r.etag = "\"v1\"";
  server.set("/norange", r);
  auto queue = open_queue(dir / "queue.db", test_options(true));
  ASSERT_TRUE(queue);
  auto job = queue->create_job("nr");
  ASSERT_FALSE(job->add_file_with_ranges(server.url("/norange"), dir / "nr", {{10, 10}, {2000, 10}}));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::error, std::chrono::seconds(20))) << error_text(*job);
  EXPECT_EQ(job->error()->hresult, kNoRangeSupport) << error_text(*job);
  const auto reqs = server.requests_for("/norange");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].range, "bytes=10-19");
}

// A server that answers another range than the one asked for.
TEST(RangesFixture, MisplacedContentRangeIsInvalidServerResponse) {
  ScratchDir dir;
  FixtureServer server;
  Resource r = body_resource(make_body(3000, 10));
  r.status = 206;
  r.extra_headers = {{"Content-Range", "bytes 0-9/3000"}};
  server.set("/liar", r);
  auto queue = open_queue(dir / "queue.db", test_options(true));
  ASSERT_TRUE(queue);
  auto job = queue->create_job("liar");
  ASSERT_FALSE(job->add_file_with_ranges(server.url("/liar"), dir / "liar", {{100, 10}}));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::error, std::chrono::seconds(20))) << error_text(*job);
  EXPECT_EQ(job->error()->hresult, 0x8020001Bu) << error_text(*job);
}

}  // namespace
}  // namespace xferq::testing
