// integrity_test.cc — a downloaded file is the file the application expected
// (FileSpec::integrity, Job::set_file_integrity, Job::set_validation_state):
// real transfers from the fixture server, digests computed here with
// OpenSSL, checked by the engine while the bytes arrive.
#include <openssl/evp.h>

#include <fstream>

#include "test_util.h"

namespace xferq::testing {
namespace {

std::string hex_digest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  static const char kHex[] = "0123456789ABCDEF";  // upper case: the engine accepts either
  std::string s;
  for (unsigned int i = 0; i < n; ++i) s += {kHex[out[i] >> 4], kHex[out[i] & 15]};
  return s;
}
std::string sha256(const std::string& d) { return hex_digest(EVP_sha256(), d); }
std::string sha512(const std::string& d) { return hex_digest(EVP_sha512(), d); }

class Integrity : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_ / "queue.db";
    queue_ = open_queue(db_, test_options(true));
    ASSERT_TRUE(queue_);
  }
  Job job_with(const std::string& path, const std::string& name, const FileIntegrity& expected) {
    auto job = queue_->create_job("integrity");
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_files({FileSpec(server_.url(path), dir_ / name, expected)}));
    return *job;
  }
  ScratchDir dir_;
  FixtureServer server_;
  std::string db_;
  std::unique_ptr<Queue> queue_;
};

TEST_F(Integrity, MatchingDigestsTransferAndAreShown) {
  const std::string body = make_body(300000, 21);
  server_.set("/ok", body_resource(body));
  FileIntegrity e;
  e.size = static_cast<int64_t>(body.size());
  e.sha256 = sha256(body);
  e.sha512 = sha512(body);
  Job job = job_with("/ok", "ok.bin", e);
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  std::string lower = e.sha256;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ((*files)[0].integrity.sha256, lower) << "stored in canonical (lower-case) form";
  EXPECT_EQ((*files)[0].integrity.size, e.size);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "ok.bin"), body);
}

// A server that serves other bytes (a compromised mirror): ERROR with
// BG_E_VALIDATION_FAILED in the local file's context, the bad bytes deleted,
// complete() never produces the file; after the mirror is fixed, resume()
// downloads it again from zero.
TEST_F(Integrity, OtherBytesAreRejectedDeletedAndFetchedAgainFromZero) {
  const std::string good = make_body(200000, 22), evil = make_body(200000, 23);
  server_.set("/f", body_resource(evil));
  FileIntegrity e;
  e.sha256 = sha256(good);
  Job job = job_with("/f", "f.bin", e);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto err = job.error();
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->hresult, static_cast<uint32_t>(Errc::validation_failed)) << err->description;
  EXPECT_EQ(err->context, ErrorContext::local_file);
  EXPECT_EQ(err->file_index, 0u);
  EXPECT_NE(err->description.find("SHA-256"), std::string::npos) << err->description;
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  EXPECT_FALSE((*files)[0].completed);
  EXPECT_EQ((*files)[0].bytes_transferred, 0);
  EXPECT_TRUE(temp_files_in(dir_.path()).empty()) << "the bad bytes are still on disk";

  server_.set("/f", body_resource(good));
  const size_t before = server_.requests_for("/f").size();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  auto reqs = server_.requests_for("/f");
  ASSERT_GT(reqs.size(), before);
  EXPECT_TRUE(reqs[before].range.empty()) << "the new attempt must start from zero, not resume the bad bytes";
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "f.bin"), good);
}

TEST_F(Integrity, CompleteNeverProducesARejectedFile) {
  const std::string evil = make_body(50000, 24);
  server_.set("/x", body_resource(evil));
  FileIntegrity e;
  e.sha256 = sha256("something else");
  Job job = job_with("/x", "x.bin", e);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  CompleteStatus status = CompleteStatus::all_files;
  ASSERT_FALSE(job.complete(&status));
  EXPECT_EQ(status, CompleteStatus::partial);
  EXPECT_FALSE(exists(dir_ / "x.bin"));
}

// The size the application expects, against what the server announces: not
// one byte written.
TEST_F(Integrity, AnnouncedSizeThatDiffersIsRejectedBeforeAnyByte) {
  const std::string body = make_body(100000, 25);
  server_.set("/s", body_resource(body));
  FileIntegrity e;
  e.size = 99999;
  Job job = job_with("/s", "s.bin", e);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::validation_failed));
  EXPECT_NE(job.error()->description.find("99999"), std::string::npos) << job.error()->description;
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

// A restart mid-transfer: the resumed attempt hashes the bytes already on
// disk first, so the digest of the whole file still matches.
TEST_F(Integrity, MatchingDigestSurvivesARestartMidTransfer) {
  const std::string body = make_body(4 * 1024 * 1024, 26);
  // The first attempt stalls after 1.5 MiB: the restart always comes mid-file.
  Resource stalling = body_resource(body);
  stalling.stall_after_bytes = 1536 * 1024;
  server_.set("/big", stalling);
  FileIntegrity e;
  e.sha256 = sha256(body);
  Job job = job_with("/big", "big.bin", e);
  const std::string id = job.id();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 1000000; }));
  queue_.reset();
  server_.set("/big", body_resource(body));
  auto q = open_queue(db_, test_options(true));
  auto again = q->get_job(id);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(wait_state(*again, JobState::transferred)) << state_name(*again);
  auto reqs = server_.requests_for("/big");
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_FALSE(reqs.back().range.empty()) << "the restart resumed with Range";
  ASSERT_FALSE(again->complete());
  EXPECT_EQ(read_file(dir_ / "big.bin"), body);
}

// Bytes changed on disk while the queue was closed: the resumed attempt
// hashes what the temp file holds (read back by the hash pool), not what the
// first attempt saw, so the file is rejected although every byte fetched
// after the restart is right.
TEST_F(Integrity, BytesChangedOnDiskBeforeAResumeAreCaught) {
  const std::string body = make_body(4 * 1024 * 1024, 28);
  Resource stalling = body_resource(body);
  stalling.stall_after_bytes = 1536 * 1024;
  server_.set("/t", stalling);
  FileIntegrity e;
  e.sha256 = sha256(body);
  Job job = job_with("/t", "t.bin", e);
  const std::string id = job.id();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 1000000; }));
  queue_.reset();
  const auto temps = temp_files_in(dir_.path());
  ASSERT_EQ(temps.size(), 1u);
  {
    std::fstream f(dir_ / temps[0], std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekp(4096);
    f.put(static_cast<char>(body[4096] ^ 0x5a));
    ASSERT_TRUE(f.good());
  }
  server_.set("/t", body_resource(body));
  auto q = open_queue(db_, test_options(true));
  auto again = q->get_job(id);
  ASSERT_TRUE(again.ok());
  const bool failed = wait_state(*again, JobState::error);
  std::string ranges;
  for (const auto& r : server_.requests_for("/t")) ranges += "[" + r.range + "]";
  ASSERT_TRUE(failed) << state_name(*again) << "; requests " << ranges;
  EXPECT_EQ(again->error()->hresult, static_cast<uint32_t>(Errc::validation_failed)) << again->error()->description;
  EXPECT_FALSE(server_.requests_for("/t").back().range.empty()) << "the restart resumed with Range";
  EXPECT_TRUE(temp_files_in(dir_.path()).empty()) << "the bad bytes are still on disk";
}

// A cancel while the hash pool still reads the file: the hashing is
// abandoned, never awaited, and the temp file goes as for any cancel.
TEST_F(Integrity, CancelWhileHashingLeavesNoTempFile) {
  const std::string body = make_body(8 * 1024 * 1024, 29);
  Resource stalling = body_resource(body);
  stalling.stall_after_bytes = 6 * 1024 * 1024;
  server_.set("/c", stalling);
  FileIntegrity e;
  e.sha256 = sha256(body);
  e.sha512 = sha512(body);
  Job job = job_with("/c", "c.bin", e);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return !temp_files_in(dir_.path()).empty(); }));
  ASSERT_FALSE(job.cancel());
  EXPECT_EQ(state_name(job), "CANCELLED");
  ASSERT_TRUE(wait_for([&] { return temp_files_in(dir_.path()).empty(); })) << "the temp file outlived the cancel";
  EXPECT_FALSE(exists(dir_ / "c.bin"));
}

// BITS's SetValidationState(FALSE): the application rejects a transferred
// file; the job goes to ERROR, the bytes go, resume() fetches it again.
TEST_F(Integrity, ValidationStateFalseRejectsATransferredFile) {
  const std::string body = make_body(80000, 27);
  server_.set("/v", body_resource(body));
  Job job = job_with("/v", "v.bin", FileIntegrity());
  EXPECT_EQ(job.set_validation_state(0, false), make_error_code(Errc::invalid_state)) << "not transferred yet";
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_EQ(job.set_validation_state(1, false), make_error_code(Errc::invalid_arg));
  EXPECT_FALSE(job.set_validation_state(0, true));
  EXPECT_EQ(*job.state(), JobState::transferred);
  const std::string temp = (*job.files())[0].temp_path;
  ASSERT_TRUE(exists(temp));
  ASSERT_FALSE(job.set_validation_state(0, false));
  EXPECT_EQ(*job.state(), JobState::error);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::validation_failed));
  EXPECT_EQ(job.error()->context, ErrorContext::local_file);
  EXPECT_FALSE(exists(temp));
  EXPECT_FALSE((*job.files())[0].completed);
  const size_t before = server_.requests_for("/v").size();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_TRUE(server_.requests_for("/v")[before].range.empty());
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "v.bin"), body);
}

TEST_F(Integrity, BadInputChangesNothing) {
  server_.set("/b", body_resource(make_body(1000, 28)));
  FileIntegrity bad;
  bad.sha256 = "abc";  // not 64 hex digits
  auto job = queue_->create_job("bad");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->add_files({FileSpec(server_.url("/b"), dir_ / "b.bin", bad)}), make_error_code(Errc::invalid_arg));
  bad.sha256 = std::string(64, 'g');
  EXPECT_EQ(job->add_files({FileSpec(server_.url("/b"), dir_ / "b.bin", bad)}), make_error_code(Errc::invalid_arg));
  bad = FileIntegrity();
  bad.size = -2;
  EXPECT_EQ(job->add_files({FileSpec(server_.url("/b"), dir_ / "b.bin", bad)}), make_error_code(Errc::invalid_arg));
  EXPECT_TRUE(job->files()->empty());

  ASSERT_FALSE(job->add_file(server_.url("/b"), dir_ / "b.bin"));
  FileIntegrity good;
  good.sha512 = std::string(128, 'A');
  ASSERT_FALSE(job->set_file_integrity(0, good));
  EXPECT_EQ((*job->files())[0].integrity.sha512, std::string(128, 'a'));
  bad = FileIntegrity();
  bad.sha512 = std::string(127, 'a');
  EXPECT_EQ(job->set_file_integrity(0, bad), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_file_integrity(3, good), make_error_code(Errc::invalid_arg));
  EXPECT_EQ((*job->files())[0].integrity.sha512, std::string(128, 'a')) << "a refused call changed it";

  // Uploads send their own file: no integrity for them.
  write_file(dir_ / "up.bin", "payload");
  auto up = queue_->create_job("up", JobType::upload);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->add_files({FileSpec(server_.url("/u"), dir_ / "up.bin", good)}), make_error_code(Errc::invalid_arg));
  ASSERT_FALSE(up->add_file(server_.url("/u"), dir_ / "up.bin"));
  EXPECT_EQ(up->set_file_integrity(0, good), make_error_code(Errc::not_implemented));

  ASSERT_FALSE(job->cancel());
  EXPECT_EQ(job->set_file_integrity(0, good), make_error_code(Errc::invalid_state));
}

}  // namespace
}  // namespace xferq::testing
