// serve_load_test.cc — `xferq serve` under load: 200 jobs transferring from
// the fixture server (8 at a time) while 20 clients poll the API and 5 follow
// the events. Bounded: it ends when every job is TRANSFERRED (about 30 s
// in a dev build on 2 cores, about 70 s under ASan; it fails past 240 s). No request may fail, and no follower may miss
// an event: ids are consecutive after its snapshot, and each job's state
// changes chain (every `previous` is the state last reported) up to
// TRANSFERRED.
#include <atomic>
#include <map>

#include "serve_client.h"

namespace xferq::testing {
namespace {

using nlohmann::json;

constexpr int kJobs = 200;
constexpr int kPollers = 20;
constexpr int kFollowers = 5;

// Checks one follower's events; "" if nothing was lost.
std::string check_follower(const std::vector<ReceivedEvent>& events, const std::vector<std::string>& ids) {
  if (events.empty() || events.front().type != "snapshot") return "the stream did not start with a snapshot";
  std::map<std::string, std::string> state;  // job -> last state reported
  for (size_t i = 1; i < events.size(); ++i) {
    const ReceivedEvent& e = events[i];
    if (e.id != events[i - 1].id + 1) return "event " + std::to_string(events[i - 1].id + 1) + " was skipped";
    if (e.type == "snapshot") return "the follower fell behind and was sent a new snapshot";
    if (e.type == "created") state[e.data["job"]["id"]] = e.data["job"]["state"];
    if (e.type != "state") continue;
    const std::string id = e.data["id"];
    if (state.count(id) == 0) return "a state change of " + id + " before its creation";
    if (state[id] != e.data["previous"]) return id + " went " + e.data["previous"].get<std::string>() +
                                                    " -> ... but the last state reported was " + state[id];
    state[id] = e.data["state"];
  }
  for (const std::string& id : ids)
    if (state[id] != "TRANSFERRED") return id + " ended at '" + state[id] + "' in the events";
  return "";
}

TEST(ServeLoadTest, TwentyPollersAndFiveFollowersWhile200JobsTransfer) {
  ScratchDir dir;
  FixtureServer fixture;
  for (int i = 0; i < kJobs; ++i)
    fixture.set("/f" + std::to_string(i) + ".bin", body_resource(make_body(256 * 1024, i + 1), 512 * 1024));
  ServeProcess server(dir.path(), dir / "queue.db", {"--max-transfers", "8", "--event-interval", "200"});

  std::vector<std::unique_ptr<EventFollower>> followers;
  for (int i = 0; i < kFollowers; ++i) {
    followers.push_back(std::make_unique<EventFollower>(server));
    ASSERT_TRUE(followers.back()->wait_for_event([](const ReceivedEvent& e) { return e.type == "snapshot"; }));
  }
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    HttpAnswer a = server.post_json(
        "/api/jobs", json{{"display_name", "load " + std::to_string(i)}, {"resume", true},
                          {"files", {{{"remote_url", fixture.url("/f" + std::to_string(i) + ".bin")},
                                      {"local_path", dir / ("f" + std::to_string(i) + ".bin")}}}}});
    ASSERT_EQ(a.status, 201) << a.body;
    ids.push_back(a.json()["id"]);
  }

  std::atomic<bool> stop{false};
  std::atomic<long> requests{0}, failures{0};
  std::mutex failure_mu;
  std::string first_failure;
  std::vector<std::thread> pollers;
  for (int p = 0; p < kPollers; ++p) {
    pollers.emplace_back([&, p] {
      for (size_t n = 0; !stop.load(); ++n) {
        const std::string path = n % 3 == 0 ? "/api/jobs" : n % 3 == 1 ? job_path(ids[(n * 7 + p) % ids.size()]) : "/api/status";
        HttpAnswer a = server.call("GET", path);
        ++requests;
        if (a.status != 200 || a.json().is_discarded()) {
          ++failures;
          std::lock_guard<std::mutex> lock(failure_mu);
          if (first_failure.empty()) first_failure = path + " -> " + std::to_string(a.status) + " " + a.body;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  const bool all_done = wait_for([&] {
    HttpAnswer a = server.call("GET", "/api/jobs");
    if (a.status != 200) return false;
    const json listed = a.json();
    for (const json& j : listed["jobs"])
      if (j["state"] != "TRANSFERRED") return false;
    return true;
  }, std::chrono::milliseconds(240000));  // sanitizer builds are several times slower
  // The last events reach every follower before the streams are closed.
  for (auto& f : followers)
    f->wait_for_event([&](const ReceivedEvent&) { return check_follower(f->events(), ids).empty(); },
                      std::chrono::milliseconds(10000));
  stop = true;
  for (std::thread& t : pollers) t.join();
  for (auto& f : followers) f->stop();

  EXPECT_TRUE(all_done) << "not every job reached TRANSFERRED";
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(requests.load(), kPollers);
  for (size_t i = 0; i < followers.size(); ++i) {
    EXPECT_EQ(followers[i]->status(), 200);
    EXPECT_EQ(check_follower(followers[i]->events(), ids), "") << "follower " << i;
  }
  std::cout << requests.load() << " polls, " << followers[0]->events().size() << " events per follower\n";
  EXPECT_EQ(server.stop(), 0) << server.err();
}

}  // namespace
}  // namespace xferq::testing
