// http_options_test.cc — a job's download limits (maximum download size and
// time), what the last response said (FileInfo's status and headers, the
// file_responses view), remote names (set_remote_name, replace_remote_prefix)
// and TLS options, against a real SQLite file and the fixture server.
#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>

#include <cstdlib>

#include "test_util.h"

namespace xferq::testing {
namespace {

using std::chrono::seconds;

uint32_t hr(Errc e) { return static_cast<uint32_t>(e); }

int64_t size_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

class HttpOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_ / "queue.db";
    open();
  }
  void open(QueueOptions o = test_options(true)) {
    queue_.reset();
    queue_ = open_queue(db_, o);
    ASSERT_TRUE(queue_);
  }
  // A download job of `files` (fixture path, local name), SUSPENDED.
  Job download(const std::vector<std::pair<std::string, std::string>>& files) {
    auto job = queue_->create_job("http options");
    EXPECT_TRUE(job.ok());
    for (const auto& [path, name] : files) EXPECT_FALSE(job->add_file(server_.url(path), dir_ / name));
    return *job;
  }
  std::vector<std::string> urls(const Job& job) {
    std::vector<std::string> out;
    auto files = job.files();
    EXPECT_TRUE(files.ok());
    if (files.ok())
      for (const auto& f : *files) out.push_back(f.remote_url);
    return out;
  }
  std::string temp_of(const Job& job, size_t idx) {
    auto files = job.files();
    return files.ok() && files->size() > idx ? (*files)[idx].temp_path : std::string();
  }
  // Waits until the job has committed at least `bytes`.
  bool wait_progress(const Job& job, int64_t bytes, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_for([&] {
      auto p = job.progress();
      return p.ok() && p->bytes_transferred >= bytes;
    }, timeout);
  }
  std::string error_text(const Job& job) {
    auto e = job.error();
    return e.ok() ? hresult_name(e->hresult) + " " + e->description : "no error: " + e.error().message();
  }

  ScratchDir dir_;
  FixtureServer server_;
  std::string db_;
  std::unique_ptr<Queue> queue_;
};

// ---- Maximum download size ---------------------------------------------------

TEST_F(HttpOptions, MaxDownloadSizeAnnouncedWritesNotOneByte) {
  const std::string body = make_body(1 << 20, 11);
  server_.set("/big", body_resource(body));
  Job job = download({{"/big", "big.bin"}});
  EXPECT_EQ(*job.max_download_size(), 0u) << "default: no limit";
  ASSERT_FALSE(job.set_max_download_size(100000));
  EXPECT_EQ(*job.max_download_size(), 100000u);
  EXPECT_EQ(job.info()->max_download_size, 100000u);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto e = job.error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->hresult, 0x80200064u) << e->description;
  EXPECT_EQ(e->hresult, hr(Errc::max_download_size_reached));
  EXPECT_EQ(e->context, ErrorContext::remote_file);
  ASSERT_TRUE(e->file_index.has_value());
  EXPECT_EQ(*e->file_index, 0u);
  EXPECT_EQ(job.progress()->bytes_transferred, 0);
  const std::string temp = temp_of(job, 0);
  ASSERT_FALSE(temp.empty()) << "no temp file recorded";
  EXPECT_LE(size_of(temp), 0) << "bytes written to " << temp;
  EXPECT_FALSE(exists(dir_ / "big.bin"));

  // (d) Raising the limit: the file arrives whole.
  ASSERT_FALSE(job.set_max_download_size(0));
  EXPECT_EQ(*job.max_download_size(), 0u);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job) << " " << error_text(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "big.bin"), body);

  // (e) Final job: refused, nothing changed.
  EXPECT_EQ(job.set_max_download_size(5), make_error_code(Errc::invalid_state));
  EXPECT_EQ(*job.max_download_size(), 0u);
}

TEST_F(HttpOptions, MaxDownloadSizeDeliveredWithoutAnnouncementStopsAtTheLimit) {
  const std::string body = make_body(1 << 20, 12);
  Resource r = body_resource(body);
  r.chunked = true;  // no Content-Length
  server_.set("/chunked", r);
  Job job = download({{"/chunked", "chunked.bin"}});
  ASSERT_FALSE(job.set_max_download_size(300000));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto e = job.error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->hresult, hr(Errc::max_download_size_reached)) << e->description;
  EXPECT_EQ(e->context, ErrorContext::remote_file);
  const std::string temp = temp_of(job, 0);
  ASSERT_FALSE(temp.empty());
  EXPECT_LE(size_of(temp), 300000);
  EXPECT_LE(job.progress()->bytes_transferred, 300000);
  // What was kept is the file's beginning.
  const std::string kept = read_file(temp);
  EXPECT_EQ(kept, body.substr(0, kept.size()));

  // (d) No limit: it resumes and completes byte-identical.
  ASSERT_FALSE(job.set_max_download_size(0));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job) << " " << error_text(job);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "chunked.bin"), body);
}

TEST_F(HttpOptions, MaxDownloadSizeIsForTheWholeJob) {
  const std::string a = make_body(60000, 21), b = make_body(60000, 22);
  server_.set("/a", body_resource(a));
  server_.set("/b", body_resource(b));
  Job job = download({{"/a", "a.bin"}, {"/b", "b.bin"}});
  ASSERT_FALSE(job.set_max_download_size(100000));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto e = job.error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->hresult, hr(Errc::max_download_size_reached)) << e->description;
  ASSERT_TRUE(e->file_index.has_value());
  EXPECT_EQ(*e->file_index, 1u);
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  EXPECT_TRUE((*files)[0].completed);
  EXPECT_EQ((*files)[0].bytes_transferred, 60000);
  EXPECT_FALSE((*files)[1].completed);
  ASSERT_FALSE((*files)[1].temp_path.empty());
  EXPECT_LE(size_of((*files)[1].temp_path), 0) << "the second file was announced too large";
  EXPECT_EQ(job.progress()->files_transferred, 1u);

  // (d) Raised, not removed: 120,000 fits now. The first file is not fetched again.
  const size_t a_requests = server_.requests_for("/a").size();
  ASSERT_FALSE(job.set_max_download_size(120000));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job) << " " << error_text(job);
  EXPECT_EQ(server_.requests_for("/a").size(), a_requests);
  CompleteStatus status = CompleteStatus::partial;
  ASSERT_FALSE(job.complete(&status));
  EXPECT_EQ(status, CompleteStatus::all_files);
  EXPECT_EQ(read_file(dir_ / "a.bin"), a);
  EXPECT_EQ(read_file(dir_ / "b.bin"), b);
}

TEST_F(HttpOptions, MaxDownloadSizeGetterAndFinalJob) {
  Job job = download({{"/x", "x.bin"}});
  for (uint64_t v : {uint64_t{1}, uint64_t{4096}, uint64_t{1} << 40, uint64_t{0}}) {
    ASSERT_FALSE(job.set_max_download_size(v));
    EXPECT_EQ(*job.max_download_size(), v);
  }
  ASSERT_FALSE(job.set_max_download_size(777));
  ASSERT_FALSE(job.cancel());
  EXPECT_EQ(job.set_max_download_size(1), make_error_code(Errc::invalid_state));
  EXPECT_EQ(*job.max_download_size(), 777u) << "getters work on final jobs, unchanged";
  EXPECT_EQ(job.set_maximum_download_time(seconds(5)), make_error_code(Errc::invalid_state));
}

// ---- Maximum download time ---------------------------------------------------

TEST_F(HttpOptions, MaximumDownloadTimeEndsTheJobAndResumeRestartsTheCount) {
  const std::string body = make_body(20 * 1000 * 1000, 31);
  server_.set("/slow", body_resource(body, 200 * 1000));
  Job job = download({{"/slow", "slow.bin"}});
  EXPECT_EQ(*job.maximum_download_time(), seconds(7776000));
  EXPECT_EQ(job.set_maximum_download_time(seconds(-1)), make_error_code(Errc::invalid_arg));
  ASSERT_FALSE(job.set_maximum_download_time(seconds(2)));
  EXPECT_EQ(*job.maximum_download_time(), seconds(2));
  EXPECT_EQ(job.info()->download_time_used, seconds(0));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error, std::chrono::seconds(15))) << state_name(job);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(1500)) << "ended before its time";
  auto info = job.info();
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info->error.has_value());
  EXPECT_EQ(info->error->hresult, 0x80200054u) << info->error->description;
  EXPECT_EQ(info->error->hresult, hr(Errc::max_download_timeout));
  EXPECT_GT(info->progress.bytes_transferred, 0) << "what arrived is kept";
  EXPECT_LT(info->progress.bytes_transferred, static_cast<int64_t>(body.size()));
  EXPECT_GE(info->download_time_used, seconds(1));
  EXPECT_LE(info->download_time_used, seconds(10));
  const int64_t kept = info->progress.bytes_transferred;
  EXPECT_GE(size_of(temp_of(job, 0)), kept);

  // Resume starts the count again; 0 means the default (90 days).
  server_.set("/slow", body_resource(body));  // same bytes and ETag, unthrottled
  const size_t before = server_.requests_for("/slow").size();
  ASSERT_FALSE(job.set_maximum_download_time(seconds(0)));
  EXPECT_EQ(*job.maximum_download_time(), seconds(7776000));
  ASSERT_FALSE(job.resume());
  EXPECT_EQ(job.info()->download_time_used, seconds(0)) << "resume() restarts the count";
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::seconds(60))) << state_name(job) << " "
                                                                                   << error_text(job);
  auto reqs = server_.requests_for("/slow");
  ASSERT_GT(reqs.size(), before);
  EXPECT_EQ(reqs[before].range, "bytes=" + std::to_string(kept) + "-") << "resumed with Range";
  EXPECT_EQ(reqs[before].if_range, "\"v1\"");
  EXPECT_EQ(reqs[before].status, 206);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "slow.bin"), content_hash(body));
}

// Only CONNECTING and TRANSFERRING count: 3 s waiting in TRANSIENT_ERROR
// for a retry do not use up a 2 s limit.
TEST_F(HttpOptions, MaximumDownloadTimeDoesNotCountTimeWaitingForARetry) {
  Resource busy;
  busy.status = 503;
  server_.set("/flaky", busy);
  Job job = download({{"/flaky", "flaky.bin"}});
  ASSERT_FALSE(job.set_maximum_download_time(seconds(2)));
  ASSERT_FALSE(job.set_minimum_retry_delay(seconds(3)));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, kHttpErrorBase + 503);
  const std::string body = make_body(5000, 32);
  server_.set("/flaky", body_resource(body));
  ASSERT_TRUE(wait_for([&] {
    auto s = job.state();
    return s.ok() && (*s == JobState::transferred || *s == JobState::error);
  }, std::chrono::seconds(20))) << state_name(job);
  ASSERT_EQ(*job.state(), JobState::transferred) << error_text(job);
  EXPECT_LT(job.info()->download_time_used, seconds(2));
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(dir_ / "flaky.bin"), body);
}

// ---- What the response said --------------------------------------------------

TEST_F(HttpOptions, ResponseMetadataIsRecorded) {
  const std::string body = make_body(10000, 41);
  Resource r = body_resource(body);
  r.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  r.extra_headers = {{"Content-Type", "text/plain; charset=utf-8"},
                     {"Content-Disposition", "attachment; filename=\"r.txt\""}};
  server_.set("/r", r);
  Job job = download({{"/r", "r.txt"}, {"/missing", "m.bin"}});
  auto before = job.files();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ((*before)[0].http_status, 0);
  EXPECT_EQ((*before)[0].content_type, "");
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, kHttpErrorBase + 404);
  auto files = job.files();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 2u);
  const FileInfo& f = (*files)[0];
  EXPECT_TRUE(f.completed);
  EXPECT_EQ(f.http_status, 200);
  EXPECT_EQ(f.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(f.content_disposition, "attachment; filename=\"r.txt\"");
  EXPECT_EQ(f.etag, "\"v1\"");
  EXPECT_EQ(f.last_modified, "Wed, 21 Oct 2015 07:28:00 GMT");
  EXPECT_EQ(f.final_url, "") << "not under ALLOW_REPORT";
  EXPECT_EQ((*files)[1].http_status, 404) << "recorded after the error";
  EXPECT_FALSE((*files)[1].completed);

  // The operators' view shows the same, per file.
  SQLite::Database db(db_, SQLite::OPEN_READONLY);
  SQLite::Statement s(db,
                      "SELECT idx, http_status, coalesce(etag, ''), coalesce(content_type, ''), "
                      "coalesce(content_disposition, ''), coalesce(final_url, ''), local_path "
                      "FROM file_responses WHERE job_id = ? ORDER BY idx");
  s.bind(1, job.id());
  ASSERT_TRUE(s.executeStep()) << "no file_responses row for " << job.id();
  EXPECT_EQ(s.getColumn(0).getInt(), 0);
  EXPECT_EQ(s.getColumn(1).getInt(), 200);
  EXPECT_EQ(s.getColumn(2).getString(), "\"v1\"");
  EXPECT_EQ(s.getColumn(3).getString(), "text/plain; charset=utf-8");
  EXPECT_EQ(s.getColumn(4).getString(), "attachment; filename=\"r.txt\"");
  EXPECT_EQ(s.getColumn(6).getString(), dir_ / "r.txt");
  ASSERT_TRUE(s.executeStep());
  EXPECT_EQ(s.getColumn(0).getInt(), 1);
  EXPECT_EQ(s.getColumn(1).getInt(), 404);
  EXPECT_FALSE(s.executeStep());
}

TEST_F(HttpOptions, ControlCharactersInResponseHeadersAreShownAsQuestionMarks) {
  Resource r = body_resource(make_body(2000, 42));
  r.extra_headers = {{"Content-Type", "text/plain\x1b[31m"},
                     {"Content-Disposition", "attachment; filename=\"\x1b]0;evil\x07.txt\""}};
  server_.set("/ctl", r);
  Job job = download({{"/ctl", "ctl.bin"}});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job) << " " << error_text(job);
  auto f = (*job.files())[0];
  EXPECT_EQ(f.content_type, "text/plain?[31m");
  EXPECT_EQ(f.content_disposition, "attachment; filename=\"?]0;evil?.txt\"");
}

// What a server sends must not reach a terminal or a strict UTF-8 reader
// through FileInfo: C1 controls (U+0080..U+009F, e.g. CSI, which the name
// checks refuse too) are control characters, and a Latin-1 byte or a cut in
// the middle of a character must not leave invalid UTF-8 behind.
TEST_F(HttpOptions, ResponseHeadersAreShownAsSafeUtf8) {
  Resource r = body_resource(make_body(2000, 44));
  r.extra_headers = {{"Content-Type", "text/plain\xc2\x9b" "31m"},
                     {"Content-Disposition", "attachment; filename=\"caf\xe9.txt\""}};
  server_.set("/c1", r);
  Resource l = body_resource(make_body(2000, 45));
  l.extra_headers = {{"Content-Disposition", std::string(1023, 'b') + "\xc3\xa9"}};  // é straddles byte 1024
  server_.set("/long", l);
  Job job = download({{"/c1", "c1.bin"}, {"/long", "long.bin"}});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job) << " " << error_text(job);
  auto files = *job.files();
  auto is_utf8 = [](const std::string& s) {
    for (size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (n == 0 || i + n > s.size()) return false;
      for (size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
      i += n;
    }
    return true;
  };
  auto has_c1 = [](const std::string& s) {
    for (size_t i = 0; i + 1 < s.size(); ++i)
      if (static_cast<unsigned char>(s[i]) == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) return true;
    return false;
  };
  EXPECT_FALSE(has_c1(files[0].content_type)) << "C1 CSI kept: " << files[0].content_type;
  EXPECT_EQ(files[0].content_type.rfind("text/plain", 0), 0u) << files[0].content_type;
  EXPECT_TRUE(is_utf8(files[0].content_disposition)) << "a Latin-1 byte kept as is";
  EXPECT_EQ(files[0].content_disposition.rfind("attachment; filename=\"caf", 0), 0u) << files[0].content_disposition;
  EXPECT_LE(files[1].content_disposition.size(), 1024u);
  EXPECT_GE(files[1].content_disposition.size(), 1023u);
  EXPECT_TRUE(is_utf8(files[1].content_disposition)) << "cut inside a character";
}

TEST_F(HttpOptions, FinalUrlOnlyUnderAllowReport) {
  const std::string body = make_body(3000, 43);
  server_.set("/target", body_resource(body));
  Resource moved;
  moved.status = 302;
  moved.location = server_.url("/target");
  server_.set("/moved", moved);
  Job report = download({{"/moved", "report.bin"}});
  ASSERT_FALSE(report.set_security_flags(kRedirectPolicyAllowReport));
  Job silent = download({{"/moved", "silent.bin"}});
  ASSERT_FALSE(report.resume());
  ASSERT_FALSE(silent.resume());
  ASSERT_TRUE(wait_state(report, JobState::transferred)) << state_name(report) << " " << error_text(report);
  ASSERT_TRUE(wait_state(silent, JobState::transferred)) << state_name(silent) << " " << error_text(silent);
  auto rf = (*report.files())[0];
  EXPECT_EQ(rf.final_url, server_.url("/target"));
  EXPECT_EQ(rf.remote_url, server_.url("/moved")) << "the job's URL is unchanged";
  EXPECT_EQ(rf.http_status, 200) << "the status of the last response";
  auto sf = (*silent.files())[0];
  EXPECT_EQ(sf.final_url, "");
  EXPECT_EQ(sf.http_status, 200);
  SQLite::Database db(db_, SQLite::OPEN_READONLY);
  SQLite::Statement s(db, "SELECT coalesce(final_url, '') FROM file_responses WHERE job_id = ?");
  s.bind(1, report.id());
  ASSERT_TRUE(s.executeStep());
  EXPECT_EQ(s.getColumn(0).getString(), server_.url("/target"));
  ASSERT_FALSE(report.complete());
  EXPECT_EQ(read_file(dir_ / "report.bin"), body);
}

// ---- Remote names ------------------------------------------------------------

TEST_F(HttpOptions, RemoteNamesBadInputChangesNothing) {
  auto up = queue_->create_job("upload", JobType::upload);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->set_remote_name(0, server_.url("/u")), make_error_code(Errc::not_implemented));
  EXPECT_EQ(up->replace_remote_prefix(server_.url("/"), server_.url("/v/")), make_error_code(Errc::not_implemented));
  auto reply = queue_->create_job("upload reply", JobType::upload_reply);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->set_remote_name(0, server_.url("/u")), make_error_code(Errc::not_implemented));

  Job job = download({{"/a/x", "x.bin"}, {"/a/y", "y.bin"}, {"/b/z", "z.bin"}});
  const auto original = urls(job);
  ASSERT_EQ(original.size(), 3u);
  const auto modified = job.times()->modification;
  std::this_thread::sleep_for(std::chrono::milliseconds(5));

  EXPECT_EQ(job.set_remote_name(3, server_.url("/c")), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job.set_remote_name(UINT32_MAX, server_.url("/c")), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job.set_remote_name(0, "ftp://127.0.0.1/x"), make_error_code(Errc::unsupported_scheme));
  EXPECT_EQ(job.set_remote_name(0, "not a url"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job.set_remote_name(0, ""), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job.set_remote_name(0, "http://" + std::string(2200, 'h') + "/x"), make_error_code(Errc::string_too_long));
  EXPECT_EQ(job.replace_remote_prefix("", server_.url("/c/")), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(urls(job), original);
  EXPECT_EQ(job.times()->modification, modified) << "a refused call changed the job";

  // A prefix none matches: success, nothing changes.
  EXPECT_FALSE(job.replace_remote_prefix(server_.url("/nothing/"), server_.url("/c/")));
  EXPECT_EQ(urls(job), original);
  // Case-sensitive.
  EXPECT_FALSE(job.replace_remote_prefix(server_.url("/A/"), server_.url("/c/")));
  EXPECT_EQ(urls(job), original);

  // Final job.
  ASSERT_FALSE(job.cancel());
  EXPECT_EQ(job.set_remote_name(0, server_.url("/c")), make_error_code(Errc::invalid_state));
  EXPECT_EQ(job.replace_remote_prefix(server_.url("/a/"), server_.url("/c/")), make_error_code(Errc::invalid_state));
  EXPECT_EQ(urls(job), original);
}

TEST_F(HttpOptions, ReplaceRemotePrefixIsAllOrNone) {
  Job job = download({{"/a/x", "x.bin"}, {"/a/y", "y.bin"}, {"/b/z", "z.bin"}});
  ASSERT_FALSE(job.set_remote_name(1, server_.url("/a/y2")));
  EXPECT_EQ(urls(job)[1], server_.url("/a/y2"));
  ASSERT_FALSE(job.replace_remote_prefix(server_.url("/a/"), server_.url("/mirror/a/")));
  EXPECT_EQ(urls(job), (std::vector<std::string>{server_.url("/mirror/a/x"), server_.url("/mirror/a/y2"),
                                                 server_.url("/b/z")}));
  // A new prefix that makes one URL invalid (too long) and another fine:
  // neither changes.
  // The valid one comes first: a change made before the bad URL is met must
  // not stay.
  Job two = download({{"/p/short", "short.bin"}, {"/p/" + std::string(1500, 'l'), "long.bin"}, {"/q/z", "q.bin"}});
  const auto original = urls(two);
  EXPECT_EQ(two.replace_remote_prefix(server_.url("/p/"), server_.url("/p/" + std::string(1000, 'n') + "/")),
            make_error_code(Errc::string_too_long));
  EXPECT_EQ(urls(two), original);
  // Or an unsupported scheme / a URL without a host, for the matching ones.
  EXPECT_EQ(two.replace_remote_prefix("http://", "ftp://"), make_error_code(Errc::unsupported_scheme));
  EXPECT_EQ(two.replace_remote_prefix(server_.url("/p/short"), "http://"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(urls(two), original);
  // A valid replacement for every file: all change.
  EXPECT_FALSE(two.replace_remote_prefix("http://", "https://"));
  for (const auto& u : urls(two)) EXPECT_EQ(u.rfind("https://", 0), 0u) << u;

  // Credentials in a new name are used but never shown.
  const std::string port = std::to_string(server_.port());
  ASSERT_FALSE(job.set_remote_name(2, "http://alice:s3cr3t@127.0.0.1:" + port + "/b/z"));
  EXPECT_EQ(urls(job)[2].find("s3cr3t"), std::string::npos) << urls(job)[2];
  ASSERT_FALSE(job.replace_remote_prefix(server_.url("/mirror/"), "http://bob:hunter2@127.0.0.1:" + port + "/m/"));
  for (const auto& u : urls(job)) EXPECT_EQ(u.find("hunter2"), std::string::npos) << u;
}

// The bytes fetched from the old name are kept: the new name is asked for
// the rest (Range + If-Range), and the file is whole.
TEST_F(HttpOptions, SetRemoteNameResumesWithRangeFromTheNewUrl) {
  const std::string body = make_body(4 * 1000 * 1000, 51);
  server_.set("/orig", body_resource(body, 1000 * 1000));
  Job job = download({{"/orig", "moved.bin"}});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_progress(job, 300000)) << state_name(job);
  ASSERT_FALSE(job.suspend());
  ASSERT_TRUE(wait_state(job, JobState::suspended));
  const int64_t kept = job.progress()->bytes_transferred;
  ASSERT_GT(kept, 0);
  ASSERT_LT(kept, static_cast<int64_t>(body.size())) << "finished before the suspend; slow the fixture down";
  server_.set("/mirror", body_resource(body));  // same bytes, same ETag
  ASSERT_FALSE(job.set_remote_name(0, server_.url("/mirror")));
  EXPECT_EQ(urls(job)[0], server_.url("/mirror"));
  EXPECT_EQ(job.progress()->bytes_transferred, kept) << "the bytes are kept";
  const size_t orig_requests = server_.requests_for("/orig").size();
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::seconds(30))) << state_name(job) << " "
                                                                                   << error_text(job);
  EXPECT_EQ(server_.requests_for("/orig").size(), orig_requests) << "the old name was asked again";
  auto reqs = server_.requests_for("/mirror");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(reqs[0].if_range, "\"v1\"");
  EXPECT_EQ(reqs[0].status, 206);
  EXPECT_EQ(reqs[0].body_bytes_sent, static_cast<long long>(body.size()) - kept);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(file_content_hash(dir_ / "moved.bin"), content_hash(body));
}

// A new name serving other bytes (another ETag) answers the whole file to
// the If-Range request: the download starts over, no splice.
TEST_F(HttpOptions, SetRemoteNameToOtherBytesStartsOver) {
  const std::string old_body = make_body(4 * 1000 * 1000, 52), new_body = make_body(3 * 1000 * 1000 + 7, 53);
  Resource old_r = body_resource(old_body, 1000 * 1000);
  old_r.etag = "\"old\"";
  server_.set("/old", old_r);
  Job job = download({{"/old", "other.bin"}});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_progress(job, 300000)) << state_name(job);
  ASSERT_FALSE(job.suspend());
  ASSERT_TRUE(wait_state(job, JobState::suspended));
  const int64_t kept = job.progress()->bytes_transferred;
  ASSERT_GT(kept, 0);
  ASSERT_LT(kept, static_cast<int64_t>(old_body.size()));
  Resource new_r = body_resource(new_body);
  new_r.etag = "\"new\"";
  server_.set("/new", new_r);
  ASSERT_FALSE(job.set_remote_name(0, server_.url("/new")));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred, std::chrono::seconds(30))) << state_name(job) << " "
                                                                                   << error_text(job);
  auto reqs = server_.requests_for("/new");
  ASSERT_GE(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(reqs[0].if_range, "\"old\"");
  EXPECT_EQ(reqs[0].status, 200) << "If-Range did not match: the whole file";
  auto f = (*job.files())[0];
  EXPECT_EQ(f.etag, "\"new\"");
  EXPECT_EQ(f.bytes_total, static_cast<int64_t>(new_body.size()));
  ASSERT_FALSE(job.complete());
  const std::string got = read_file(dir_ / "other.bin");
  EXPECT_EQ(got.size(), new_body.size());
  EXPECT_TRUE(got == new_body) << "spliced: the file is not the new bytes";
}

// Without validators (no ETag, no Last-Modified) there is no If-Range to
// send; a new name serving a file of another size must still not get its
// tail spliced onto the old bytes: the size in Content-Range differs from
// the one the kept bytes came from.
TEST_F(HttpOptions, SetRemoteNameWithoutValidatorsNeverSplicesAnotherSize) {
  const std::string old_body = make_body(4 * 1000 * 1000, 54), new_body = make_body(3 * 1000 * 1000 + 11, 55);
  Resource old_r = body_resource(old_body, 1000 * 1000);
  old_r.etag.clear();
  server_.set("/plain-old", old_r);
  Job job = download({{"/plain-old", "plain.bin"}});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_progress(job, 300000)) << state_name(job);
  ASSERT_FALSE(job.suspend());
  ASSERT_TRUE(wait_state(job, JobState::suspended));
  const int64_t kept = job.progress()->bytes_transferred;
  ASSERT_GT(kept, 0);
  ASSERT_EQ((*job.files())[0].bytes_total, static_cast<int64_t>(old_body.size()));
  Resource new_r = body_resource(new_body);
  new_r.etag.clear();
  server_.set("/plain-new", new_r);
  ASSERT_FALSE(job.set_remote_name(0, server_.url("/plain-new")));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] {
    auto s = job.state();
    return s.ok() && (*s == JobState::transferred || *s == JobState::error || *s == JobState::transient_error);
  }, std::chrono::seconds(30))) << state_name(job);
  if (*job.state() != JobState::transferred) return;  // refusing is fine too; splicing is not
  ASSERT_FALSE(job.complete());
  const std::string got = read_file(dir_ / "plain.bin");
  EXPECT_TRUE(got == new_body) << "spliced: " << got.size() << " bytes, the first " << kept
                               << " from the old file (new file: " << new_body.size() << " bytes)";
}

// ---- TLS options -------------------------------------------------------------

class HttpOptionsTls : public HttpOptions {
 protected:
  void SetUp() override {
    HttpOptions::SetUp();
    if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "no openssl CLI";
    cert_ = dir_ / "c.pem";
    key_ = dir_ / "k.pem";
    ASSERT_TRUE(run("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key_ + " -out " + cert_ +
                    " -days 1 -subj /CN=t"));
    ekey_ = dir_ / "ek.pem";
    ecert_ = dir_ / "ec.pem";
    ASSERT_TRUE(run("openssl req -x509 -newkey rsa:2048 -passout pass:" + std::string(kPass) + " -keyout " + ekey_ +
                    " -out " + ecert_ + " -days 1 -subj /CN=e"));
    ASSERT_EQ(::mkdir((dir_ / "cas").c_str(), 0700), 0);
    write_file(dir_ / "notpem.txt", "just some text, not a certificate\n");
  }
  static bool same(const TlsOptions& a, const TlsOptions& b) {
    return a.ca_bundle == b.ca_bundle && a.ca_directory == b.ca_directory &&
           a.client_certificate == b.client_certificate && a.client_key == b.client_key &&
           a.client_key_password == b.client_key_password && a.has_client_key_password == b.has_client_key_password;
  }
  static constexpr const char* kPass = "Sw0rdf1sh-PASSPHRASE-q7";
  std::string cert_, key_, ecert_, ekey_;
};

TEST_F(HttpOptionsTls, BadInputIsRefusedAndChangesNothing) {
  Job job = download({{"/x", "x.bin"}});
  auto empty = job.tls_options();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(same(*empty, TlsOptions{}));

  TlsOptions good;
  good.ca_bundle = cert_;
  good.ca_directory = dir_ / "cas";
  good.client_certificate = cert_;
  good.client_key = key_;
  ASSERT_FALSE(job.set_tls_options(good));
  auto stored = job.tls_options();
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(same(*stored, good));
  EXPECT_FALSE(stored->has_client_key_password);

  auto refused = [&](TlsOptions t, Errc want, const char* what) {
    EXPECT_EQ(job.set_tls_options(t), make_error_code(want)) << what;
    auto now = job.tls_options();
    ASSERT_TRUE(now.ok());
    EXPECT_TRUE(same(*now, good)) << what << ": changed";
  };
  TlsOptions t = good;
  t.ca_bundle = "c.pem";
  refused(t, Errc::invalid_arg, "relative ca_bundle");
  t = good;
  t.client_certificate = "./c.pem";
  refused(t, Errc::invalid_arg, "relative client_certificate");
  t = good;
  t.ca_bundle = dir_ / "missing.pem";
  refused(t, Errc::file_not_found, "missing ca_bundle");
  EXPECT_EQ(static_cast<uint32_t>(job.set_tls_options(t).value()), 0x80070002u);
  t = good;
  t.client_key = dir_ / "missing-key.pem";
  refused(t, Errc::file_not_found, "missing client_key");
  t = good;
  t.ca_bundle = dir_ / "cas";
  refused(t, Errc::invalid_arg, "directory as ca_bundle");
  t = good;
  t.ca_bundle = dir_ / "notpem.txt";
  refused(t, Errc::invalid_arg, "non-PEM ca_bundle");
  t = good;
  t.client_certificate = key_;  // a key is not a certificate
  refused(t, Errc::invalid_arg, "key as certificate");
  t = good;
  t.client_key = cert_;  // a certificate is not a key
  refused(t, Errc::invalid_arg, "certificate as key");
  t = good;
  t.client_certificate = "";
  refused(t, Errc::invalid_arg, "client_key without client_certificate");
  t = good;
  t.client_certificate = "";
  t.client_key = "";
  t.client_key_password = "pw";
  refused(t, Errc::invalid_arg, "passphrase without a key");
  t = good;
  t.client_key_password = std::string("pass\0word", 9);
  refused(t, Errc::invalid_arg, "passphrase with NUL");
  t = good;
  t.client_key_password = "pass\nword";
  refused(t, Errc::invalid_arg, "passphrase with LF");
  t = good;
  t.ca_bundle = cert_ + std::string("\n");
  refused(t, Errc::invalid_arg, "path with LF");
  t = good;
  t.ca_directory = dir_ / "missing-dir";
  EXPECT_TRUE(job.set_tls_options(t)) << "a missing ca_directory was accepted";
  EXPECT_TRUE(same(*job.tls_options(), good));

  // A passphrase: stored, never read back.
  TlsOptions enc;
  enc.client_certificate = ecert_;
  enc.client_key = ekey_;
  enc.client_key_password = kPass;
  ASSERT_FALSE(job.set_tls_options(enc));
  auto back = job.tls_options();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->client_key_password, "");
  EXPECT_TRUE(back->has_client_key_password);
  EXPECT_EQ(back->client_certificate, ecert_);
  EXPECT_EQ(back->client_key, ekey_);
  EXPECT_EQ(back->ca_bundle, "");
  // Empty options clear them.
  ASSERT_FALSE(job.set_tls_options(TlsOptions{}));
  EXPECT_TRUE(same(*job.tls_options(), TlsOptions{}));
  // Key in the certificate's file: fine when that file holds both.
  const std::string both = dir_ / "both.pem";
  write_file(both, read_file(cert_) + read_file(key_));
  TlsOptions combined;
  combined.client_certificate = both;
  EXPECT_FALSE(job.set_tls_options(combined));
  combined.client_certificate = cert_;  // no key in it
  EXPECT_EQ(job.set_tls_options(combined), make_error_code(Errc::invalid_arg));
  // Final job.
  ASSERT_FALSE(job.cancel());
  EXPECT_EQ(job.set_tls_options(good), make_error_code(Errc::invalid_state));
}

TEST_F(HttpOptionsTls, PassphraseIsStoredButNeverShown) {
  Job job = download({{"/gone", "gone.bin"}});
  TlsOptions enc;
  enc.client_certificate = ecert_;
  enc.client_key = ekey_;
  enc.client_key_password = kPass;
  ASSERT_FALSE(job.set_tls_options(enc));
  ASSERT_FALSE(job.resume());  // a plain-http 404: an error text to look at
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto info = job.info();
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info->error.has_value());
  const std::string pass = kPass;
  EXPECT_EQ(info->error->description.find(pass), std::string::npos) << info->error->description;
  EXPECT_EQ(info->display_name.find(pass), std::string::npos);
  EXPECT_EQ(info->description.find(pass), std::string::npos);
  for (const auto& f : *job.files()) {
    for (const std::string* s : {&f.remote_url, &f.local_path, &f.temp_path, &f.final_url, &f.etag,
                                 &f.last_modified, &f.content_type, &f.content_disposition})
      EXPECT_EQ(s->find(pass), std::string::npos) << *s;
  }
  EXPECT_EQ(job.tls_options()->client_key_password, "");
  for (const auto& s : *job.custom_headers()) EXPECT_EQ(s.find(pass), std::string::npos);

  SQLite::Database db(db_, SQLite::OPEN_READONLY);
  {
    SQLite::Statement s(db, "SELECT tls_key_password FROM jobs WHERE id = ?");
    s.bind(1, job.id());
    ASSERT_TRUE(s.executeStep());
    EXPECT_EQ(s.getColumn(0).getString(), pass) << "stored for the worker";
  }
  std::vector<std::string> views;
  {
    SQLite::Statement s(db, "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name");
    while (s.executeStep()) views.push_back(s.getColumn(0).getString());
  }
  ASSERT_FALSE(views.empty());
  EXPECT_NE(std::find(views.begin(), views.end(), "file_responses"), views.end());
  for (const auto& v : views) {
    SQLite::Statement s(db, "SELECT * FROM \"" + v + "\"");
    int rows = 0;
    while (s.executeStep()) {
      ++rows;
      for (int c = 0; c < s.getColumnCount(); ++c) {
        if (s.getColumn(c).isNull()) continue;
        const std::string value = s.getColumn(c).getString();
        EXPECT_EQ(value.find(pass), std::string::npos) << "view " << v << " column " << s.getColumnName(c);
      }
    }
    SCOPED_TRACE(v + ": " + std::to_string(rows) + " rows");
  }
}

// ---- Survives reopening the queue ------------------------------------------

TEST_F(HttpOptionsTls, EverythingSurvivesReopen) {
  Job job = download({{"/a/x", "x.bin"}, {"/a/y", "y.bin"}, {"/b/z", "z.bin"}});
  const std::string id = job.id();
  ASSERT_FALSE(job.set_max_download_size(123456789));
  ASSERT_FALSE(job.set_maximum_download_time(seconds(4321)));
  TlsOptions tls;
  tls.ca_bundle = cert_;
  tls.ca_directory = dir_ / "cas";
  tls.client_certificate = ecert_;
  tls.client_key = ekey_;
  tls.client_key_password = kPass;
  ASSERT_FALSE(job.set_tls_options(tls));
  ASSERT_FALSE(job.set_remote_name(2, server_.url("/renamed/z")));
  ASSERT_FALSE(job.replace_remote_prefix(server_.url("/a/"), server_.url("/mirror/")));
  ASSERT_FALSE(job.set_security_flags(kRedirectPolicyAllowReport));
  const auto expected_urls =
      std::vector<std::string>{server_.url("/mirror/x"), server_.url("/mirror/y"), server_.url("/renamed/z")};
  EXPECT_EQ(urls(job), expected_urls);

  // A job that got an answer, for the recorded response.
  server_.set("/meta", body_resource(make_body(1000, 61)));
  Job done = download({{"/meta", "meta.bin"}});
  ASSERT_FALSE(done.resume());
  ASSERT_TRUE(wait_state(done, JobState::transferred)) << state_name(done);

  job = Job();
  done = Job();
  queue_.reset();
  open(test_options(false));

  auto again = queue_->get_job(id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->max_download_size(), 123456789u);
  EXPECT_EQ(*again->maximum_download_time(), seconds(4321));
  auto info = again->info();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->max_download_size, 123456789u);
  EXPECT_EQ(info->maximum_download_time, seconds(4321));
  EXPECT_EQ(*again->security_flags(), kRedirectPolicyAllowReport);
  auto t = again->tls_options();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ca_bundle, cert_);
  EXPECT_EQ(t->ca_directory, dir_ / "cas");
  EXPECT_EQ(t->client_certificate, ecert_);
  EXPECT_EQ(t->client_key, ekey_);
  EXPECT_EQ(t->client_key_password, "");
  EXPECT_TRUE(t->has_client_key_password);
  EXPECT_EQ(urls(*again), expected_urls);

  auto jobs = queue_->jobs();
  ASSERT_TRUE(jobs.ok());
  for (const Job& j : *jobs) {
    if (j.id() == id) continue;
    auto f = (*j.files())[0];
    EXPECT_EQ(f.http_status, 200);
    EXPECT_EQ(f.etag, "\"v1\"");
    EXPECT_EQ(f.content_type, "application/octet-stream");
  }
}

// A download-time count that survives a restart: the time a job used before
// the queue closed counts after it reopens (no resume() in between).
TEST_F(HttpOptions, DownloadTimeUsedSurvivesReopen) {
  const std::string body = make_body(20 * 1000 * 1000, 71);
  server_.set("/slow", body_resource(body, 200 * 1000));
  Job job = download({{"/slow", "slow.bin"}});
  ASSERT_FALSE(job.set_maximum_download_time(seconds(4)));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_progress(job, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_EQ(*job.state(), JobState::transferring) << error_text(job);
  const std::string id = job.id();
  job = Job();
  queue_.reset();  // the worker releases the job: QUEUED, its time so far recorded
  {
    open(test_options(false));
    auto j = queue_->get_job(id);
    ASSERT_TRUE(j.ok());
    auto info = j->info();
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->state, JobState::queued);
    EXPECT_GE(info->download_time_used, seconds(2)) << "time used before the close was not recorded";
    EXPECT_LT(info->download_time_used, seconds(4));
    EXPECT_EQ(info->maximum_download_time, seconds(4));
  }
  open(test_options(true));
  auto j = queue_->get_job(id);
  ASSERT_TRUE(j.ok());
  // About 1.5 s are left; the rest of the file would take ~95 s.
  ASSERT_TRUE(wait_state(*j, JobState::error, std::chrono::seconds(15))) << state_name(*j);
  EXPECT_EQ(j->error()->hresult, hr(Errc::max_download_timeout)) << error_text(*j);
  // Carried over, the count ends near the 4 s limit; started again from
  // zero, it would be past 6 s.
  EXPECT_LT(j->info()->download_time_used, seconds(6));
}

}  // namespace
}  // namespace xferq::testing
