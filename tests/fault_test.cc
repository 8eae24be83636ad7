// fault_test.cc — a misbehaving server, local faults, a locked database, and
// housekeeping: each gets the engine's reaction the reference asks for, and
// nothing is lost or left behind.
#include <SQLiteCpp/SQLiteCpp.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>

#include "fs/file_ops.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

class Faults : public ::testing::Test {
 protected:
  void SetUp() override { reopen(test_options(true)); }
  void reopen(const QueueOptions& o) {
    queue_.reset();
    queue_ = open_queue(dir_ / "queue.db", o);
    ASSERT_TRUE(queue_);
  }
  Job job_for(const std::string& path, const std::string& name, int retry_s = 600) {
    auto job = queue_->create_job(name);
    EXPECT_TRUE(job.ok());
    EXPECT_FALSE(job->add_file(server_.url(path), out_dir() + "/" + name));
    EXPECT_FALSE(job->set_minimum_retry_delay(std::chrono::seconds(retry_s)));
    EXPECT_FALSE(job->resume());
    return *job;
  }
  virtual std::string out_dir() { return dir_.path(); }

  ScratchDir dir_;
  FixtureServer server_;
  std::unique_ptr<Queue> queue_;
};

struct StatusCase {
  int status;
  JobState expected;
};

TEST_F(Faults, HttpStatusesAreTransientOrFatalAsTheReferenceSays) {
  const std::vector<StatusCase> cases = {
      {500, JobState::transient_error}, {502, JobState::transient_error}, {503, JobState::transient_error},
      {504, JobState::transient_error}, {408, JobState::transient_error}, {429, JobState::transient_error},
      {400, JobState::error},           {401, JobState::error},           {403, JobState::error},
      {404, JobState::error},           {410, JobState::error},           {501, JobState::error},
      {505, JobState::error},
  };
  std::vector<Job> jobs;
  for (const auto& c : cases) {
    Resource r;
    r.status = c.status;
    server_.set("/s" + std::to_string(c.status), r);
    jobs.push_back(job_for("/s" + std::to_string(c.status), "s" + std::to_string(c.status)));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].status);
    ASSERT_TRUE(wait_state(jobs[i], cases[i].expected)) << state_name(jobs[i]);
    auto e = jobs[i].error();
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->hresult, kHttpErrorBase + static_cast<uint32_t>(cases[i].status));
    EXPECT_EQ(e->context, ErrorContext::remote_file);
    EXPECT_FALSE(exists(dir_ / ("s" + std::to_string(cases[i].status))));
  }
  // Their temp files belong to the jobs until the jobs are thrown away.
  for (Job& j : jobs) EXPECT_FALSE(j.cancel());
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Faults, ContentLengthLongerThanBodyIsTransientAndNothingIsFinalized) {
  Resource r = body_resource(make_body(50000, 1));
  r.content_length_override = 80000;
  server_.set("/liar", r);
  Job job = job_for("/liar", "liar.bin");
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  EXPECT_EQ(job.error()->context, ErrorContext::remote_file);
  EXPECT_FALSE(exists(dir_ / "liar.bin"));
  // The truth arrives later: the file completes and is whole.
  const std::string body = make_body(80000, 1);
  server_.set("/liar", body_resource(body));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "liar.bin"), body);
}

// A resumed request answered 206 with "Content-Range: bytes 500-519/*" (an
// unknown total) must not erase the size the first answer announced: with it
// gone, whatever arrived would pass for the whole file.
TEST_F(Faults, A206OfUnknownTotalKeepsTheAnnouncedSizeAndAShortFileIsNeverTransferred) {
  Resource first = body_resource(make_body(1000, 3));
  first.drop_after_bytes = 500;
  server_.set("/shrinks", first);
  Job job = job_for("/shrinks", "shrinks.bin");
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  ASSERT_EQ(job.progress()->bytes_transferred, 500);
  Resource liar;
  liar.status = 206;  // the fixture's body for it: "206 Partial Content\n", 20 bytes
  liar.extra_headers = {{"Content-Range", "bytes 500-519/*"}};
  server_.set("/shrinks", liar);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  EXPECT_NE(job.error()->description.find("announced 1000"), std::string::npos) << job.error()->description;
  EXPECT_EQ(server_.requests_for("/shrinks").back().range, "bytes=500-");
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  EXPECT_EQ((*files)[0].bytes_total, 1000) << "the announced size stays";
  EXPECT_FALSE(exists(dir_ / "shrinks.bin"));
  EXPECT_FALSE(job.cancel());
}

TEST_F(Faults, StallIsDetectedAndRetried) {
  auto o = test_options(true);
  o.stall_timeout = std::chrono::seconds(1);
  reopen(o);
  Resource r = body_resource(make_body(100000, 2));
  r.stall_after_bytes = 10000;
  server_.set("/stall", r);
  Job job = job_for("/stall", "stall.bin", 1);
  ASSERT_TRUE(wait_state(job, JobState::transient_error, std::chrono::milliseconds(15000))) << state_name(job);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::transport));
  // The server recovers: the retry resumes from what arrived.
  const std::string body = make_body(100000, 2);
  server_.set("/stall", body_resource(body));
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(15000))) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "stall.bin"), body);
  EXPECT_FALSE(server_.requests_for("/stall").back().range.empty());
}

TEST_F(Faults, StallWithNoProgressTimeoutZeroIsFatal) {
  auto o = test_options(true);
  o.stall_timeout = std::chrono::seconds(1);
  reopen(o);
  Resource r = body_resource(make_body(100000, 3));
  r.stall_after_bytes = 0;
  server_.set("/dead", r);
  auto job = queue_->create_job("dead");
  ASSERT_FALSE(job->add_file(server_.url("/dead"), dir_ / "dead.bin"));
  ASSERT_FALSE(job->set_no_progress_timeout(std::chrono::seconds(0)));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::error, std::chrono::milliseconds(15000))) << state_name(*job);
}

TEST_F(Faults, SlowDripIsNotAStall) {
  auto o = test_options(true);
  o.stall_timeout = std::chrono::seconds(1);
  reopen(o);
  const std::string body = make_body(6000, 4);
  server_.set("/drip", body_resource(body, 3000));  // two seconds of trickle
  Job job = job_for("/drip", "drip.bin");
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(10000))) << state_name(job);
  EXPECT_EQ(*job.error_count(), 0u);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "drip.bin"), body);
}

TEST_F(Faults, ChunkedBodyOfUnknownSize) {
  const std::string body = make_body(300000, 5);
  Resource r = body_resource(body);
  r.chunked = true;
  server_.set("/chunked", r);
  Job job = job_for("/chunked", "chunked.bin");
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_EQ(job.progress()->bytes_total, static_cast<int64_t>(body.size()));
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "chunked.bin"), body);
}

TEST_F(Faults, TempFileDeletedBehindOurBackIsFetchedAgain) {
  const std::string body = make_body(1024 * 1024, 6);
  server_.set("/f", body_resource(body, 1024 * 1024));
  Job job = job_for("/f", "f.bin");
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 100000; }));
  const std::string temp = (*job.files())[0].temp_path;
  ASSERT_EQ(::unlink(temp.c_str()), 0);
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(10000))) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "f.bin"), content_hash(body));
}

TEST_F(Faults, TempFileDeletedWhileSuspendedRestartsFromZero) {
  const std::string body = make_body(1024 * 1024, 7);
  server_.set("/g", body_resource(body, 1024 * 1024));
  Job job = job_for("/g", "g.bin");
  ASSERT_TRUE(wait_for([&] { return job.progress().ok() && job.progress()->bytes_transferred > 100000; }));
  ASSERT_FALSE(job.suspend());
  ASSERT_EQ(::unlink((*job.files())[0].temp_path.c_str()), 0);
  server_.set("/g", body_resource(body));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "g.bin"), content_hash(body));
  EXPECT_TRUE(server_.requests_for("/g").back().range.empty());  // from zero, no splice
}

// An in-call Cancel moves the temp file aside (".part" to ".gone") right
// after its commit. A power cut that loses that commit (synchronous=NORMAL)
// but keeps the rename leaves the job SUSPENDED with its temp file gone and
// a twin beside it. Here that happens twice to one job, simulated by the
// rename alone: each time the job starts its file again from zero, and its
// Complete, the last chance, removes the twin. Nothing of xferq's is left.
TEST_F(Faults, TwinsLeftByCancelsAPowerCutTookBackAreRemovedByComplete) {
  const std::string body = make_body(1024 * 1024, 8);
  server_.set("/t", body_resource(body, 1024 * 1024));
  Job job = job_for("/t", "t.bin");
  for (int cut = 0; cut < 2; ++cut) {
    // The temp file (again, after a cut) and some of its bytes.
    ASSERT_TRUE(wait_for([&] {
      return temp_files_in(dir_.path()).size() == 1 && job.progress().ok() &&
             job.progress()->bytes_transferred > 100000;
    })) << "cut " << cut;
    ASSERT_FALSE(job.suspend());
    const std::string temp = (*job.files())[0].temp_path;
    ASSERT_EQ(temp.substr(temp.size() - 5), ".part");
    const std::string twin = detail::discarded_path(temp);
    ASSERT_EQ(::rename(temp.c_str(), twin.c_str()), 0) << "cut " << cut;
    ASSERT_FALSE(job.resume());
  }
  server_.set("/t", body_resource(body));
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::milliseconds(10000))) << state_name(job);
  ASSERT_EQ(discarded_files_in(dir_.path()).size(), 1u) << "the second cut's twin replaced the first";
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "t.bin"), content_hash(body));
  EXPECT_TRUE(discarded_files_in(dir_.path()).empty()) << "Complete left a twin";
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Faults, TargetDirectoryRemovedMidJob) {
  const std::string sub = dir_ / "sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  server_.set("/h", body_resource(make_body(1024 * 1024, 8), 1024 * 1024));
  auto job = queue_->create_job("gone dir");
  ASSERT_FALSE(job->add_file(server_.url("/h"), sub + "/h.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_for([&] { return job->progress().ok() && job->progress()->bytes_transferred > 50000; }));
  std::filesystem::remove_all(sub);
  ASSERT_TRUE(wait_state(*job, JobState::error, std::chrono::milliseconds(10000))) << state_name(*job);
  EXPECT_EQ(job->error()->context, ErrorContext::local_file);
  EXPECT_FALSE(exists(sub));  // nothing re-created it
  ASSERT_FALSE(job->cancel());
}

TEST_F(Faults, DiskFullIsALocalFileError) {
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old {};
  ::getrlimit(RLIMIT_FSIZE, &old);
  struct rlimit lim = old;
  lim.rlim_cur = 2 * 1024 * 1024;  // files of this process may not grow past 2 MiB
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  server_.set("/huge", body_resource(make_body(4 * 1024 * 1024, 9)));
  Job job = job_for("/huge", "huge.bin");
  const bool reached = wait_state(job, JobState::error);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ASSERT_TRUE(reached) << state_name(job);
  auto e = job.error();
  EXPECT_EQ(e->hresult, static_cast<uint32_t>(Errc::disk_full));
  EXPECT_EQ(e->context, ErrorContext::local_file);
  EXPECT_FALSE(exists(dir_ / "huge.bin"));
  ASSERT_FALSE(job.cancel());
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Faults, CompleteWithTargetDirectoryGoneKeepsTheJob) {
  const std::string sub = dir_ / "later";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  server_.set("/k", body_resource(make_body(1000, 10)));
  auto job = queue_->create_job("complete fails");
  ASSERT_FALSE(job->add_file(server_.url("/k"), sub + "/k.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred));
  const std::string temp = (*job->files())[0].temp_path;
  const std::string kept = dir_ / "kept.part";
  ASSERT_EQ(::rename(temp.c_str(), kept.c_str()), 0);
  std::filesystem::remove_all(sub);
  EXPECT_TRUE(job->complete());  // the rename cannot happen
  EXPECT_EQ(*job->state(), JobState::transferred);  // BITS: the job stays, Complete can be retried
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  ASSERT_EQ(::rename(kept.c_str(), temp.c_str()), 0);
  EXPECT_FALSE(job->complete());
  EXPECT_EQ(*job->state(), JobState::acknowledged);
  EXPECT_TRUE(exists(sub + "/k.bin"));
}

// Complete takes effect or fails without one: with the second file's target
// blocked by a directory, nothing is renamed, the error names the local file
// problem, the temp files stay private, and a later Cancel leaves no final
// file behind (it used to leave the first one in place).
TEST_F(Faults, CompleteBlockedHalfWayRenamesNothingAndCancelLeavesNoFinalFile) {
  server_.set("/a", body_resource(make_body(1000, 21)));
  server_.set("/b", body_resource(make_body(1000, 22)));
  auto job = queue_->create_job("two files");
  ASSERT_FALSE(job->add_files({{server_.url("/a"), dir_ / "a.bin"}, {server_.url("/b"), dir_ / "b.bin"}}));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred));
  ASSERT_EQ(::mkdir((dir_ / "b.bin").c_str(), 0700), 0);  // in the second file's way
  auto ec = job->complete();
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec, make_error_code(Errc::file_exists)) << hresult_name(to_hresult(ec));
  EXPECT_EQ(*job->state(), JobState::transferred);
  EXPECT_FALSE(exists(dir_ / "a.bin")) << "a final file of a Complete that failed";
  for (const auto& f : *job->files()) {
    struct stat st {};
    ASSERT_EQ(::stat(f.temp_path.c_str(), &st), 0) << f.temp_path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "a temp file made public before its rename";
  }
  ASSERT_FALSE(job->cancel());
  EXPECT_FALSE(exists(dir_ / "a.bin"));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(Faults, CompleteSucceedsOnceTheWayIsClear) {
  server_.set("/c", body_resource(make_body(1000, 23)));
  auto job = queue_->create_job("retry");
  ASSERT_FALSE(job->add_file(server_.url("/c"), dir_ / "c.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred));
  ASSERT_EQ(::mkfifo((dir_ / "c.bin").c_str(), 0600), 0);  // a FIFO appeared at the target
  EXPECT_EQ(job->complete(), make_error_code(Errc::file_exists));
  struct stat st {};
  ASSERT_EQ(::lstat((dir_ / "c.bin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  ASSERT_EQ(::unlink((dir_ / "c.bin").c_str()), 0);
  EXPECT_FALSE(job->complete());
  EXPECT_EQ(*job->state(), JobState::acknowledged);
  ASSERT_EQ(::stat((dir_ / "c.bin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(LockedDatabase, CallsWaitThenFailWithBusyAndChangeNothing) {
  ScratchDir dir;
  auto o = test_options(false);
  o.busy_timeout = std::chrono::milliseconds(200);
  auto q = open_queue(dir / "q.db", o);
  auto job = q->create_job("locked");
  ASSERT_TRUE(job.ok());
  SQLite::Database other(dir / "q.db", SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(job->cancel(), make_error_code(Errc::busy));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::milliseconds(5000));
  // Reads still work while another process writes (WAL).
  EXPECT_EQ(*job->state(), JobState::suspended);
  // Opening waits no longer than the busy timeout either.
  auto second = Queue::open(dir / "q.db", o);
  EXPECT_TRUE(second.ok());
  other.exec("ROLLBACK");
  EXPECT_FALSE(job->cancel());
  EXPECT_EQ(*job->state(), JobState::cancelled);
}

TEST(Housekeeping, InactiveJobsAreCancelledAndOldFinalJobsPurged) {
  ScratchDir dir;
  FixtureServer server;
  auto o = test_options(false);
  o.job_inactivity_timeout = std::chrono::seconds(1);
  o.final_job_retention = std::chrono::seconds(1);
  auto q = open_queue(dir / "q.db", o);
  auto idle = q->create_job("idle");
  ASSERT_FALSE(idle->add_file("http://127.0.0.1:1/x", dir / "idle.bin"));
  auto done = q->create_job("done");
  ASSERT_FALSE(done->cancel());
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto fresh = q->create_job("fresh");
  auto report = q->housekeep();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->jobs_expired, 1u);
  EXPECT_EQ(report->jobs_purged, 1u);
  EXPECT_EQ(*idle->state(), JobState::cancelled);  // kept for the retention period
  EXPECT_EQ(done->state().error(), make_error_code(Errc::not_found));
  EXPECT_EQ(*fresh->state(), JobState::suspended);
  // The expired job's row goes once its own retention has passed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_FALSE(fresh->set_description("still active"));
  report = q->housekeep();
  EXPECT_EQ(report->jobs_purged, 1u);
  EXPECT_EQ(idle->state().error(), make_error_code(Errc::not_found));
  SQLite::Database db(dir / "q.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM files WHERE job_id NOT IN (SELECT id FROM jobs)").getInt(), 0);
}

}  // namespace
}  // namespace xferq::testing
