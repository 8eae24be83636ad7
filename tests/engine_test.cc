// engine_test.cc — downloads, Cancel, Complete, resume and recovery, against a
// real SQLite file and a real local HTTP server.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

#include "test_util.h"

namespace xferq::testing {
namespace {

class Engine : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_ / "queue.db";
    queue_ = open_queue(db_, test_options(true));
    ASSERT_TRUE(queue_);
  }
  Job download(const std::vector<std::pair<std::string, std::string>>& files, bool resume = true) {
    auto job = queue_->create_job("test job");
    EXPECT_TRUE(job.ok());
    for (const auto& [path, name] : files) EXPECT_FALSE(job->add_file(server_.url(path), dir_ / name));
    if (resume) {
      EXPECT_FALSE(job->resume());
    }
    return *job;
  }

  ScratchDir dir_;
  FixtureServer server_;
  std::string db_;
  std::unique_ptr<Queue> queue_;
};

TEST_F(Engine, NewJobStartsSuspendedWithDefaults) {
  auto job = queue_->create_job("fresh");
  ASSERT_TRUE(job.ok());
  auto info = job->info();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, JobState::suspended);
  EXPECT_EQ(info->priority, JobPriority::normal);
  EXPECT_EQ(info->minimum_retry_delay, std::chrono::seconds(600));
  EXPECT_EQ(info->no_progress_timeout, std::chrono::seconds(1209600));
  EXPECT_EQ(info->progress.files_total, 0u);
  EXPECT_EQ(job->id().size(), 38u);
  EXPECT_EQ(job->resume(), make_error_code(Errc::empty));
  EXPECT_EQ(job->error().error(), make_error_code(Errc::error_information_unavailable));
  auto again = queue_->get_job(job->id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *job);
}

TEST_F(Engine, DownloadCompleteGivesByteIdenticalFiles) {
  const std::string a = make_body(3 * 1024 * 1024 + 17, 1), b = make_body(5000, 2);
  server_.set("/a", body_resource(a));
  server_.set("/b", body_resource(b));
  std::atomic<int> transferred{0};
  JobCallbacks cb;
  cb.transferred = [&](const std::string&) { transferred++; };
  queue_->set_callbacks(cb);
  Job job = download({{"/a", "a.bin"}, {"/b", "b.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  // The callback runs on the worker thread just after the commit.
  EXPECT_TRUE(wait_for([&] { return transferred.load() == 1; }));
  // Nothing at the final paths before Complete.
  EXPECT_FALSE(exists(dir_ / "a.bin"));
  auto progress = job.progress();
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->bytes_total, static_cast<int64_t>(a.size() + b.size()));
  EXPECT_EQ(progress->bytes_transferred, progress->bytes_total);
  EXPECT_EQ(progress->files_transferred, 2u);
  auto times = job.times();
  ASSERT_TRUE(times.ok());
  EXPECT_TRUE(times->transfer_completion.has_value());
  CompleteStatus status = CompleteStatus::partial;
  ASSERT_FALSE(job.complete(&status));
  EXPECT_EQ(status, CompleteStatus::all_files);
  EXPECT_EQ(file_content_hash(dir_ / "a.bin"), content_hash(a));
  EXPECT_EQ(file_content_hash(dir_ / "b.bin"), content_hash(b));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_EQ(*job.state(), JobState::acknowledged);
  // Requests asked for identity encoding.
  for (const auto& r : server_.requests()) EXPECT_EQ(r.accept_encoding, "identity");
  // Final jobs are hidden from the default listing but findable by id.
  auto active = queue_->jobs();
  ASSERT_TRUE(active.ok());
  EXPECT_TRUE(active->empty());
  EXPECT_EQ(queue_->jobs(true)->size(), 1u);
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.cancel(), make_error_code(Errc::invalid_state));
}

TEST_F(Engine, TempFileIsPrivateAndHidden) {
  Resource r = body_resource(make_body(200000, 3));
  r.stall_after_bytes = 1000;
  server_.set("/slow", r);
  Job job = download({{"/slow", "slow.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::transferring));
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  const std::string temp = (*files)[0].temp_path;
  ASSERT_FALSE(temp.empty());
  struct stat st {};
  ASSERT_EQ(::stat(temp.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(temp.substr(0, dir_.path().size()), dir_.path());
  EXPECT_FALSE(exists(dir_ / "slow.bin"));
  EXPECT_FALSE(job.cancel());
  EXPECT_FALSE(exists(temp));
}

TEST_F(Engine, CancelWhileTransferringStopsAndDeletes) {
  const std::string body = make_body(4 * 1024 * 1024, 4);
  server_.set("/big", body_resource(body, 1024 * 1024));  // 4 s at 1 MiB/s
  Job job = download({{"/big", "big.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 100000; }));
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  const std::string temp = (*files)[0].temp_path;
  ASSERT_TRUE(exists(temp));
  ASSERT_FALSE(job.cancel());
  // Gone when cancel returns.
  EXPECT_FALSE(exists(temp));
  EXPECT_EQ(*job.state(), JobState::cancelled);
  // The transfer stops: the server sees the client leave and sends no more.
  ASSERT_TRUE(wait_for([&] {
    auto rs = server_.requests_for("/big");
    return !rs.empty() && rs.back().finished;
  }, std::chrono::milliseconds(2000)));
  const long long sent = server_.body_bytes_sent("/big");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(server_.body_bytes_sent("/big"), sent);
  EXPECT_LT(sent, static_cast<long long>(body.size()));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_FALSE(exists(dir_ / "big.bin"));
  // Cancel twice -> invalid state; every other call too.
  EXPECT_EQ(job.cancel(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.resume(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
  // Still CANCELLED after reopening the file.
  queue_.reset();
  auto q = open_queue(db_, test_options(false));
  auto again = q->get_job(job.id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->state(), JobState::cancelled);
  EXPECT_EQ(again->cancel(), make_error_code(Errc::invalid_state));
}

// The first file of a download records the temp paths of the job's later
// files too (one synced commit for all): they are named before any of them
// exists, the files still transfer one after another into them, and a
// cancel before they start leaves no file behind.
TEST_F(Engine, LaterFilesTempPathsAreRecordedWithTheFirst) {
  const std::string first = make_body(2 * 1024 * 1024, 41), second = make_body(30000, 42), third = make_body(20000, 43);
  server_.set("/a", body_resource(first, 1024 * 1024));  // 2 s at 1 MiB/s
  server_.set("/b", body_resource(second));
  server_.set("/c", body_resource(third));
  Job job = download({{"/a", "a.bin"}, {"/b", "b.bin"}, {"/c", "c.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 100000; }));
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 3u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_NE((*files)[i].temp_path, "") << "file " << i << "'s temp path was not recorded with the first";
    EXPECT_FALSE(exists((*files)[i].temp_path)) << "file " << i << " exists before its turn";
  }
  EXPECT_TRUE(server_.requests_for("/b").empty());
  ASSERT_FALSE(job.cancel());
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());

  // A second job runs to the end: every file lands in its recorded temp
  // path and is completed byte-identical.
  server_.set("/a", body_resource(first));
  Job whole = download({{"/a", "a2.bin"}, {"/b", "b2.bin"}, {"/c", "c2.bin"}});
  ASSERT_TRUE(wait_state(whole, JobState::transferred)) << state_name(whole);
  ASSERT_FALSE(whole.complete());
  EXPECT_EQ(read_file(dir_ / "a2.bin"), first);
  EXPECT_EQ(read_file(dir_ / "b2.bin"), second);
  EXPECT_EQ(read_file(dir_ / "c2.bin"), third);
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Engine, CancelOfSuspendedJobWithPartialFile) {
  server_.set("/big", body_resource(make_body(2 * 1024 * 1024, 5), 512 * 1024));
  Job job = download({{"/big", "big.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 50000; }));
  ASSERT_FALSE(job.suspend());
  EXPECT_EQ(*job.state(), JobState::suspended);
  const std::string temp = (*job.files())[0].temp_path;
  EXPECT_TRUE(exists(temp));  // kept for resume
  ASSERT_FALSE(job.cancel());
  EXPECT_FALSE(exists(temp)) << "the name is free when cancel() returns";
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  // The blocks go with the janitor, right after.
  EXPECT_TRUE(wait_for([&] { return discarded_files_in(dir_.path()).empty(); })) << "a twin outlived its janitor";
}

TEST_F(Engine, SuspendResumeContinuesWithRange) {
  const std::string body = make_body(3 * 1024 * 1024, 6);
  server_.set("/big", body_resource(body, 2 * 1024 * 1024));
  Job job = download({{"/big", "big.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 300000; }));
  ASSERT_FALSE(job.suspend());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "big.bin"), content_hash(body));
  auto reqs = server_.requests_for("/big");
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs.back().range.rfind("bytes=", 0), 0u);
  EXPECT_EQ(reqs.back().if_range, "\"v1\"");
  EXPECT_LT(server_.body_bytes_sent("/big"), static_cast<long long>(body.size() * 3 / 2));
}

TEST_F(Engine, RestartMidTransferResumesFromDisk) {
  const std::string body = make_body(4 * 1024 * 1024, 7);
  server_.set("/big", body_resource(body, 2 * 1024 * 1024));
  Job job = download({{"/big", "big.bin"}});
  const std::string id = job.id();
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 1000000; }));
  queue_.reset();  // the process goes away mid-transfer
  server_.set("/big", body_resource(body));  // full speed now
  auto q = open_queue(db_, test_options(true));
  auto again = q->get_job(id);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(wait_state(*again, JobState::transferred)) << state_name(*again);
  ASSERT_FALSE(again->complete());
  EXPECT_EQ(file_content_hash(dir_ / "big.bin"), content_hash(body));
  auto reqs = server_.requests_for("/big");
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_FALSE(reqs.back().range.empty());
  EXPECT_LT(server_.body_bytes_sent("/big"), static_cast<long long>(body.size() * 3 / 2));
}

TEST_F(Engine, ServerIgnoringRangeRestartsFromZero) {
  const std::string body = make_body(2 * 1024 * 1024, 8);
  Resource r = body_resource(body, 1024 * 1024);
  r.support_range = false;
  server_.set("/norange", r);
  Job job = download({{"/norange", "f.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 200000; }));
  ASSERT_FALSE(job.suspend());
  r.bytes_per_sec = 0;
  server_.set("/norange", r);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "f.bin"), content_hash(body));  // no splice
}

TEST_F(Engine, ChangedContentIsNeverSpliced) {
  const std::string v1 = make_body(2 * 1024 * 1024, 9), v2 = make_body(2 * 1024 * 1024, 10);
  server_.set("/doc", body_resource(v1, 1024 * 1024));
  Job job = download({{"/doc", "doc.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 200000; }));
  ASSERT_FALSE(job.suspend());
  Resource changed = body_resource(v2);
  changed.etag = "\"v2\"";
  server_.set("/doc", changed);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "doc.bin"), content_hash(v2));
}

// Retry-After longer than the job's own delay is obeyed: the retry comes
// after the server's 2 s, not the job's 0 s.
TEST_F(Engine, RetryAfterLongerThanTheJobsDelayIsObeyed) {
  Resource down;
  down.status = 503;
  down.extra_headers = {{"Retry-After", "2"}};
  server_.set("/later", down);
  auto job = queue_->create_job("later");
  ASSERT_FALSE(job->add_file(server_.url("/later"), dir_ / "later.bin"));
  ASSERT_FALSE(job->set_minimum_retry_delay(std::chrono::seconds(0)));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transient_error)) << state_name(*job);
  const auto failed_at = std::chrono::steady_clock::now();
  server_.set("/later", body_resource(make_body(1000, 12)));
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(6000))) << state_name(*job);
  const auto waited = std::chrono::steady_clock::now() - failed_at;
  EXPECT_GE(waited, std::chrono::milliseconds(1500)) << "retried before the server's Retry-After";
  EXPECT_EQ(server_.requests_for("/later").size(), 2u);
}

// Custom headers go with every request of the job, resumes included; the
// headers xferq owns and malformed lines are refused and change nothing.
TEST_F(Engine, CustomHeadersGoWithEveryRequest) {
  const std::string body = make_body(2 * 1024 * 1024, 13);
  server_.set("/h", body_resource(body, 1024 * 1024));
  auto job = queue_->create_job("headers");
  ASSERT_FALSE(job->add_file(server_.url("/h"), dir_ / "h.bin"));
  ASSERT_FALSE(job->set_custom_headers({"X-Api-Key: k1", "Accept: application/octet-stream"}));
  EXPECT_EQ(job->set_custom_headers({"Range: bytes=0-"}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_custom_headers({"X-Split: a\r\nInjected: 1"}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_custom_headers({"BITS-Packet-Type: Ping"}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_custom_headers({"no colon"}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_custom_headers({std::string("X-Nul: a\0b", 11)}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_custom_headers(std::vector<std::string>(65, "X-A: b")), make_error_code(Errc::string_too_long));
  ASSERT_EQ(*job->custom_headers(), (std::vector<std::string>{"X-Api-Key: k1", "Accept: application/octet-stream"}));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_for([&] { return job->progress().ok() && job->progress()->bytes_transferred > 100000; }));
  ASSERT_FALSE(job->suspend());
  Resource fast = body_resource(body);
  server_.set("/h", fast);
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred)) << state_name(*job);
  auto reqs = server_.requests_for("/h");
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_FALSE(reqs.back().range.empty()) << "the resume is a Range request";
  for (const auto& r : reqs) {
    int found = 0;
    for (const auto& [name, value] : r.headers) {
      if (name == "X-Api-Key" && value == "k1") ++found;
      if (name == "Accept" && value == "application/octet-stream") ++found;
    }
    EXPECT_EQ(found, 2) << "a request without the job's headers";
  }
  ASSERT_FALSE(job->complete());
  EXPECT_EQ(file_content_hash(dir_ / "h.bin"), content_hash(body));
}

// BITS's redirect policy: allow silently (default), allow and report the
// final URL, or disallow (a redirect is a fatal error, the target untouched).
TEST_F(Engine, RedirectPolicyFromTheSecurityFlags) {
  const std::string body = make_body(5000, 14);
  server_.set("/target", body_resource(body));
  Resource moved;
  moved.status = 302;
  moved.location = server_.url("/target");
  server_.set("/moved", moved);
  auto job = queue_->create_job("redirects");
  EXPECT_EQ(job->set_security_flags(0x0001), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_security_flags(0x0300), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(*job->security_flags(), kRedirectPolicyAllowSilent);

  ASSERT_FALSE(job->add_file(server_.url("/moved"), dir_ / "silent.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred)) << state_name(*job);
  EXPECT_EQ((*job->files())[0].final_url, "") << "reported without ALLOW_REPORT";
  ASSERT_FALSE(job->complete());

  auto report = queue_->create_job("report");
  ASSERT_FALSE(report->set_security_flags(kRedirectPolicyAllowReport));
  ASSERT_FALSE(report->add_file(server_.url("/moved"), dir_ / "report.bin"));
  ASSERT_FALSE(report->resume());
  ASSERT_TRUE(wait_state(*report, JobState::transferred)) << state_name(*report);
  EXPECT_EQ((*report->files())[0].final_url, server_.url("/target"));
  ASSERT_FALSE(report->complete());
  EXPECT_EQ(read_file(dir_ / "report.bin"), body);

  const size_t target_hits = server_.requests_for("/target").size();
  auto refuse = queue_->create_job("disallow");
  ASSERT_FALSE(refuse->set_security_flags(kRedirectPolicyDisallow));
  ASSERT_FALSE(refuse->add_file(server_.url("/moved"), dir_ / "refused.bin"));
  ASSERT_FALSE(refuse->resume());
  ASSERT_TRUE(wait_state(*refuse, JobState::error)) << state_name(*refuse);
  EXPECT_EQ(refuse->error()->hresult, 0x8019012Eu);  // BG_E_HTTP_ERROR_302
  EXPECT_EQ(server_.requests_for("/target").size(), target_hits) << "the redirect was followed";
}

TEST_F(Engine, NotFoundIsFatalWithRemoteFileContext) {
  Resource r;
  r.status = 404;
  server_.set("/gone", r);
  std::mutex mu;
  std::vector<JobErrorInfo> errors;
  JobCallbacks cb;
  cb.error = [&](const std::string&, const JobErrorInfo& e) {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(e);
  };
  queue_->set_callbacks(cb);
  Job job = download({{"/gone", "gone.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto e = job.error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->hresult, 0x80190194u);
  EXPECT_EQ(hresult_name(e->hresult), "BG_E_HTTP_ERROR_404");
  EXPECT_EQ(e->context, ErrorContext::remote_file);
  EXPECT_EQ(e->file_index, 0u);
  EXPECT_EQ(*job.error_count(), 1u);
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard<std::mutex> lock(mu);
    return errors.size() == 1u;
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(errors[0].hresult, 0x80190194u);
}

TEST_F(Engine, ServiceUnavailableIsRetriedAfterTheDelay) {
  Resource down;
  down.status = 503;
  down.extra_headers = {{"Retry-After", "1"}};
  server_.set("/flaky", down);
  auto job = queue_->create_job("flaky");
  ASSERT_FALSE(job->add_file(server_.url("/flaky"), dir_ / "flaky.bin"));
  ASSERT_FALSE(job->set_minimum_retry_delay(std::chrono::seconds(1)));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transient_error)) << state_name(*job);
  EXPECT_EQ(job->error()->hresult, 0x801901F7u);
  const std::string body = make_body(10000, 11);
  server_.set("/flaky", body_resource(body));
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(5000))) << state_name(*job);
  EXPECT_GE(*job->error_count(), 1u);
  ASSERT_FALSE(job->complete());
  EXPECT_EQ(read_file(dir_ / "flaky.bin"), body);
}

TEST_F(Engine, ZeroNoProgressTimeoutMakesEveryErrorFatal) {
  Resource down;
  down.status = 503;
  server_.set("/down", down);
  auto job = queue_->create_job("strict");
  ASSERT_FALSE(job->add_file(server_.url("/down"), dir_ / "down.bin"));
  ASSERT_FALSE(job->set_no_progress_timeout(std::chrono::seconds(0)));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::error)) << state_name(*job);
  EXPECT_EQ(job->error()->hresult, 0x801901F7u);
}

TEST_F(Engine, RedirectToOtherSchemeIsRefused) {
  Resource r;
  r.status = 302;
  r.location = "file:///etc/passwd";
  server_.set("/evil", r);
  Job job = download({{"/evil", "evil.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::unsupported_scheme));
  EXPECT_FALSE(exists(dir_ / "evil.bin"));
}

TEST_F(Engine, RedirectLoopIsAnError) {
  Resource r;
  r.status = 302;
  r.location = "/loop";
  server_.set("/loop", r);
  Job job = download({{"/loop", "loop.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::too_many_redirects));
}

TEST_F(Engine, DroppedConnectionIsTransientAndResumes) {
  const std::string body = make_body(1024 * 1024, 12);
  Resource r = body_resource(body);
  r.drop_after_bytes = 300000;
  server_.set("/drop", r);
  auto job = queue_->create_job("drop");
  ASSERT_FALSE(job->add_file(server_.url("/drop"), dir_ / "drop.bin"));
  ASSERT_FALSE(job->set_minimum_retry_delay(std::chrono::seconds(1)));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transient_error)) << state_name(*job);
  EXPECT_GT(job->progress()->bytes_transferred, 0);  // kept
  server_.set("/drop", body_resource(body));
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(5000))) << state_name(*job);
  ASSERT_FALSE(job->complete());
  EXPECT_EQ(file_content_hash(dir_ / "drop.bin"), content_hash(body));
  auto reqs = server_.requests_for("/drop");
  EXPECT_FALSE(reqs.back().range.empty());
}

TEST_F(Engine, PartialCompleteKeepsFinishedFiles) {
  server_.set("/small", body_resource("hello"));
  Resource stall = body_resource(make_body(100000, 13));
  stall.stall_after_bytes = 100;
  server_.set("/stall", stall);
  Job job = download({{"/small", "one.txt"}, {"/stall", "two.bin"}});
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->files_transferred == 1; }));
  CompleteStatus status = CompleteStatus::all_files;
  ASSERT_FALSE(job.complete(&status));
  EXPECT_EQ(status, CompleteStatus::partial);
  EXPECT_EQ(read_file(dir_ / "one.txt"), "hello");
  EXPECT_FALSE(exists(dir_ / "two.bin"));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Engine, PlantedSymlinkAtTempPathIsNotFollowed) {
  server_.set("/f", body_resource(make_body(1000, 14)));
  const std::string victim = dir_ / "victim.txt";
  write_file(victim, "precious");
  auto job = queue_->create_job("symlink");
  ASSERT_FALSE(job->add_file(server_.url("/f"), dir_ / "f.bin"));
  // Predict the temp name and plant a symlink there.
  std::string hex;
  for (char c : job->id())
    if (std::isxdigit(static_cast<unsigned char>(c))) hex.push_back(c);
  const std::string temp = dir_ / (".f.bin.xferq-" + hex + "-0.part");
  ASSERT_EQ(::symlink(victim.c_str(), temp.c_str()), 0);
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::error)) << state_name(*job);
  EXPECT_EQ(job->error()->context, ErrorContext::local_file);
  EXPECT_EQ(read_file(victim), "precious");
}

TEST_F(Engine, PriorityOrdersTheQueue) {
  queue_.reset();
  auto o = test_options(false);
  o.max_concurrent_transfers = 1;
  queue_ = open_queue(db_, o);
  server_.set("/x", body_resource(make_body(1000, 15)));
  std::vector<Job> jobs;
  const JobPriority order[] = {JobPriority::low, JobPriority::normal, JobPriority::foreground, JobPriority::high};
  for (int i = 0; i < 4; ++i) {
    Job j = download({{"/x", "p" + std::to_string(i)}}, false);
    ASSERT_FALSE(j.set_priority(order[i]));
    ASSERT_FALSE(j.resume());
    jobs.push_back(j);
  }
  std::mutex mu;
  std::vector<std::string> done;
  JobCallbacks cb;
  cb.transferred = [&](const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    done.push_back(id);
  };
  queue_->set_callbacks(cb);
  queue_->start_worker();
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard<std::mutex> lock(mu);
    return done.size() == 4;
  }));
  EXPECT_EQ(done[0], jobs[2].id());  // FOREGROUND
  EXPECT_EQ(done[1], jobs[3].id());  // HIGH
  EXPECT_EQ(done[2], jobs[1].id());  // NORMAL
  EXPECT_EQ(done[3], jobs[0].id());  // LOW
}

TEST_F(Engine, ViewsAnswerOperatorQueries) {
  server_.set("/v", body_resource(make_body(4000, 16)));
  Job job = download({{"/v", "v.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::transferred));
  SQLite::Database db(db_, SQLite::OPEN_READONLY);
  SQLite::Statement s(db, "SELECT state, files_done, files_total, bytes_done, bytes_total, percent FROM job_summary WHERE id = ?");
  s.bind(1, job.id());
  ASSERT_TRUE(s.executeStep());
  EXPECT_EQ(s.getColumn(0).getString(), "TRANSFERRED");
  EXPECT_EQ(s.getColumn(1).getInt(), 1);
  EXPECT_EQ(s.getColumn(2).getInt(), 1);
  EXPECT_EQ(s.getColumn(3).getInt64(), 4000);
  EXPECT_EQ(s.getColumn(4).getInt64(), 4000);
  EXPECT_DOUBLE_EQ(s.getColumn(5).getDouble(), 100.0);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST_F(Engine, LeftoverFileOpsAreAppliedOnOpen) {
  // A crash between Cancel's commit and its deletions leaves the outbox row.
  Resource stall = body_resource(make_body(100000, 17));
  stall.stall_after_bytes = 5000;
  server_.set("/s", stall);
  Job job = download({{"/s", "s.bin"}});
  ASSERT_TRUE(wait_state(job, JobState::transferring));
  const std::string temp = (*job.files())[0].temp_path;
  queue_.reset();
  ASSERT_TRUE(exists(temp));
  {
    // What Cancel's transaction commits, written as a crashed process left it.
    SQLite::Database db(db_, SQLite::OPEN_READWRITE);
    SQLite::Transaction txn(db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement up(db, "UPDATE jobs SET state = 8, generation = generation + 1 WHERE id = ?");
    up.bind(1, job.id());
    up.exec();
    SQLite::Statement ins(db, "INSERT INTO file_ops (job_id, kind, created_us) VALUES (?, 1, 0)");
    ins.bind(1, job.id());
    ins.exec();
    txn.commit();
  }
  auto q = open_queue(db_, test_options(false));
  EXPECT_FALSE(exists(temp));
  SQLite::Database db(db_, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pending_file_ops").getInt(), 0);
}

}  // namespace
}  // namespace xferq::testing

namespace xferq::testing {
namespace {

// Test options with Cancel's deletions left to the janitors.
QueueOptions deferred_delete_options() {
  auto o = test_options(true);
  o.defer_cancel_deletes = true;
  return o;
}

TEST(DeferredDeletes, CancelReturnsAtCommitAndTheJanitorDeletesSoonAfter) {
  ScratchDir dir;
  FixtureServer server;
  auto q = open_queue(dir / "q.db", deferred_delete_options());
  Resource r = body_resource(make_body(1024 * 1024, 30), 512 * 1024);
  server.set("/d", r);
  std::vector<Job> jobs;
  for (int i = 0; i < 20; ++i) {
    auto j = q->create_job("deferred");
    ASSERT_FALSE(j->add_file(server.url("/d"), dir / ("d" + std::to_string(i))));
    ASSERT_FALSE(j->resume());
    jobs.push_back(*j);
  }
  ASSERT_TRUE(wait_for([&] { return !temp_files_in(dir.path()).empty(); }));
  for (Job& j : jobs) ASSERT_FALSE(j.cancel());
  for (Job& j : jobs) EXPECT_EQ(*j.state(), JobState::cancelled);
  EXPECT_TRUE(wait_for([&] { return temp_files_in(dir.path()).empty(); }, std::chrono::milliseconds(2000)));
  // And the outbox is empty once the janitor's retirements are written.
  q.reset();
  auto again = open_queue(dir / "q.db", test_options(false));
  SQLite::Database db(dir / "q.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pending_file_ops").getInt(), 0);
}

// Several janitors share the deferred deletions, a bounded batch each: every
// temp file goes, and every outbox row is retired once (none is left, none
// reports a failure from a file another janitor already deleted).
TEST(DeferredDeletes, EightThreadsCancelThreeHundredJobsAndTheJanitorsDeleteEveryFileOnce) {
  ScratchDir dir;
  FixtureServer server;
  server.set("/s", body_resource(make_body(3000, 31)));
  auto o = deferred_delete_options();
  o.max_concurrent_transfers = 8;
  auto q = open_queue(dir / "q.db", o);
  std::vector<Job> jobs;
  for (int i = 0; i < 300; ++i) {
    auto j = q->create_job("many");
    ASSERT_FALSE(j->add_file(server.url("/s"), dir / ("f" + std::to_string(i))));
    ASSERT_FALSE(j->resume());
    jobs.push_back(*j);
  }
  // TRANSFERRED: each job's one temp file is whole on disk, waiting for Complete.
  for (Job& j : jobs) ASSERT_TRUE(wait_state(j, JobState::transferred, std::chrono::seconds(60))) << state_name(j);
  ASSERT_EQ(temp_files_in(dir.path()).size(), 300u);
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < 300;)
        if (jobs[static_cast<size_t>(i)].cancel()) failures++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(wait_for([&] { return temp_files_in(dir.path()).empty(); }, std::chrono::milliseconds(20000)))
      << temp_files_in(dir.path()).size() << " temp files left";
  jobs.clear();  // the handles share the queue's core
  q.reset();     // the janitors finish their queue; the last retirements are written
  SQLite::Database db(dir / "q.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM file_ops WHERE kind != 0").getInt(), 0);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM jobs WHERE state = " + std::to_string(static_cast<int>(JobState::cancelled))).getInt(), 300)
      << "not all CANCELLED";
}

}  // namespace
}  // namespace xferq::testing
