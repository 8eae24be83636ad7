// cli_test.cc — the `xferq` command run as a user would: a separate process
// per command (fork + exec), a queue file in a scratch directory, and the
// fixture HTTP server for transfers.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bits_upload_server.h"
#include "child_process.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

struct CliRun {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ / "queue.db"; }

  CliRun run(std::vector<std::string> args, const std::string& cwd = "",
          std::chrono::milliseconds timeout = std::chrono::milliseconds(30000)) {
    args.insert(args.begin(), {"--db", db()});
    const std::string out = dir_ / "cli.out", err = dir_ / "cli.err";
    pid_t pid = spawn(XFERQ_CLI_PATH, args, out, err, cwd);
    CliRun r;
    r.status = wait_exit(pid, timeout);
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  pid_t start(std::vector<std::string> args, const std::string& tag) {
    args.insert(args.begin(), {"--db", db()});
    return spawn(XFERQ_CLI_PATH, args, dir_ / (tag + ".out"), dir_ / (tag + ".err"));
  }

  std::string create(const std::string& name) {
    CliRun r = run({"create", name});
    EXPECT_EQ(r.status, 0) << r.err;
    std::string id = r.out;
    while (!id.empty() && (id.back() == '\n' || id.back() == '\r')) id.pop_back();
    EXPECT_EQ(id.size(), 38u) << id;
    return id;
  }

  std::string state(const std::string& job) {
    CliRun r = run({"getstate", job});
    std::string s = r.out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return r.status == 0 ? s : "exit " + std::to_string(r.status) + ": " + r.err;
  }

  ScratchDir dir_;
  FixtureServer server_;
};

// A PostgreSQL queue's URL may carry a password (in its user-info or its
// query): the CLI never prints it, and `serve` asks for a token's home
// rather than writing one beside a URL. Nothing listens on port 1.
TEST_F(CliTest, DatabaseUrlPasswordIsNeverPrinted) {
  const std::string url = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/queue?password=qu3ry-pw&sslmode=disable";
  const std::string out = dir_ / "pg.out", err = dir_ / "pg.err";
  const int status = wait_exit(spawn(XFERQ_CLI_PATH, {"--db", url, "list"}, out, err), std::chrono::milliseconds(30000));
  const std::string printed = read_file(out) + read_file(err);
  EXPECT_NE(status, 0);
  EXPECT_NE(printed.find("postgresql://***@127.0.0.1:1/queue"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("s3cr3t"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("qu3ry"), std::string::npos) << printed;

  const int serve = wait_exit(spawn(XFERQ_CLI_PATH, {"--db", url, "serve", "--listen", "127.0.0.1:0"}, out, err),
                              std::chrono::milliseconds(30000));
  const std::string said = read_file(out) + read_file(err);
  EXPECT_NE(serve, 0);
  EXPECT_NE(said.find("--token"), std::string::npos) << said;
  EXPECT_EQ(said.find("s3cr3t"), std::string::npos) << said;
}

TEST_F(CliTest, CreateAddResumeRunCompleteGivesTheServersBytes) {
  const std::string body = make_body(300 * 1024, 7);
  server_.set("/a.bin", body_resource(body));
  const std::string id = create("end-to-end");
  // A relative path, resolved against the command's working directory.
  CliRun add = run({"addfile", id, server_.url("/a.bin"), "a.bin"}, dir_.path());
  ASSERT_EQ(add.status, 0) << add.err;
  CliRun info = run({"--json", "info", id});
  ASSERT_EQ(info.status, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  ASSERT_EQ(j["files"].size(), 1u);
  EXPECT_EQ(j["files"][0]["local_path"], dir_ / "a.bin");

  ASSERT_EQ(run({"resume", "end-to-end"}).status, 0);  // by display name
  CliRun served = run({"run", "--until-idle"}, "", std::chrono::milliseconds(30000));
  ASSERT_EQ(served.status, 0) << served.err;
  EXPECT_EQ(state(id), "TRANSFERRED");
  CliRun text = run({"info", id, "--verbose"});
  EXPECT_EQ(text.status, 0);
  EXPECT_NE(text.out.find("TRANSFERRED"), std::string::npos) << text.out;
  EXPECT_FALSE(exists(dir_ / "a.bin"));
  CliRun done = run({"complete", id});
  ASSERT_EQ(done.status, 0) << done.err;
  EXPECT_EQ(read_file(dir_ / "a.bin"), body);
  EXPECT_EQ(state(id), "ACKNOWLEDGED");
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

// addfilewithranges JOB URL PATH OFFSET:LENGTH[,...] (bitsadmin
// /AddFileWithRanges): the spec is parsed ("eof" for to the end), a bad one
// is refused before anything is added, and the file is the ranges' bytes.
TEST_F(CliTest, AddFileWithRangesParsesTheSpecAndGivesTheRangesBytes) {
  const std::string body = make_body(5000, 12);
  server_.set("/r.bin", body_resource(body));
  const std::string id = create("ranges");
  for (const char* bad : {"", "10", "10:", ":5", "10:5,", "10:-5", "1 0:5", "10:5;20:5", "x:5", "99999999999999999999:1"}) {
    CliRun r = run({"addfilewithranges", id, server_.url("/r.bin"), dir_ / "r.bin", bad});
    EXPECT_EQ(r.status, 5) << "(kExitBadArgument) '" << bad << "': " << r.err;
  }
  CliRun overlap = run({"addfilewithranges", id, server_.url("/r.bin"), dir_ / "r.bin", "0:10,5:10"});
  EXPECT_NE(overlap.status, 0);
  EXPECT_NE(overlap.err.find("BG_E_OVERLAPPING_RANGES"), std::string::npos) << overlap.err;
  CliRun none = run({"--json", "info", id});
  ASSERT_EQ(none.status, 0) << none.err;
  EXPECT_TRUE(nlohmann::json::parse(none.out)["files"].empty()) << none.out;

  CliRun add = run({"addfilewithranges", id, server_.url("/r.bin"), "r.bin", "100:100,0:10,4990:EOF"}, dir_.path());
  ASSERT_EQ(add.status, 0) << add.err;
  CliRun info = run({"--json", "info", id});
  auto j = nlohmann::json::parse(info.out);
  ASSERT_EQ(j["files"][0]["ranges"].size(), 3u) << info.out;
  EXPECT_EQ(j["files"][0]["ranges"][2]["offset"], 4990);
  EXPECT_EQ(j["files"][0]["ranges"][2]["length"], "eof");
  CliRun text = run({"info", id, "--verbose"});
  EXPECT_NE(text.out.find("RANGES: 100:100,0:10,4990:eof"), std::string::npos) << text.out;
  ASSERT_EQ(run({"resume", id}).status, 0);
  ASSERT_EQ(run({"run", "--until-idle"}).status, 0);
  EXPECT_EQ(state(id), "TRANSFERRED");
  ASSERT_EQ(run({"complete", id}).status, 0);
  EXPECT_EQ(read_file(dir_ / "r.bin"), body.substr(100, 100) + body.substr(0, 10) + body.substr(4990));
}

// setnotifycmdline JOB PROGRAM ARG...: the arguments are kept as given,
// options of xferq's look ("-c", "--json") included; `run` starts the
// program when the job is TRANSFERRED, without a shell.
TEST_F(CliTest, NotifyCommandLineRunsWhenTheRunnerTransfersTheJob) {
  server_.set("/a.bin", body_resource(make_body(1000, 3)));
  const std::string id = create("notified");
  ASSERT_EQ(run({"addfile", id, server_.url("/a.bin"), dir_ / "a.bin"}).status, 0);
  const std::string out = dir_ / "notified.txt";
  CliRun set = run({"setnotifycmdline", id, "/bin/sh", "-c", "printf '%s|%s\\n' \"$1\" \"$2\" > \"$3\"", "sh",
                    "{job}", "a;b --json", out});
  ASSERT_EQ(set.status, 0) << set.err;
  CliRun got = run({"getnotifycmdline", id});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(got.out.substr(0, got.out.find('\n')), "/bin/sh");
  EXPECT_NE(got.out.find("\n-c\n"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("\na;b --json\n"), std::string::npos) << got.out;
  CliRun j = run({"--json", "info", id});
  ASSERT_EQ(j.status, 0);
  EXPECT_EQ(nlohmann::json::parse(j.out)["notify_command_line"]["program"], "/bin/sh");
  // Refused: a relative program; a missing one; nothing changes.
  EXPECT_NE(run({"setnotifycmdline", id, "sh"}).status, 0);
  EXPECT_NE(run({"setnotifycmdline", id, dir_ / "missing"}).status, 0);
  EXPECT_EQ(run({"setnotifycmdline", id}).status, 2);
  EXPECT_EQ(run({"getnotifycmdline", id}).out, got.out);

  ASSERT_EQ(run({"resume", id}).status, 0);
  CliRun served = run({"run", "--until-idle"});
  ASSERT_EQ(served.status, 0) << served.err;
  EXPECT_EQ(state(id), "TRANSFERRED");
  ASSERT_TRUE(wait_for([&] { return read_file(out) == id + "|a;b --json\n"; })) << read_file(out);
  ASSERT_EQ(run({"setnotifycmdline", id, ""}).status, 0);
  EXPECT_EQ(run({"getnotifycmdline", id}).out, "(none)\n");
}

TEST_F(CliTest, UploadReplyJobFromTheShell) {
  BitsUploadServer bits;
  bits.set_reply(true);
  const std::string body = make_body(150 * 1024, 9);
  write_file(dir_ / "report.bin", body);
  CliRun made = run({"create", "report", "--upload-reply"});
  ASSERT_EQ(made.status, 0) << made.err;
  ASSERT_EQ(run({"addfile", "report", bits.url("/app/report"), "report.bin"}, dir_.path()).status, 0);
  CliRun named = run({"setreplyfilename", "report", "answer.txt"}, dir_.path());
  ASSERT_EQ(named.status, 0) << named.err;
  ASSERT_EQ(run({"resume", "report"}).status, 0);
  CliRun served = run({"run", "--until-idle"});
  ASSERT_EQ(served.status, 0) << served.err;
  EXPECT_EQ(state("report"), "TRANSFERRED");
  ASSERT_EQ(run({"complete", "report"}).status, 0);
  EXPECT_EQ(read_file(dir_ / "answer.txt"), BitsUploadServer::reply_for(body));
  std::string got;
  ASSERT_TRUE(bits.uploaded("/app/report", &got));
  EXPECT_EQ(got, body);
  // Both flags at once is a usage error; a download job has no reply.
  EXPECT_EQ(run({"create", "x", "--upload", "--upload-reply"}).status, 2);
  create("plain");
  EXPECT_NE(run({"setreplyfilename", "plain", "r.txt"}, dir_.path()).status, 0);
}

// `run --time-slice`: with every slot (4) busy and a fifth job of the same
// priority waiting, jobs take turns and resume with Range.
TEST_F(CliTest, RunWithTimeSliceRotatesEqualPriorities) {
  std::vector<std::string> bodies;
  for (int i = 0; i < 5; ++i) {
    bodies.push_back(make_body(384 * 1024, 40 + i));
    const std::string name = "r" + std::to_string(i);
    server_.set("/" + name, body_resource(bodies.back(), 256 * 1024));
    create(name);
    ASSERT_EQ(run({"addfile", name, server_.url("/" + name), name + ".bin"}, dir_.path()).status, 0);
    ASSERT_EQ(run({"resume", name}).status, 0);
  }
  EXPECT_EQ(run({"run", "--until-idle", "--time-slice", "-1"}).status, 2);  // usage
  CliRun served = run({"run", "--until-idle", "--time-slice", "0.2"}, "", std::chrono::milliseconds(60000));
  ASSERT_EQ(served.status, 0) << served.err;
  int resumed = 0;
  for (const RequestRecord& r : server_.requests())
    if (!r.range.empty()) {
      EXPECT_EQ(r.status, 206) << r.path << " " << r.range;
      ++resumed;
    }
  EXPECT_GT(resumed, 0);  // someone gave its slot up and came back
  for (int i = 0; i < 5; ++i) {
    const std::string name = "r" + std::to_string(i);
    ASSERT_EQ(run({"complete", name}).status, 0) << name;
    EXPECT_EQ(read_file(dir_ / (name + ".bin")), bodies[i]) << name;
  }
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

// `run --until-idle` on a damaged queue ends at once with the error and a
// non-zero status (it used to print nothing and never end).
TEST_F(CliTest, RunOnADamagedQueueFailsInsteadOfHanging) {
  make_damaged_queue(db(), dir_.path());
  const auto t0 = std::chrono::steady_clock::now();
  {
    QueueOptions o;
    o.start_worker = false;
    ASSERT_TRUE(Queue::open(db(), o).ok()) << "the damage must leave the queue openable";
  }
  CliRun r = run({"run", "--until-idle"}, "", std::chrono::milliseconds(20000));
  ASSERT_NE(r.status, -1) << "xferq run --until-idle hung on a damaged queue";
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("XFERQ_E_DATABASE_CORRUPT"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  CliRun list = run({"list"});
  EXPECT_NE(list.status, 0);
  EXPECT_NE(list.err.find("XFERQ_E_DATABASE_CORRUPT"), std::string::npos) << list.err;
}

// A mistyped --db with a read-only command reports it and creates nothing.
TEST_F(CliTest, ReadOnlyCommandsNeverCreateAQueue) {
  const std::string missing = dir_ / "typo/dir/queue.db";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"list"}, {"getstate", "x"}, {"info", "x"}}) {
    std::vector<std::string> full = {"--db", missing};
    full.insert(full.end(), args.begin(), args.end());
    const pid_t pid = spawn(XFERQ_CLI_PATH, full, dir_ / "ro.out", dir_ / "ro.err");
    EXPECT_NE(wait_exit(pid, std::chrono::seconds(30)), 0) << args[0];
    EXPECT_NE(read_file(dir_ / "ro.err").find("no queue at"), std::string::npos) << read_file(dir_ / "ro.err");
  }
  EXPECT_FALSE(exists(dir_ / "typo"));
}

// Credentials are never printed; control characters in a path reach the
// terminal escaped.
TEST_F(CliTest, OutputShowsNoCredentialsAndNoRawControlCharacters) {
  const std::string id = create("shown");
  const std::string url = "http://bob:hunter2@127.0.0.1:" + std::to_string(server_.port()) + "/f";
  CliRun add = run({"addfile", id, url, dir_ / "evil\nname\x1b[2J"});
  ASSERT_EQ(add.status, 0) << add.err;
  EXPECT_EQ(add.out.find("hunter2"), std::string::npos) << add.out;
  EXPECT_EQ(add.out.find('\x1b'), std::string::npos) << add.out;
  CliRun info = run({"info", id, "--verbose"});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_EQ(info.out.find("hunter2"), std::string::npos) << info.out;
  EXPECT_EQ(info.out.find('\x1b'), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("evil\\x0aname\\x1b[2J"), std::string::npos) << info.out;
  CliRun json = run({"--json", "info", id});
  EXPECT_EQ(json.out.find("hunter2"), std::string::npos) << json.out;
}

TEST_F(CliTest, CustomHeadersFromTheShellHideCredentials) {
  const std::string id = create("hdr");
  CliRun set = run({"setcustomheaders", id, "Authorization: Bearer t0ps3cret", "X-Trace: 42"});
  ASSERT_EQ(set.status, 0) << set.err;
  CliRun get = run({"getcustomheaders", id});
  ASSERT_EQ(get.status, 0) << get.err;
  EXPECT_EQ(get.out, "Authorization: (hidden)\nX-Trace: 42\n");
  CliRun bad = run({"setcustomheaders", id, "Host: evil"});
  EXPECT_EQ(bad.status, 5) << bad.err;
  EXPECT_EQ(run({"getcustomheaders", id}).out, get.out) << "a refused call changed the headers";
  EXPECT_EQ(run({"setcustomheaders", id}).status, 0);
  EXPECT_EQ(run({"getcustomheaders", id}).out, "");
}

// A password read from standard input ("-") never shows in the process
// list, and nothing prints it afterwards.
TEST_F(CliTest, CredentialsFromStandardInputAreNeverShown) {
  const std::string id = create("creds");
  const pid_t pid = spawn("/bin/sh",
                          {"-c", "printf 'Sup3rS3cret\\n' | \"$0\" --db \"$1\" setcredentials \"$2\" SERVER BASIC bob -",
                           XFERQ_CLI_PATH, db(), id},
                          dir_ / "cred.out", dir_ / "cred.err");
  ASSERT_EQ(wait_exit(pid, std::chrono::seconds(30)), 0) << read_file(dir_ / "cred.err");
  EXPECT_EQ(read_file(dir_ / "cred.out").find("Sup3rS3cret"), std::string::npos);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"info", id, "--verbose"}, {"--json", "info", id}, {"--json", "list"}}) {
    CliRun r = run(args);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.find("Sup3rS3cret"), std::string::npos) << r.out;
  }
  EXPECT_EQ(run({"setcredentials", id, "SERVER", "NTLM", "bob", "x"}).status, 5);
  EXPECT_EQ(run({"removecredentials", id, "SERVER", "BASIC"}).status, 0);
}

// TLS options, remote names and limits from the shell: a key's passphrase
// only from standard input and never shown; refused calls change nothing.
TEST_F(CliTest, TlsRemoteNamesAndLimitsFromTheShell) {
  const std::string id = create("tls");
  const std::string cert = dir_ / "c.pem", key = dir_ / "k.pem";
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -keyout '" + key + "' -out '" + cert +
                         "' -days 1 -subj /CN=cli >/dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_EQ(run({"setclientcertificate", id, cert, key, "OnTheCommandLine"}).status, 5)
      << "a passphrase in argv would show in the process list";
  const pid_t pid = spawn("/bin/sh",
                          {"-c", "printf 'K3yPassphrase\\n' | \"$0\" --db \"$1\" setclientcertificate \"$2\" \"$3\" \"$4\" -",
                           XFERQ_CLI_PATH, db(), id, cert, key},
                          dir_ / "tls.out", dir_ / "tls.err");
  ASSERT_EQ(wait_exit(pid, std::chrono::seconds(30)), 0) << read_file(dir_ / "tls.err");
  ASSERT_EQ(run({"setcacertificates", id, cert}).status, 0);
  CliRun info = run({"info", id, "--verbose"});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("CLIENT CERTIFICATE: " + cert), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("CA BUNDLE: " + cert), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("KEY PASSPHRASE SET"), std::string::npos) << "setcacertificates lost the passphrase";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"info", id, "--verbose"}, {"--json", "info", id}}) {
    CliRun r = run(args);
    EXPECT_EQ(r.out.find("K3yPassphrase"), std::string::npos) << r.out;
  }
  EXPECT_NE(run({"setcacertificates", id, dir_ / "missing.pem"}).status, 0);
  EXPECT_NE(run({"info", id, "--verbose"}).out.find("CA BUNDLE: " + cert), std::string::npos);

  ASSERT_EQ(run({"addfile", id, "http://127.0.0.1:9/a", dir_ / "a.bin"}).status, 0);
  EXPECT_EQ(run({"setremotename", id, "0", "http://127.0.0.1:9/b"}).status, 0);
  EXPECT_EQ(run({"setremotename", id, "1", "http://127.0.0.1:9/c"}).status, 5);
  EXPECT_EQ(run({"setremotename", id, "zero", "http://127.0.0.1:9/c"}).status, 5);
  EXPECT_EQ(run({"replaceremoteprefix", id, "http://127.0.0.1:9/", "ftp://127.0.0.1/"}).status, 5);
  ASSERT_EQ(run({"replaceremoteprefix", id, "http://127.0.0.1:9/", "http://localhost:9/"}).status, 0);
  EXPECT_NE(run({"info", id, "--verbose"}).out.find("http://localhost:9/b"), std::string::npos);

  EXPECT_EQ(run({"getmaxdownloadsize", id}).out, "0\n");
  ASSERT_EQ(run({"setmaxdownloadsize", id, "4096"}).status, 0);
  EXPECT_EQ(run({"setmaxdownloadsize", id, "-1"}).status, 5);
  EXPECT_EQ(run({"getmaxdownloadsize", id}).out, "4096\n");
  EXPECT_EQ(run({"getmaxdownloadtime", id}).out, "7776000\n");
  ASSERT_EQ(run({"setmaxdownloadtime", id, "120"}).status, 0);
  EXPECT_EQ(run({"getmaxdownloadtime", id}).out, "120\n");
  ASSERT_EQ(run({"removeclientcertificate", id}).status, 0);
  EXPECT_EQ(run({"info", id, "--verbose"}).out.find("CLIENT CERTIFICATE"), std::string::npos);
}

// Integrity from the shell: the expected digests are stored canonical and
// shown by info; bad digests, indexes and states are refused.
TEST_F(CliTest, IntegrityFromTheShell) {
  const std::string id = create("checked");
  const std::string hex(64, 'A');
  EXPECT_EQ(run({"addfile", id, "http://127.0.0.1:9/a", dir_ / "a.bin", "--sha256", "abc"}).status, 5);
  ASSERT_EQ(run({"addfile", id, "http://127.0.0.1:9/a", dir_ / "a.bin", "--sha256", hex, "--size", "10"}).status, 0);
  CliRun info = run({"info", id, "--verbose"});
  EXPECT_NE(info.out.find("EXPECTED: SIZE 10 SHA-256 " + std::string(64, 'a')), std::string::npos) << info.out;
  EXPECT_NE(run({"--json", "info", id}).out.find("\"expected_sha256\": \"" + std::string(64, 'a')), std::string::npos);
  ASSERT_EQ(run({"setfileintegrity", id, "0", "--sha512", std::string(128, 'b')}).status, 0);
  EXPECT_NE(run({"info", id, "--verbose"}).out.find("SHA-512 " + std::string(128, 'b')), std::string::npos);
  EXPECT_EQ(run({"setfileintegrity", id, "x"}).status, 5);
  EXPECT_EQ(run({"setfileintegrity", id, "4", "--size", "1"}).status, 5);
  EXPECT_EQ(run({"setvalidationstate", id, "0", "MAYBE"}).status, 5);
  EXPECT_EQ(run({"setvalidationstate", id, "0", "FALSE"}).status, 4) << "not transferred: wrong state";
}

TEST_F(CliTest, SecurityFlagsFromTheShell) {
  const std::string id = create("flags");
  EXPECT_EQ(run({"getsecurityflags", id}).out, "0x00000000\n");
  ASSERT_EQ(run({"setsecurityflags", id, "0x0A00"}).status, 0);
  EXPECT_EQ(run({"getsecurityflags", id}).out, "0x00000A00\n");
  EXPECT_EQ(run({"setsecurityflags", id, "0x0001"}).status, 5);
  EXPECT_EQ(run({"setsecurityflags", id, "lots"}).status, 5);
  EXPECT_EQ(run({"getsecurityflags", id}).out, "0x00000A00\n");
}

TEST_F(CliTest, CancelTwiceIsInvalidState) {
  const std::string id = create("twice");
  CliRun first = run({"cancel", id});
  EXPECT_EQ(first.status, 0) << first.err;
  CliRun second = run({"cancel", id});
  EXPECT_EQ(second.status, 4);
  EXPECT_EQ(second.err.rfind("xferq: DO_E_INVALID_STATE", 0), 0u) << second.err;
  EXPECT_NE(second.err.find("CANCELLED"), std::string::npos) << second.err;
}

TEST_F(CliTest, UnknownJobIsNotFound) {
  create("another");  // the queue exists; read-only commands never create it
  CliRun r = run({"getstate", "{00000000-0000-0000-0000-000000000000}"});
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.err.rfind("xferq: BG_E_NOT_FOUND", 0), 0u) << r.err;
  EXPECT_EQ(run({"cancel", "no-such-name"}).status, 3);
}

TEST_F(CliTest, BadArgumentsAndUsage) {
  const std::string id = create("bad");
  CliRun url = run({"addfile", id, "not a url", dir_ / "x.bin"});
  EXPECT_EQ(url.status, 5) << url.err;
  EXPECT_EQ(url.err.rfind("xferq: ", 0), 0u);
  EXPECT_EQ(run({"setpriority", id, "URGENT"}).status, 5);
  EXPECT_EQ(run({"setminretrydelay", id, "soon"}).status, 5);
  EXPECT_EQ(run({}).status, 2);
  EXPECT_EQ(run({"frobnicate"}).status, 2);
  EXPECT_EQ(run({"addfile", id}).status, 2);
}

TEST_F(CliTest, AmbiguousNameListsTheMatches) {
  const std::string a = create("same"), b = create("same");
  CliRun r = run({"getstate", "same"});
  EXPECT_EQ(r.status, 5);
  EXPECT_NE(r.err.find(a), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(b), std::string::npos) << r.err;
}

TEST_F(CliTest, SettersAndJsonOutput) {
  const std::string id = create("json");
  ASSERT_EQ(run({"addfile", id, server_.url("/j.bin"), dir_ / "j.bin"}).status, 0);
  EXPECT_EQ(run({"setpriority", id, "high"}).status, 0);
  EXPECT_EQ(run({"setdisplayname", id, "renamed"}).status, 0);
  EXPECT_EQ(run({"setdescription", id, "some text"}).status, 0);
  EXPECT_EQ(run({"setminretrydelay", id, "30"}).status, 0);
  EXPECT_EQ(run({"setnoprogresstimeout", id, "120"}).status, 0);

  CliRun info = run({"--json", "info", "renamed"});
  ASSERT_EQ(info.status, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  for (const char* k : {"id", "display_name", "state", "priority", "bytes_total", "bytes_transferred",
                        "files_total", "files_transferred", "error", "creation_time", "modification_time",
                        "transfer_completion_time", "files"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["display_name"], "renamed");
  EXPECT_EQ(j["description"], "some text");
  EXPECT_EQ(j["priority"], "HIGH");
  EXPECT_EQ(j["state"], "SUSPENDED");
  EXPECT_TRUE(j["bytes_total"].is_null());
  EXPECT_EQ(j["files_total"], 1);
  EXPECT_EQ(j["minimum_retry_delay"], 30);
  EXPECT_EQ(j["no_progress_timeout"], 120);
  EXPECT_TRUE(j["error"].is_null());
  const std::string created = j["creation_time"];
  EXPECT_EQ(created.back(), 'Z');
  EXPECT_EQ(created[10], 'T');

  CliRun list = run({"list", "--json"});
  ASSERT_EQ(list.status, 0) << list.err;
  auto l = nlohmann::json::parse(list.out);
  ASSERT_TRUE(l.is_array());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["id"], id);

  auto st = nlohmann::json::parse(run({"--json", "getstate", id}).out);
  EXPECT_EQ(st["state"], "SUSPENDED");
  auto pr = nlohmann::json::parse(run({"--json", "getprogress", id}).out);
  EXPECT_EQ(pr["files_total"], 1);
  EXPECT_EQ(pr["bytes_transferred"], 0);
  EXPECT_TRUE(pr.contains("bytes_total"));

  // geterror: a 404 sends the job to ERROR.
  ASSERT_EQ(run({"resume", id}).status, 0);
  ASSERT_EQ(run({"run", "--until-idle"}).status, 0);
  EXPECT_EQ(state(id), "ERROR");
  CliRun err = run({"--json", "geterror", id});
  ASSERT_EQ(err.status, 0) << err.err;
  auto e = nlohmann::json::parse(err.out);
  EXPECT_EQ(e["error"]["hresult"], "0x80190194");
  EXPECT_EQ(e["error"]["name"], "BG_E_HTTP_ERROR_404");
  EXPECT_TRUE(e["error"].contains("context"));
  EXPECT_TRUE(e["error"].contains("description"));
}

TEST_F(CliTest, ResetCancelsEveryActiveJob) {
  const std::string a = create("r1"), b = create("r2");
  CliRun r = run({"reset"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(a + " canceled."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(b + " canceled."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 out of 2 jobs canceled."), std::string::npos) << r.out;
  EXPECT_EQ(state(a), "CANCELLED");
}

TEST_F(CliTest, TransferDownloadsAndCompletes) {
  const std::string body = make_body(200 * 1024, 3);
  server_.set("/t.bin", body_resource(body));
  CliRun r = run({"transfer", server_.url("/t.bin"), "t.bin", "--name", "quick"}, dir_.path());
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(read_file(dir_ / "t.bin"), body);
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  // One line per finished file (the file_transferred callback), before completion.
  const size_t file_line = r.out.find("File 1 / 1 transferred: " + dir_ / "t.bin" + "\n");
  ASSERT_NE(file_line, std::string::npos) << r.out;
  EXPECT_LT(file_line, r.out.find("Transfer complete."));
}

TEST_F(CliTest, TransferReportsEachFileOnce) {
  std::vector<std::string> args = {"transfer"};
  for (int i = 0; i < 3; ++i) {
    const std::string name = "f" + std::to_string(i);
    server_.set("/" + name, body_resource(make_body(50 * 1024, i)));
    args.push_back(server_.url("/" + name));
    args.push_back(dir_ / name);
  }
  CliRun r = run(args);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string line = "File " + std::to_string(i + 1) + " / 3 transferred: " + dir_ / ("f" + std::to_string(i));
    const size_t found = r.out.find(line);
    ASSERT_NE(found, std::string::npos) << r.out;
    EXPECT_GE(found, at) << "in order";
    EXPECT_EQ(r.out.find(line, found + 1), std::string::npos) << "once";
    at = found;
  }
}

TEST_F(CliTest, TransferOfAMissingFileFails) {
  CliRun r = run({"transfer", server_.url("/missing"), dir_ / "m.bin"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("BG_E_HTTP_ERROR_404"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_ / "m.bin"));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
}

TEST_F(CliTest, CancelFromAnotherProcessStopsTheTransfer) {
  server_.set("/slow.bin", body_resource(make_body(4 * 1024 * 1024, 9), 64 * 1024));
  const std::string id = create("slow");
  ASSERT_EQ(run({"addfile", id, server_.url("/slow.bin"), dir_ / "slow.bin"}).status, 0);
  ASSERT_EQ(run({"resume", id}).status, 0);
  pid_t worker = start({"run"}, "worker");
  ASSERT_TRUE(wait_for([&] { return server_.body_bytes_sent("/slow.bin") > 0; }))
      << read_file(dir_ / "worker.err");
  ASSERT_TRUE(wait_for([&] { return !temp_files_in(dir_.path()).empty(); }));

  CliRun cancel = run({"cancel", "slow"});
  ASSERT_EQ(cancel.status, 0) << cancel.err;
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_TRUE(wait_for(
      [&] {
        for (const auto& r : server_.requests_for("/slow.bin"))
          if (!r.finished) return false;
        return true;
      },
      std::chrono::milliseconds(2000)));
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_FALSE(exists(dir_ / "slow.bin"));
  EXPECT_EQ(state(id), "CANCELLED");

  ::kill(worker, SIGTERM);
  EXPECT_EQ(wait_exit(worker, std::chrono::milliseconds(10000)), 0) << read_file(dir_ / "worker.err");
}

// A cancel committed in another process wakes the worker at once through its
// socket: with a poll interval and a progress interval of a minute, only the
// wake-up can stop the transfer within the second this test allows.
TEST_F(CliTest, CancelFromAnotherProcessWakesTheWorkerAtOnce) {
  server_.set("/slow.bin", body_resource(make_body(4 * 1024 * 1024, 9), 64 * 1024));
  QueueOptions o = test_options(true);
  o.poll_interval = std::chrono::milliseconds(60000);
  o.progress_interval = std::chrono::milliseconds(60000);  // a progress commit would see the cancel too
  auto q = open_queue(db(), o);
  ASSERT_TRUE(q);
  auto job = q->create_job("woken");
  ASSERT_FALSE(job->add_file(server_.url("/slow.bin"), dir_ / "slow.bin"));
  ASSERT_FALSE(job->resume());
  ASSERT_TRUE(wait_for([&] { return server_.body_bytes_sent("/slow.bin") > 0; }));
  struct stat st {};
  ASSERT_EQ(::lstat((db() + "-worker.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CliRun cancel = run({"cancel", job->id()});
  ASSERT_EQ(cancel.status, 0) << cancel.err;
  EXPECT_TRUE(wait_for(
      [&] {
        for (const auto& r : server_.requests_for("/slow.bin"))
          if (!r.finished) return false;
        return true;
      },
      std::chrono::milliseconds(1000)))
      << "the worker did not stop the transfer: the wake-up did not arrive";
  EXPECT_EQ(*job->state(), JobState::cancelled);
  q.reset();
  EXPECT_NE(::lstat((db() + "-worker.sock").c_str(), &st), 0) << "the socket outlived its worker";
}

TEST_F(CliTest, TransferInterruptedBySigintCancelsAndExits130) {
  server_.set("/int.bin", body_resource(make_body(4 * 1024 * 1024, 5), 64 * 1024));
  pid_t pid = start({"transfer", server_.url("/int.bin"), dir_ / "int.bin", "--name", "interrupted"}, "transfer");
  ASSERT_TRUE(wait_for([&] { return server_.body_bytes_sent("/int.bin") > 0; }))
      << read_file(dir_ / "transfer.err");
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid, std::chrono::milliseconds(10000)), 130) << read_file(dir_ / "transfer.err");
  EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  EXPECT_FALSE(exists(dir_ / "int.bin"));
  CliRun list = run({"--json", "list", "--all"});
  auto l = nlohmann::json::parse(list.out);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["state"], "CANCELLED");
}

TEST_F(CliTest, AddFileSetAddsEveryListedFile) {
  const std::string b1 = make_body(10000, 1), b2 = make_body(20000, 2);
  server_.set("/1.bin", body_resource(b1));
  server_.set("/2.bin", body_resource(b2));
  write_file(dir_ / "list.txt", "# two files\n" + server_.url("/1.bin") + " one.bin\n\n" + server_.url("/2.bin") +
                                    " " + (dir_ / "two.bin") + "\n");
  const std::string id = create("set");
  CliRun add = run({"addfileset", id, "list.txt"}, dir_.path());
  ASSERT_EQ(add.status, 0) << add.err;
  auto pr = nlohmann::json::parse(run({"--json", "getprogress", id}).out);
  EXPECT_EQ(pr["files_total"], 2);
  ASSERT_EQ(run({"resume", id}).status, 0);
  ASSERT_EQ(run({"run", "--until-idle"}).status, 0);
  ASSERT_EQ(run({"complete", id}).status, 0);
  EXPECT_EQ(read_file(dir_ / "one.bin"), b1);
  EXPECT_EQ(read_file(dir_ / "two.bin"), b2);
  // A malformed line adds nothing.
  const std::string id2 = create("set2");
  write_file(dir_ / "bad.txt", server_.url("/1.bin") + " a.bin\nonly-one-field\n");
  EXPECT_EQ(run({"addfileset", id2, dir_ / "bad.txt"}).status, 5);
  auto pr2 = nlohmann::json::parse(run({"--json", "getprogress", id2}).out);
  EXPECT_EQ(pr2["files_total"], 0);
}

TEST_F(CliTest, MonitorPrintsTheListEachRefreshWithoutClearingAFile) {
  const std::string a = create("mon-a"), b = create("mon-b");
  ASSERT_EQ(run({"addfile", a, server_.url("/m.bin"), dir_ / "m.bin"}).status, 0);
  ASSERT_EQ(run({"cancel", b}).status, 0);
  CliRun r = run({"monitor", "--count", "2", "--refresh", "0.1"});
  ASSERT_EQ(r.status, 0) << r.err;
  // stdout is a file, not a terminal: no escape sequences.
  EXPECT_EQ(r.out.find('\033'), std::string::npos) << r.out;
  const std::string block = a + " 'mon-a' SUSPENDED 0 / 1 0 / UNKNOWN\nListed 1 job(s).\n";
  EXPECT_EQ(r.out, block + block);

  CliRun all = run({"monitor", "--all", "--count", "1", "--refresh", "0"});
  ASSERT_EQ(all.status, 0) << all.err;
  EXPECT_NE(all.out.find(b + " 'mon-b' CANCELLED 0 / 0 0 / 0\n"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("Listed 2 job(s).\n"), std::string::npos) << all.out;

  EXPECT_EQ(run({"monitor", "--refresh", "soon"}).status, 2);
  EXPECT_EQ(run({"monitor", "--count", "1", "--refresh", "-1"}).status, 5);
}

TEST_F(CliTest, MonitorStopsOnSigint) {
  create("watched");
  pid_t pid = start({"monitor", "--refresh", "0.05"}, "monitor");
  ASSERT_TRUE(wait_for([&] { return read_file(dir_ / "monitor.out").find("Listed 1 job(s).") != std::string::npos; }))
      << read_file(dir_ / "monitor.err");
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid, std::chrono::milliseconds(10000)), 0) << read_file(dir_ / "monitor.err");
}

// The views in the schema, read by the real sqlite3 shell on a live queue.
TEST_F(CliTest, Sqlite3ShellReadsTheViewsOfALiveQueue) {
  const std::string sqlite3 = "/usr/bin/sqlite3";
  ASSERT_TRUE(exists(sqlite3)) << "install the sqlite3 package (scripts/install-deps.sh)";
  const std::string id = create("shell");
  ASSERT_EQ(run({"addfile", id, server_.url("/s.bin"), dir_ / "s.bin"}).status, 0);
  // The CLI's queue is open in this process too while the shell reads it.
  auto q = open_queue(db(), test_options(false));
  ASSERT_NE(q, nullptr);

  auto shell = [&](const std::string& sql) {
    const std::string out = dir_ / "sqlite3.out", err = dir_ / "sqlite3.err";
    pid_t pid = ::fork();
    if (pid == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(o, 1);
      ::dup2(e, 2);
      const std::string d = db();
      ::execl(sqlite3.c_str(), "sqlite3", "-batch", d.c_str(), sql.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const int status = wait_exit(pid, std::chrono::milliseconds(30000));
    EXPECT_EQ(status, 0) << sql << ": " << read_file(err);
    return read_file(out);
  };
  EXPECT_EQ(shell("SELECT state, files_total FROM job_summary"), "SUSPENDED|1\n");
  EXPECT_EQ(shell("SELECT count(*) FROM active_jobs"), "1\n");
  EXPECT_EQ(shell("SELECT op FROM pending_file_ops"), "");

  ASSERT_EQ(run({"cancel", id}).status, 0);
  EXPECT_EQ(shell("SELECT state, files_total FROM job_summary"), "CANCELLED|1\n");
  EXPECT_EQ(shell("SELECT count(*) FROM active_jobs"), "0\n");
  // Cancelling deleted the (absent) temp files at once: nothing left pending.
  EXPECT_EQ(shell("SELECT op FROM pending_file_ops"), "");
  // The queue still works after the shell has been in it.
  EXPECT_EQ(state(create("after")), "SUSPENDED");
}

TEST_F(CliTest, BandwidthLimitsAndScheduleFromTheShell) {
  const std::string id = create("bw");
  ASSERT_EQ(run({"setbandwidth", "20M"}).status, 0);
  ASSERT_EQ(run({"setbandwidth", "--priority", "LOW", "500k"}).status, 0);
  ASSERT_EQ(run({"setjobbandwidth", id, "250000"}).status, 0);
  EXPECT_EQ(run({"getjobbandwidth", id}).out, "250000\n");
  CliRun r = run({"setbandwidthschedule", "mon-fri 09-17 1000000", "sat,sun 00-24 0"});
  ASSERT_EQ(r.status, 0) << r.err;
  r = run({"getbandwidth"});
  EXPECT_NE(r.out.find("Queue limit: 20000000 bytes/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LOW limit: 500000 bytes/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Window: mon,tue,wed,thu,fri 09-17 1000000 bytes/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Window: sun,sat 00-24 none"), std::string::npos) << r.out;

  // Bad input: a clear error, exit 5, nothing changed.
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"setbandwidth", "-1"}, {"setbandwidth", "fast"}, {"setbandwidth", "99999999999999G"},
           {"setbandwidth", "--priority", "URGENT", "1"}, {"setjobbandwidth", id, "-5"},
           {"setbandwidthschedule", "mon-fri 17-09 1"}, {"setbandwidthschedule", "funday 09-17 1"},
           {"setbandwidthschedule", "mon-fri 09-25 1"}, {"setbandwidthschedule", "mon-fri 9to5 1"},
           {"setbandwidthschedule", "mon-fri 09-17"}, {"setbandwidthschedule", "mon 09-17 1", "mon 09-17 x"}}) {
    r = run(bad);
    EXPECT_EQ(r.status, 5) << bad.back() << ": " << r.err;
    EXPECT_NE(r.err.find("E_INVALIDARG"), std::string::npos) << r.err;
  }
  r = run({"--json", "getbandwidth"});
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["queue_limit"], 20000000);
  EXPECT_EQ(j["priority_limits"]["LOW"], 500000);
  EXPECT_EQ(j["schedule"].size(), 2u);
  EXPECT_EQ(j["schedule"][0]["days"], "mon,tue,wed,thu,fri");
  EXPECT_EQ(run({"getjobbandwidth", id}).out, "250000\n");
  ASSERT_EQ(run({"setbandwidthschedule"}).status, 0);  // none: removed
  EXPECT_EQ(run({"getbandwidth"}).out.find("Window:"), std::string::npos);
}

}  // namespace
}  // namespace xferq::testing
