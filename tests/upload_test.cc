// upload_test.cc — UPLOAD and UPLOAD_REPLY jobs against BitsUploadServer
// (the BITS upload protocol, [MC-BUP]) — issue #7.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "bits_upload_server.h"
#include "http_fixture.h"
#include "reply_targets.h"
#include "state_machine.h"
#include "child_process.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

constexpr int64_t kFragment = 64 * 1024;

QueueOptions upload_options() {
  QueueOptions o = test_options();
  o.upload_fragment_bytes = kFragment;
  o.cancel_session_retry_interval = std::chrono::milliseconds(50);
  return o;
}

// Rows of the pending_file_ops view: "op" names.
std::vector<std::string> pending_ops(const std::string& db) {
  SQLite::Database d(db, SQLite::OPEN_READONLY);
  SQLite::Statement s(d, "SELECT op FROM pending_file_ops ORDER BY id");
  std::vector<std::string> out;
  while (s.executeStep()) out.push_back(s.getColumn(0).getString());
  return out;
}

class UploadTest : public ::testing::Test {
 protected:
  std::string db() const { return dir / "queue.db"; }
  std::string make_source(const std::string& name, size_t n, uint32_t seed = 7) {
    const std::string path = dir / name;
    data = make_body(n, seed);
    write_file(path, data);
    return path;
  }
  Job new_job(Queue& q, JobType type, const std::string& remote, const std::string& local) {
    auto job = q.create_job("up", type);
    EXPECT_TRUE(job.ok()) << job.error().message();
    EXPECT_FALSE(job->add_file(server.url(remote), local));
    return *job;
  }
  ScratchDir dir;
  BitsUploadServer server;
  std::string data;
};

TEST_F(UploadTest, UploadCompletesByteIdentical) {
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("a.bin", 300 * 1000 + 17);
  Job job = new_job(*q, JobType::upload, "/up/a.bin", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  std::string got;
  ASSERT_TRUE(server.uploaded("/up/a.bin", &got));
  EXPECT_EQ(content_hash(got), content_hash(data));
  auto p = job.progress();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->bytes_transferred, static_cast<int64_t>(data.size()));
  EXPECT_EQ(p->bytes_total, static_cast<int64_t>(data.size()));
  EXPECT_EQ(p->files_transferred, 1u);
  const BitsCounters c = server.counters();
  EXPECT_EQ(c.create_sessions, 1);
  EXPECT_EQ(c.close_sessions, 1);
  EXPECT_EQ(c.fragment_bytes, static_cast<long long>(data.size()));
  EXPECT_EQ(c.fragments, static_cast<int>((data.size() + kFragment - 1) / kFragment));
  EXPECT_EQ(c.content_names, 1);  // on the first fragment only
  EXPECT_EQ(c.content_name, "a.bin");
  CompleteStatus status = CompleteStatus::partial;
  EXPECT_FALSE(job.complete(&status));
  EXPECT_EQ(status, CompleteStatus::all_files);
  EXPECT_EQ(state_name(job), "ACKNOWLEDGED");
  EXPECT_EQ(read_file(src), data);  // the source is never touched
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
}

TEST_F(UploadTest, RestartMidUploadResumesFromAcknowledgedOffset) {
  const std::string src = make_source("big.bin", 1024 * 1024 + 5);
  server.set_fragment_delay_ms(30);
  std::string id;
  {
    auto q = open_queue(db(), upload_options());
    Job job = new_job(*q, JobType::upload, "/up/big.bin", src);
    id = job.id();
    ASSERT_FALSE(job.resume());
    ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 5; }));
  }  // the queue closes mid-upload
  const BitsCounters before = server.counters();
  ASSERT_LT(before.fragment_bytes, static_cast<long long>(data.size()));
  {
    auto q = open_queue(db(), upload_options());
    auto job = q->get_job(id);
    ASSERT_TRUE(job.ok());
    auto p = job->progress();
    ASSERT_TRUE(p.ok());
    EXPECT_GE(p->bytes_transferred, 4 * kFragment);  // the acknowledged bytes were committed
    ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(*job);
    std::string got;
    ASSERT_TRUE(server.uploaded("/up/big.bin", &got));
    EXPECT_EQ(content_hash(got), content_hash(data));
    const BitsCounters c = server.counters();
    EXPECT_EQ(c.create_sessions, 1) << "a restart continues the same session";
    // No byte sent twice beyond the one fragment in flight at the restart.
    EXPECT_LE(c.fragment_bytes, static_cast<long long>(data.size()) + kFragment);
    EXPECT_FALSE(job->complete());
  }
}

TEST_F(UploadTest, CancelMidUploadDeletesServerPartial) {
  const std::string src = make_source("c.bin", 1024 * 1024);
  server.set_fragment_delay_ms(20);
  auto q = open_queue(db(), upload_options());
  Job job = new_job(*q, JobType::upload, "/up/c.bin", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 3; }));
  ASSERT_EQ(server.open_sessions(), 1u);
  ASSERT_FALSE(job.cancel());
  EXPECT_EQ(state_name(job), "CANCELLED");
  ASSERT_TRUE(wait_for([&] { return server.counters().cancel_sessions == 1 && server.open_sessions() == 0; }));
  EXPECT_FALSE(server.uploaded("/up/c.bin", nullptr));
  EXPECT_TRUE(wait_for([&] { return pending_ops(db()).empty(); }));
  EXPECT_EQ(read_file(src), data);
}

TEST_F(UploadTest, CancelWhileServerDownIsDeliveredWhenBack) {
  const std::string src = make_source("d.bin", 1024 * 1024);
  server.set_fragment_delay_ms(20);
  std::string id;
  {
    auto q = open_queue(db(), upload_options());
    Job job = new_job(*q, JobType::upload, "/up/d.bin", src);
    id = job.id();
    ASSERT_FALSE(job.resume());
    ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 2; }));
    server.set_down(true);
    ASSERT_FALSE(job.cancel());
    // The Cancel-Session waits in the outbox, retried, while nothing answers.
    ASSERT_TRUE(wait_for([&] {
      SQLite::Database d(db(), SQLite::OPEN_READONLY);
      SQLite::Statement s(d, "SELECT attempts FROM pending_file_ops WHERE op = 'cancel-session'");
      return s.executeStep() && s.getColumn(0).getInt() >= 2;
    }));
    EXPECT_EQ(server.open_sessions(), 1u);
  }  // closed while the server is down: the op survives in the file
  EXPECT_EQ(pending_ops(db()), std::vector<std::string>{"cancel-session"});
  server.set_down(false);
  {
    auto q = open_queue(db(), upload_options());  // the worker picks it up on start
    ASSERT_TRUE(wait_for([&] { return server.counters().cancel_sessions == 1; }));
    EXPECT_EQ(server.open_sessions(), 0u);
    EXPECT_TRUE(wait_for([&] { return pending_ops(db()).empty(); }));
    auto job = q->get_job(id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(state_name(*job), "CANCELLED");
  }
}

TEST_F(UploadTest, CancelSessionGivesUpWhenTheBudgetIsSpent) {
  QueueOptions o = upload_options();
  o.cancel_session_retry_budget = std::chrono::seconds(1);
  const std::string src = make_source("g.bin", 1024 * 1024);
  server.set_fragment_delay_ms(20);
  auto q = open_queue(db(), o);
  Job job = new_job(*q, JobType::upload, "/up/g.bin", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 2; }));
  server.set_down(true);
  ASSERT_FALSE(job.cancel());
  ASSERT_TRUE(wait_for([&] { return pending_ops(db()) == std::vector<std::string>{"cancel-session"}; }));
  // Retried for a second, then dropped from the outbox.
  ASSERT_TRUE(wait_for([&] { return pending_ops(db()).empty(); }, std::chrono::milliseconds(5000)));
  server.set_down(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(server.counters().cancel_sessions, 0);
  EXPECT_EQ(server.open_sessions(), 1u);  // the server expires it on its own
}

TEST_F(UploadTest, UploadReplyReturnsReply) {
  server.set_reply(true);
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("r.bin", 200 * 1000 + 3);
  Job job = new_job(*q, JobType::upload_reply, "/app/r", src);
  auto name = job.reply_file_name();
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, src + ".reply");  // the default
  const std::string reply_path = dir / "answer.txt";
  ASSERT_FALSE(job.set_reply_file_name(reply_path));
  EXPECT_EQ(*job.reply_file_name(), reply_path);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_EQ(server.counters().reply_gets, 1);
  EXPECT_EQ(server.counters().close_sessions, 1);
  EXPECT_FALSE(exists(reply_path)) << "the reply appears only at complete()";
  EXPECT_EQ(temp_files_in(dir.path()).size(), 1u);
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(reply_path), BitsUploadServer::reply_for(data));
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
  std::string got;
  ASSERT_TRUE(server.uploaded("/app/r", &got));
  EXPECT_EQ(got, data);
}

TEST_F(UploadTest, UploadReplyRetryAfterLastFragmentUsesTheStoredReplyUrl) {
  server.set_reply(true);
  server.fail({"Close-Session", 1, 503, "", "", false});
  const std::string src = make_source("r3.bin", 150 * 1000);
  std::string id;
  {
    auto q = open_queue(db(), upload_options());
    Job job = new_job(*q, JobType::upload_reply, "/app/r3", src);
    id = job.id();
    ASSERT_FALSE(job.set_minimum_retry_delay(std::chrono::seconds(600)));
    ASSERT_FALSE(job.resume());
    ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  }
  const int fragments = server.counters().fragments;
  auto q = open_queue(db(), upload_options());  // a restart, too
  auto job = q->get_job(id);
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred)) << state_name(*job);
  EXPECT_EQ(server.counters().fragments, fragments) << "nothing is sent again";
  EXPECT_EQ(server.counters().reply_gets, 2);
  ASSERT_FALSE(job->complete());
  EXPECT_EQ(read_file(src + ".reply"), BitsUploadServer::reply_for(data));
}

// The server names the reply's URL, so it gets a redirect's rules: the
// job's server credentials, and custom Authorization and Cookie headers, go
// only to the upload's own origin (another port is another origin).
TEST_F(UploadTest, AReplyOnAnotherOriginIsFetchedWithoutTheServersCredentials) {
  FixtureServer other;
  server.set_reply(true);
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("cred.bin", 3000);
  other.set("/elsewhere", body_resource(BitsUploadServer::reply_for(data)));
  server.set_reply_url(other.url("/elsewhere"));
  Job job = new_job(*q, JobType::upload_reply, "/app/cred", src);
  ASSERT_FALSE(job.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "secret"));
  ASSERT_FALSE(job.set_custom_headers({"Cookie: session=s3cret", "X-Trace: t1"}));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  const auto got = other.requests_for("/elsewhere");
  ASSERT_EQ(got.size(), 1u);
  bool trace = false;
  for (const auto& [name, value] : got[0].headers) {
    EXPECT_NE(strcasecmp(name.c_str(), "Authorization"), 0) << "credentials sent to another origin: " << value;
    EXPECT_NE(strcasecmp(name.c_str(), "Cookie"), 0) << "a cookie sent to another origin: " << value;
    trace = trace || strcasecmp(name.c_str(), "X-Trace") == 0;
  }
  EXPECT_TRUE(trace) << "other custom headers still go";
  ASSERT_FALSE(job.complete());
  EXPECT_EQ(read_file(src + ".reply"), BitsUploadServer::reply_for(data));

  // On the upload's own origin the reply gets them, as every packet did.
  server.set_reply_url("");
  Job same = new_job(*q, JobType::upload_reply, "/app/cred2", make_source("cred2.bin", 3000));
  ASSERT_FALSE(same.set_credentials(AuthTarget::server, AuthScheme::basic, "user", "secret"));
  ASSERT_FALSE(same.resume());
  ASSERT_TRUE(wait_state(same, JobState::transferred)) << state_name(same);
  EXPECT_EQ(server.counters().reply_authorization, "Basic dXNlcjpzZWNyZXQ=");  // user:secret
}

// A reply URL that is not http(s) is refused like such a redirect: the job
// fails at once (fatal), nothing is fetched, and a file: URL reads nothing.
TEST_F(UploadTest, AReplyUrlOfAnotherSchemeFailsTheJobWithoutFetchingIt) {
  server.set_reply(true);
  const std::string secret = dir / "local-secret.txt";
  write_file(secret, "not for the server\n");
  server.set_reply_url("file://" + secret);
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("scheme.bin", 2000);
  Job job = new_job(*q, JobType::upload_reply, "/app/scheme", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::unsupported_scheme));
  EXPECT_EQ(job.error()->context, ErrorContext::remote_application);
  EXPECT_EQ(job.error()->description.find("not for the server"), std::string::npos);
  EXPECT_EQ(server.counters().reply_gets, 0);
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
  // Resumed, it meets the same refusal: the URL was never stored.
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, static_cast<uint32_t>(Errc::unsupported_scheme));
  ASSERT_FALSE(job.cancel());
}

TEST_F(UploadTest, CancelUploadReplyDeletesReplyTemp) {
  // Cancelled after TRANSFERRED: the session is closed (no Cancel-Session is
  // owed), the reply's temp file is deleted.
  server.set_reply(true);
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("r2.bin", 1000);
  Job job = new_job(*q, JobType::upload_reply, "/app/r2", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  ASSERT_FALSE(job.cancel());
  EXPECT_TRUE(temp_files_in(dir.path()).empty());
  EXPECT_FALSE(exists(src + ".reply"));
  // Only the temp-file deletion was recorded (no Cancel-Session is owed),
  // and it is retired.
  EXPECT_TRUE(wait_for([&] { return pending_ops(db()).empty(); }));
  EXPECT_EQ(server.counters().cancel_sessions, 0);
}

TEST_F(UploadTest, FatalClientErrorIsErrorWithRemoteFileContext) {
  server.fail({"Create-Session", 1, 403, "0x80070005", "0x5", false});
  auto q = open_queue(db(), upload_options());
  Job job = new_job(*q, JobType::upload, "/up/e.bin", make_source("e.bin", 1000));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto e = job.error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->hresult, 0x80070005u);
  EXPECT_EQ(e->context, ErrorContext::remote_file);
  // Without BITS-Error-Code the HTTP status is the error.
  server.fail({"Fragment", 1, 404, "", "", false});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, 0x80190194u);
  EXPECT_EQ(job.error()->context, ErrorContext::remote_file);
  ASSERT_FALSE(job.resume());  // fixed: it goes through
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
}

TEST_F(UploadTest, ServerErrorsAreTransient) {
  server.fail({"Fragment", 1, 503, "", "", false});
  auto q = open_queue(db(), upload_options());
  Job job = new_job(*q, JobType::upload, "/up/t.bin", make_source("t.bin", 200 * 1000));
  ASSERT_FALSE(job.set_minimum_retry_delay(std::chrono::seconds(600)));
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, 0x801901F7u);  // BG_E_HTTP_ERROR_503
  EXPECT_EQ(job.error()->context, ErrorContext::remote_file);
  // The server application failed: REMOTE_APPLICATION, its own HRESULT.
  server.fail({"Fragment", 1, 500, "0x80004005", "0x7", false});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  EXPECT_EQ(job.error()->hresult, 0x80004005u);
  EXPECT_EQ(job.error()->context, ErrorContext::remote_application);
  // A dropped connection is transient too (libcurl itself retries once on a
  // reused connection that died, hence several drops).
  server.fail({"Fragment", 3, 0, "", "", true});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::transient_error)) << state_name(job);
  // Retry (what the retry delay would do) until the planned drops are used up.
  ASSERT_TRUE(wait_for([&] {
    if (state_name(job) == "TRANSIENT_ERROR") job.resume();
    return state_name(job) == "TRANSFERRED";
  })) << state_name(job);
  std::string got;
  ASSERT_TRUE(server.uploaded("/up/t.bin", &got));
  EXPECT_EQ(got, data);
  EXPECT_EQ(server.counters().create_sessions, 1);
}

TEST_F(UploadTest, SessionNotFoundStartsANewSession) {
  const std::string src = make_source("s.bin", 640 * 1024);
  server.set_fragment_delay_ms(20);
  auto q = open_queue(db(), upload_options());
  Job job = new_job(*q, JobType::upload, "/up/s.bin", src);
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 3; }));
  server.forget_sessions();  // the next fragment gets 500 + BG_E_SESSION_NOT_FOUND
  ASSERT_TRUE(wait_state(job, JobState::transferred)) << state_name(job);
  EXPECT_EQ(server.counters().create_sessions, 2);
  std::string got;
  ASSERT_TRUE(server.uploaded("/up/s.bin", &got));
  EXPECT_EQ(content_hash(got), content_hash(data));
}

TEST_F(UploadTest, OutOfSyncFragmentResumesFromServerRange) {
  // The server lost bytes it had acknowledged: after a restart the client's
  // next fragment is past the server's end; 416 + BITS-Received-Content-Range
  // brings them back in step.
  const std::string src = make_source("o.bin", 512 * 1024);
  server.set_fragment_delay_ms(20);
  std::string id;
  {
    auto q = open_queue(db(), upload_options());
    Job job = new_job(*q, JobType::upload, "/up/o.bin", src);
    id = job.id();
    ASSERT_FALSE(job.resume());
    ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 3; }));
    ASSERT_FALSE(job.suspend());
  }
  {
    SQLite::Database d(db(), SQLite::OPEN_READWRITE);
    d.exec("UPDATE files SET bytes_transferred = bytes_transferred + 65536");  // a client ahead of the server
  }
  auto q = open_queue(db(), upload_options());
  auto job = q->get_job(id);
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_state(*job, JobState::transferred)) << state_name(*job);
  std::string got;
  ASSERT_TRUE(server.uploaded("/up/o.bin", &got));
  EXPECT_EQ(content_hash(got), content_hash(data));
}

TEST_F(UploadTest, CompleteBeforeTransferredIsInvalidState) {
  auto q = open_queue(db(), upload_options());
  Job job = new_job(*q, JobType::upload, "/up/x.bin", make_source("x.bin", 10));
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(state_name(job), "SUSPENDED");
  server.fail({"Create-Session", 1, 403, "", "", false});
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error));
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
  EXPECT_EQ(state_name(job), "ERROR");
  // The table: uploads complete in TRANSFERRED only; downloads unchanged.
  const detail::FileFacts upload{1, 0, true}, download{1, 0, false};
  for (int s = 0; s <= 6; ++s) {
    const auto st = static_cast<JobState>(s);
    EXPECT_EQ(static_cast<bool>(detail::decide(st, detail::Call::complete, upload).error), st != JobState::transferred);
    EXPECT_FALSE(detail::decide(st, detail::Call::complete, download).error);
  }
}

TEST_F(UploadTest, OneFilePerUploadJobAndSourceChecks) {
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("f.bin", 10);
  auto job = q->create_job("u", JobType::upload);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->add_file(server.url("/u"), dir / "missing.bin"), make_error_code(Errc::file_not_found));
  EXPECT_EQ(job->add_file(server.url("/u"), dir.path()), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->add_file(server.url("/u"), "relative.bin"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(job->add_files({{server.url("/u"), src}, {server.url("/v"), src}}),
            make_error_code(Errc::too_many_files));
  ASSERT_FALSE(job->add_file(server.url("/u"), src));
  write_file(dir / "g.bin", "x");
  EXPECT_EQ(job->add_file(server.url("/v"), dir / "g.bin"), make_error_code(Errc::too_many_files));
  EXPECT_EQ(job->files()->size(), 1u);
  // Uploads only read their file: another upload job may send it too.
  auto again = q->create_job("again", JobType::upload);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->add_file(server.url("/w"), src));
  EXPECT_EQ(job->set_reply_file_name(dir / "r"), make_error_code(Errc::not_implemented));
  auto reply = q->create_job("r", JobType::upload_reply);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->set_reply_file_name("relative"), make_error_code(Errc::invalid_arg));
  EXPECT_EQ(reply->info()->type, JobType::upload_reply);
}

}  // namespace
}  // namespace xferq::testing

namespace xferq::testing {
namespace {

// A process serving the queue (`xferq run`) is killed with SIGKILL in the
// middle of an upload; a new one continues the same session from the offset
// the server acknowledged.
TEST(UploadKill, KilledMidUploadResumesFromTheAcknowledgedOffset) {
  ScratchDir dir;
  BitsUploadServer server;
  const std::string data = make_body(6 * 1024 * 1024 + 5, 21);
  const std::string src = dir / "kill.bin";
  write_file(src, data);
  const std::string db = dir / "queue.db";
  std::string id;
  {
    auto q = open_queue(db, test_options(false));
    auto job = q->create_job("killed upload", JobType::upload);
    ASSERT_TRUE(job.ok());
    ASSERT_FALSE(job->add_file(server.url("/up/kill.bin"), src));
    ASSERT_FALSE(job->resume());
    id = job->id();
  }
  server.set_fragment_delay_ms(60);  // 1 MiB fragments (the default), slowly acknowledged
  const pid_t child = spawn(XFERQ_CLI_PATH, {"--db", db, "run"}, dir / "run.out", dir / "run.err");
  ASSERT_TRUE(wait_for([&] { return server.counters().fragments >= 3; }, std::chrono::milliseconds(20000)));
  ::kill(child, SIGKILL);
  ASSERT_EQ(wait_exit(child, std::chrono::milliseconds(5000)), 128 + SIGKILL);
  const BitsCounters at_kill = server.counters();
  ASSERT_LT(at_kill.fragment_bytes, static_cast<long long>(data.size()));

  server.set_fragment_delay_ms(0);
  auto q = open_queue(db, test_options(true));
  auto job = q->get_job(id);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(wait_state(*job, JobState::transferred, std::chrono::milliseconds(20000))) << state_name(*job);
  std::string got;
  ASSERT_TRUE(server.uploaded("/up/kill.bin", &got));
  EXPECT_EQ(content_hash(got), content_hash(data));
  const BitsCounters c = server.counters();
  EXPECT_EQ(c.create_sessions, 1) << "the session survived the kill";
  EXPECT_LE(c.fragment_bytes, static_cast<long long>(data.size()) + 1024 * 1024)
      << "at most the fragment in flight at the kill is sent twice";
  EXPECT_FALSE(job->complete());
}

// A zero-byte upload used to reach TRANSFERRED (Create-Session, then
// Close-Session with no Fragment: the protocol has no empty Fragment) while
// the server kept no file. add_file() refuses it now, with nothing sent.
TEST_F(UploadTest, ZeroByteUploadIsRefusedAtAddTime) {
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("empty.bin", 0);
  for (JobType type : {JobType::upload, JobType::upload_reply}) {
    auto job = q->create_job("empty", type);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->add_file(server.url("/up/empty.bin"), src), make_error_code(Errc::invalid_arg));
    auto files = job->files();
    ASSERT_TRUE(files.ok());
    EXPECT_TRUE(files->empty());
    EXPECT_EQ(job->resume(), make_error_code(Errc::empty));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server.counters().create_sessions, 0);
  EXPECT_FALSE(server.uploaded("/up/empty.bin", nullptr));
}

// Emptied after add_file(): the job fails (ERROR, E_INVALIDARG, LOCAL_FILE)
// before any packet; never TRANSFERRED without a file on the server.
TEST_F(UploadTest, UploadEmptiedAfterAddFailsInsteadOfTransferring) {
  auto q = open_queue(db(), upload_options());
  const std::string src = make_source("shrunk.bin", 1000);
  Job job = new_job(*q, JobType::upload, "/up/shrunk.bin", src);
  write_file(src, "");
  ASSERT_FALSE(job.resume());
  ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
  auto e = job.error();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->hresult, static_cast<uint32_t>(Errc::invalid_arg));
  EXPECT_EQ(e->context, ErrorContext::local_file);
  EXPECT_NE(e->description.find("empty"), std::string::npos) << e->description;
  EXPECT_EQ(server.counters().create_sessions, 0);
  EXPECT_FALSE(server.uploaded("/up/shrunk.bin", nullptr));
  EXPECT_EQ(job.complete(), make_error_code(Errc::invalid_state));
}

// The source is read a fragment at a time: a file replaced (renamed over,
// the same size) or rewritten in place once some fragments are acknowledged is
// another version, and splicing the two would give the server neither. The
// job fails at once and the server is told to drop its partial upload.
TEST_F(UploadTest, ASourceReplacedOrRewrittenMidUploadFailsTheJobInsteadOfSplicing) {
  for (const bool rewrite_in_place : {false, true}) {
    SCOPED_TRACE(rewrite_in_place ? "rewritten in place" : "replaced by rename");
    server.set_fragment_delay_ms(100);
    auto q = open_queue(db(), upload_options());
    const std::string name = rewrite_in_place ? "inplace.bin" : "renamed.bin";
    const std::string src = make_source(name, 16 * kFragment, 11);
    Job job = new_job(*q, JobType::upload, "/up/" + name, src);
    ASSERT_FALSE(job.resume());
    ASSERT_TRUE(wait_for([&] { return job.progress()->bytes_transferred >= kFragment; }));
    const std::string other = make_body(16 * kFragment, 12);  // same size, other bytes
    if (rewrite_in_place) {
      // A later mtime whatever the clock's grain: the rewrite is dated ahead.
      write_file(src, other);
      const timespec times[2] = {{0, UTIME_OMIT}, {::time(nullptr) + 10, 0}};
      ASSERT_EQ(::utimensat(AT_FDCWD, src.c_str(), times, 0), 0);
    } else {
      write_file(src + ".new", other);
      ASSERT_EQ(::rename((src + ".new").c_str(), src.c_str()), 0);
    }
    server.set_fragment_delay_ms(0);
    ASSERT_TRUE(wait_state(job, JobState::error)) << state_name(job);
    auto e = job.error();
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->hresult, static_cast<uint32_t>(Errc::validation_failed));
    EXPECT_EQ(e->context, ErrorContext::local_file);
    EXPECT_NE(e->description.find("changed during the upload"), std::string::npos) << e->description;
    EXPECT_FALSE(server.uploaded("/up/" + name, nullptr));
    ASSERT_FALSE(job.cancel());
    EXPECT_TRUE(wait_for([&] { return server.open_sessions() == 0; })) << "Cancel-Session drops the partial upload";
  }
}

TEST_F(UploadTest, AReplyTargetIsClaimedLikeADownloadsPath) {
  auto q = open_queue(db(), upload_options());
  expect_reply_targets_are_claimed(*q, dir);
}

}  // namespace
}  // namespace xferq::testing
