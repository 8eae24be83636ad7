// serve_events_test.cc — the live events of `xferq serve`: every state change
// of a transfer in order with consecutive ids, progress while bytes move,
// errors, changes made by another process (the `xferq` command), and
// resuming a stream with Last-Event-ID.
#include "serve_client.h"

namespace xferq::testing {
namespace {

using nlohmann::json;

class ServeEventsTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ / "queue.db"; }
  int run_cli(const std::vector<std::string>& args) {
    const pid_t pid = spawn(XFERQ_CLI_PATH, args, dir_ / "cli.out", dir_ / "cli.err");
    return wait_exit(pid, std::chrono::milliseconds(20000));
  }
  std::string create(const std::string& name, const std::string& path, bool resume) {
    HttpAnswer a = server_.post_json("/api/jobs", json{{"display_name", name}, {"resume", resume},
                                                       {"files", {{{"remote_url", fixture_.url(path)},
                                                                   {"local_path", dir_ / (name + ".bin")}}}}});
    EXPECT_EQ(a.status, 201) << a.body;
    return a.json().value("id", "");
  }
  static std::vector<ReceivedEvent> of_job(const std::vector<ReceivedEvent>& all, const std::string& id) {
    std::vector<ReceivedEvent> out;
    for (const ReceivedEvent& e : all) {
      const json& d = e.data;
      const std::string who = d.contains("id") ? d["id"].get<std::string>()
                              : d.contains("job") ? d["job"]["id"].get<std::string>() : "";
      if (who == id) out.push_back(e);
    }
    return out;
  }

  ScratchDir dir_;
  FixtureServer fixture_;
  ServeProcess server_{dir_.path(), db(), {"--event-interval", "100"}};
};

TEST_F(ServeEventsTest, ATransferIsFollowedFromCreationToTransferred) {
  fixture_.set("/slow.bin", body_resource(make_body(768 * 1024), 512 * 1024));
  EventFollower follower(server_);
  ASSERT_TRUE(follower.wait_for_event([](const ReceivedEvent& e) { return e.type == "snapshot"; }));
  const std::string id = create("slow", "/slow.bin", true);
  ASSERT_TRUE(follower.wait_for_event([&](const ReceivedEvent& e) {
    return e.type == "state" && e.data["id"] == id && e.data["state"] == "TRANSFERRED";
  }, std::chrono::milliseconds(30000)));
  const std::vector<ReceivedEvent> all = follower.events();
  ASSERT_EQ(all.front().type, "snapshot");
  for (size_t i = 1; i < all.size(); ++i) ASSERT_EQ(all[i].id, all[i - 1].id + 1) << "an event id was skipped";

  const std::vector<ReceivedEvent> mine = of_job(all, id);
  ASSERT_FALSE(mine.empty());
  EXPECT_EQ(mine.front().type, "created");
  std::string state = mine.front().data["job"]["state"];
  std::vector<std::string> states{state};
  int64_t bytes = 0;
  int progress_events = 0;
  for (const ReceivedEvent& e : mine) {
    if (e.type == "state") {
      EXPECT_EQ(e.data["previous"], state) << "a state change was lost";
      state = e.data["state"];
      states.push_back(state);
    } else if (e.type == "progress") {
      ++progress_events;
      EXPECT_GE(e.data["bytes_transferred"].get<int64_t>(), bytes);
      bytes = e.data["bytes_transferred"];
    }
  }
  // Each job is read when its callback fires, so a state that lasted less
  // than that read may be folded into the next one; the chain never breaks.
  EXPECT_EQ(state, "TRANSFERRED");
  EXPECT_GE(states.size(), 2u);
  EXPECT_GE(progress_events, 1) << "no progress while 768 KiB moved at 512 KiB/s";
  EXPECT_TRUE(follower.wait_for_event([](const ReceivedEvent& e) {
    return e.type == "throughput" && e.data["bytes_per_sec"].get<double>() > 0;
  }));
}

TEST_F(ServeEventsTest, ErrorsAndOtherProcessesChangesAppear) {
  EventFollower follower(server_);
  ASSERT_TRUE(follower.wait_for_event([](const ReceivedEvent& e) { return e.type == "snapshot"; }));
  const std::string id = create("missing", "/missing.bin", true);  // the fixture answers 404
  ASSERT_TRUE(follower.wait_for_event([&](const ReceivedEvent& e) {
    return e.type == "error" && e.data["id"] == id && e.data["state"] == "ERROR" &&
           e.data["error"]["name"] == "BG_E_HTTP_ERROR_404";
  }, std::chrono::milliseconds(30000)));
  // The `xferq` command, a process of its own: no callback here, the poll sees it.
  ASSERT_EQ(run_cli({"--db", db(), "setpriority", id, "LOW"}), 0) << read_file(dir_ / "cli.err");
  EXPECT_TRUE(follower.wait_for_event([&](const ReceivedEvent& e) {
    return e.type == "changed" && e.data["job"]["id"] == id && e.data["job"]["priority"] == "LOW";
  }));
  ASSERT_EQ(run_cli({"--db", db(), "cancel", id}), 0) << read_file(dir_ / "cli.err");
  EXPECT_TRUE(follower.wait_for_event([&](const ReceivedEvent& e) {
    return e.type == "state" && e.data["id"] == id && e.data["state"] == "CANCELLED" && e.data["previous"] == "ERROR";
  }));
}

TEST_F(ServeEventsTest, AStreamResumesAfterLastEventId) {
  EventFollower first(server_);
  ASSERT_TRUE(first.wait_for_event([](const ReceivedEvent& e) { return e.type == "snapshot"; }));
  const std::string a = create("a", "/a.bin", false);
  ASSERT_TRUE(first.wait_for_event([&](const ReceivedEvent& e) { return e.type == "created"; }));
  const uint64_t resume_after = first.events().back().id;
  first.stop();
  const std::string b = create("b", "/b.bin", false);  // while nobody follows
  EventFollower second(server_, resume_after);
  ASSERT_TRUE(second.wait_for_event([&](const ReceivedEvent& e) {
    return e.type == "created" && e.data["job"]["id"] == b;
  }));
  const std::vector<ReceivedEvent> got = second.events();
  EXPECT_NE(got.front().type, "snapshot");
  EXPECT_EQ(got.front().id, resume_after + 1);
  (void)a;
}

}  // namespace
}  // namespace xferq::testing
