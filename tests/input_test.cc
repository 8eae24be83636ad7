// input_test.cc — bad input gets a clear error and changes nothing.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>

#include <condition_variable>
#include <mutex>

#include "test_util.h"

namespace xferq::testing {
namespace {

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    queue_ = open_queue(dir_ / "queue.db", test_options(false));
    ASSERT_TRUE(queue_);
  }
  ScratchDir dir_;
  std::unique_ptr<Queue> queue_;
};

TEST_F(BadInput, AddFileTable) {
  ::mkdir((dir_ / "subdir").c_str(), 0700);
  ::mkdir((dir_ / "readonly").c_str(), 0500);
  const std::string ok_url = "http://127.0.0.1:1/file";
  const std::string long_url = "http://example.com/" + std::string(2300, 'a');
  struct Case {
    std::string what, url, path;
    Errc expected;
  };
  const bool root = ::geteuid() == 0;  // root writes anywhere
  std::vector<Case> cases = {
      {"relative path", ok_url, "relative/file", Errc::invalid_arg},
      {"dot-dot in path", ok_url, dir_ / "subdir/../x", Errc::invalid_arg},
      {"dot in path", ok_url, dir_ / "./x", Errc::invalid_arg},
      {"trailing slash", ok_url, dir_ / "x/", Errc::invalid_arg},
      {"a directory", ok_url, dir_ / "subdir", Errc::invalid_arg},
      {"missing directory", ok_url, dir_ / "nope/x", Errc::path_not_found},
      {"empty path", ok_url, "", Errc::invalid_arg},
      {"empty url", "", dir_ / "x", Errc::invalid_arg},
      {"malformed url", "http//nohost", dir_ / "x", Errc::invalid_arg},
      {"no host", "http:///path", dir_ / "x", Errc::invalid_arg},
      {"ftp scheme", "ftp://example.com/f", dir_ / "x", Errc::unsupported_scheme},
      {"file scheme", "file:///etc/passwd", dir_ / "x", Errc::unsupported_scheme},
      {"space in url", "http://example.com/a b", dir_ / "x", Errc::invalid_arg},
      {"url too long", long_url, dir_ / "x", Errc::string_too_long},
      {"non-UTF-8 path", ok_url, dir_ / "bad\xff\xfename", Errc::invalid_arg},
      {"non-UTF-8 url", "http://example.com/\xc3\x28", dir_ / "x", Errc::invalid_arg},
  };
  if (!root) cases.push_back({"read-only directory", ok_url, dir_ / "readonly/x", Errc::access_denied});
  auto job = queue_->create_job("bad input");
  ASSERT_TRUE(job.ok());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(job->add_file(c.url, c.path), make_error_code(c.expected));
  }
  EXPECT_EQ(job->files()->size(), 0u);
  EXPECT_EQ(*job->state(), JobState::suspended);
}

TEST_F(BadInput, SameLocalPathTwice) {
  auto a = queue_->create_job("a");
  auto b = queue_->create_job("b");
  const std::string url = "http://127.0.0.1:1/f";
  EXPECT_EQ(a->add_files({{url, dir_ / "same"}, {url, dir_ / "same"}}), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(a->files()->size(), 0u);  // atomic: none added
  ASSERT_FALSE(a->add_file(url, dir_ / "same"));
  EXPECT_EQ(b->add_file(url, dir_ / "same"), make_error_code(Errc::file_exists));
  EXPECT_EQ(a->add_file(url, dir_ / "same"), make_error_code(Errc::file_exists));
  // Once the first job is final, the path is free again.
  ASSERT_FALSE(a->cancel());
  EXPECT_FALSE(b->add_file(url, dir_ / "same"));
}

TEST_F(BadInput, TooManyFilesAndLongStrings) {
  auto job = queue_->create_job("many");
  std::vector<FileSpec> files;
  for (int i = 0; i < 201; ++i) files.push_back({"http://127.0.0.1:1/f", dir_ / ("f" + std::to_string(i))});
  EXPECT_EQ(job->add_files(files), make_error_code(Errc::too_many_files_in_job));
  EXPECT_EQ(job->files()->size(), 0u);
  files.resize(200);
  EXPECT_FALSE(job->add_files(files));
  EXPECT_EQ(queue_->create_job(std::string(257, 'n')).error(), make_error_code(Errc::string_too_long));
  EXPECT_EQ(queue_->create_job("").error(), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->set_display_name(std::string(257, 'n')), make_error_code(Errc::string_too_long));
  EXPECT_EQ(job->set_description(std::string(1025, 'd')), make_error_code(Errc::string_too_long));
  EXPECT_EQ(job->set_priority(static_cast<JobPriority>(7)), make_error_code(Errc::not_implemented));
  EXPECT_EQ(*job->display_name(), "many");
  EXPECT_EQ(*job->priority(), JobPriority::normal);
}

TEST_F(BadInput, UnknownJobs) {
  EXPECT_EQ(queue_->get_job("{00000000-0000-0000-0000-000000000000}").error(), make_error_code(Errc::not_found));
  EXPECT_EQ(queue_->get_job("not a guid").error(), make_error_code(Errc::not_found));
  Job empty;
  EXPECT_EQ(empty.cancel(), make_error_code(Errc::not_found));
  EXPECT_EQ(empty.state().error(), make_error_code(Errc::not_found));
  auto job = queue_->create_job("case");
  std::string lower = job->id().substr(1, 36);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(queue_->get_job(lower).ok());  // braces and case optional
}

TEST_F(BadInput, MinimumRetryDelayFloor) {
  QueueOptions no_worker;
  no_worker.start_worker = false;
  auto q = open_queue(dir_ / "floor.db", no_worker);
  auto job = q->create_job("floor");
  ASSERT_FALSE(job->set_minimum_retry_delay(std::chrono::seconds(1)));
  EXPECT_EQ(*job->minimum_retry_delay(), std::chrono::seconds(5));  // BITS raises < 5 s to 5 s
}

TEST(BadDatabase, NotADatabaseIsRefusedAndUntouched) {
  ScratchDir dir;
  const std::string path = dir / "notes.txt";
  const std::string text(5000, 'x');
  write_file(path, text);
  auto q = Queue::open(path, test_options(false));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error(), make_error_code(Errc::database_corrupt));
  EXPECT_EQ(read_file(path), text);
}

TEST(BadDatabase, SomeoneElsesDatabaseIsRefusedAndUntouched) {
  ScratchDir dir;
  const std::string path = dir / "other.db";
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
  }
  const std::string before = read_file(path);
  auto q = Queue::open(path, test_options(false));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error(), make_error_code(Errc::database_corrupt));
  EXPECT_EQ(read_file(path), before);
}

TEST(BadDatabase, NewerSchemaIsRefused) {
  ScratchDir dir;
  const std::string path = dir / "q.db";
  { open_queue(path, test_options(false)); }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = 999");
  }
  auto q = Queue::open(path, test_options(false));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error(), make_error_code(Errc::schema_too_new));
  EXPECT_EQ(hresult_name(to_hresult(q.error())), "XFERQ_E_SCHEMA_TOO_NEW");
}

TEST(BadDatabase, DamagedQueueGivesCorruptErrorsNotCrashes) {
  ScratchDir dir;
  const std::string path = dir / "q.db";
  std::string id;
  {
    auto q = open_queue(path, test_options(false));
    for (int i = 0; i < 300; ++i) {
      auto j = q->create_job("job " + std::to_string(i) + std::string(200, 'x'));
      ASSERT_FALSE(j->add_file("http://127.0.0.1:1/f", dir / ("f" + std::to_string(i))));
      id = j->id();
    }
  }
  {
    // Fold the WAL into the file, then overwrite everything after the first page.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::string bytes = read_file(path);
  ASSERT_GT(bytes.size(), 16384u);
  for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919) & 0xFF);
  write_file(path, bytes);
  auto q = Queue::open(path, test_options(true));  // with a worker: it must not crash either
  if (!q.ok()) {
    EXPECT_EQ(q.error(), make_error_code(Errc::database_corrupt));
    return;
  }
  auto jobs = (*q)->jobs(true);
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.error(), make_error_code(Errc::database_corrupt));
  EXPECT_EQ(hresult_name(to_hresult(jobs.error())), "XFERQ_E_DATABASE_CORRUPT");
  auto job = (*q)->get_job(id);
  EXPECT_FALSE(job.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the worker meet the damage
}

// A worker that meets a damaged queue stops and says why (it used to spin,
// claiming in a loop with a zero timeout, and report nothing).
TEST(BadDatabase, WorkerStopsOnADamagedQueueAndReportsIt) {
  ScratchDir dir;
  const std::string path = dir / "q.db";
  make_damaged_queue(path, dir.path());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::error_code> stopped;
  auto q = Queue::open(path, test_options(false));
  ASSERT_TRUE(q.ok()) << "the damage must leave the queue openable: " << q.error().message();
  JobCallbacks cb;
  cb.worker_stopped = [&](std::error_code ec) {
    std::lock_guard<std::mutex> lock(mu);
    stopped.push_back(ec);
    cv.notify_all();
  };
  (*q)->set_callbacks(cb);
  EXPECT_FALSE((*q)->worker_error());
  (*q)->start_worker();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !stopped.empty(); }))
        << "the worker never reported the damage";
    ASSERT_EQ(stopped.size(), 1u);
    EXPECT_EQ(stopped[0], make_error_code(Errc::database_corrupt)) << stopped[0].message();
  }
  EXPECT_EQ((*q)->worker_error(), make_error_code(Errc::database_corrupt));
  (*q)->stop_worker();
  EXPECT_FALSE((*q)->worker_error()) << "stop_worker() forgets the failure";
}

// A local path naming something that is not a regular file is refused: it
// would be replaced by the download at Complete.
TEST(BadArguments, LocalPathThatIsNotARegularFileIsRefused) {
  ScratchDir dir;
  auto q = open_queue(dir / "q.db", test_options(false));
  auto job = q->create_job("odd targets");
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(job->add_file("http://127.0.0.1:1/f", fifo), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->add_file("http://127.0.0.1:1/f", "/dev/null"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->add_file("http://127.0.0.1:1/f", dir.path()), make_error_code(Errc::invalid_arg));
  const std::string link = dir / "to-fifo";
  ASSERT_EQ(::symlink(fifo.c_str(), link.c_str()), 0);
  EXPECT_EQ(job->add_file("http://127.0.0.1:1/f", link), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->files()->size(), 0u);
  { std::ofstream(dir / "plain") << "old"; }
  EXPECT_FALSE(job->add_file("http://127.0.0.1:1/f", dir / "plain")) << "a regular file may be replaced";
}

// Found by fuzzing the queue file: a state or a time no xferq writes reaches
// neither the state machine's table nor the clock arithmetic.
TEST(BadDatabase, OutOfRangeStateAndTimesAreReportedAsDamage) {
  ScratchDir dir;
  const std::string path = dir / "q.db";
  std::string id;
  {
    auto q = open_queue(path, test_options(false));
    auto j = q->create_job("tampered");
    ASSERT_FALSE(j->add_file("http://127.0.0.1:1/f", dir / "f"));
    id = j->id();
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA ignore_check_constraints = ON");  // as a damaged page would
    db.exec("UPDATE jobs SET state = 99, created_us = 9223372036854775807, modified_us = -9223372036854775807");
  }
  auto q = open_queue(path, test_options(false));
  auto job = q->get_job(id);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error(), make_error_code(Errc::database_corrupt));
  auto infos = q->job_infos(true);
  ASSERT_FALSE(infos.ok());
  EXPECT_EQ(infos.error(), make_error_code(Errc::database_corrupt));
  auto handles = q->jobs(true);
  ASSERT_TRUE(handles.ok());
  ASSERT_EQ(handles->size(), 1u);
  EXPECT_EQ((*handles)[0].resume(), make_error_code(Errc::database_corrupt));
  EXPECT_EQ((*handles)[0].complete(), make_error_code(Errc::database_corrupt));
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE jobs SET state = 3");  // the times stay extreme
  }
  auto info = (*handles)[0].info();
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_GT(info->times.creation.time_since_epoch().count(), 0);
}

TEST(BadDatabase, DirectoryAsPathIsRefused) {
  ScratchDir dir;
  auto q = Queue::open(dir.path(), test_options(false));
  ASSERT_FALSE(q.ok());
}

TEST(BadDatabase, ReopenKeepsJobs) {
  ScratchDir dir;
  std::string id;
  {
    auto q = open_queue(dir / "q.db", test_options(false));
    auto j = q->create_job("persist");
    ASSERT_FALSE(j->set_description("kept across opens"));
    id = j->id();
  }
  auto q = open_queue(dir / "q.db", test_options(false));
  auto j = q->get_job(id);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(*j->description(), "kept across opens");
}

}  // namespace
}  // namespace xferq::testing
