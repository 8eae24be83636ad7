// serve_api_test.cc — `xferq serve`'s JSON API as a client sees it: a real
// server process on 127.0.0.1, real HTTP, a real queue file. Every
// documented operation is called and every answer checked against
// docs/openapi.json; bad input of every kind is refused with a 4xx and
// changes nothing in the queue.
#include <sys/stat.h>

#include "openapi_check.h"
#include "serve_client.h"

namespace xferq::testing {
namespace {

using nlohmann::json;

class ServeApiTest : public ::testing::Test {
 protected:
  std::string db() const { return dir_ / "queue.db"; }

  // A call whose answer must be as docs/openapi.json says.
  HttpAnswer api(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpAnswer a = server_->call(method, path, body);
    EXPECT_EQ(spec_.check(method, path, a.status, a.body), "") << method << " " << path << " -> " << a.body;
    return a;
  }
  HttpAnswer api(const std::string& method, const std::string& path, const json& body) {
    return api(method, path, body.dump());
  }
  std::string state_of(const std::string& id) { return api("GET", job_path(id)).json().value("state", ""); }

  // Everything the queue holds, as the library reads it (no worker).
  std::string queue_dump() {
    QueueOptions o;
    o.start_worker = false;
    o.create_if_missing = false;
    auto q = Queue::open(db(), o);
    if (!q) return "cannot open: " + q.error().message();
    json all = json::array();
    for (Job& j : *(*q)->jobs(true)) {
      json one = {{"state", to_string(*j.state())}, {"name", *j.display_name()}, {"priority", to_string(*j.priority())},
                  {"description", *j.description()}, {"retry", j.minimum_retry_delay()->count()}};
      for (const FileInfo& f : *j.files()) one["files"].push_back(f.remote_url + " " + f.local_path);
      all.push_back(one);
    }
    return all.dump();
  }

  // Every property a PATCH may set, of one job, as the library reads them.
  std::string properties_of(const std::string& id) {
    QueueOptions o;
    o.start_worker = false;
    o.create_if_missing = false;
    auto q = Queue::open(db(), o);
    if (!q) return "cannot open: " + q.error().message();
    auto j = (*q)->get_job(id);
    if (!j) return "no job: " + j.error().message();
    const ProxySettings proxy = *j->proxy_settings();
    return json{{"name", *j->display_name()}, {"description", *j->description()},
                {"priority", to_string(*j->priority())}, {"retry", j->minimum_retry_delay()->count()},
                {"timeout", j->no_progress_timeout()->count()}, {"flags", *j->security_flags()},
                {"headers", *j->custom_headers()},
                {"proxy", {static_cast<int>(proxy.usage), proxy.proxy_list, proxy.bypass_list}}}
        .dump();
  }

  ScratchDir dir_;
  FixtureServer fixture_;
  OpenApiSpec spec_{XFERQ_OPENAPI_PATH};
  std::unique_ptr<ServeProcess> server_ = std::make_unique<ServeProcess>(dir_.path(), db());
};

TEST_F(ServeApiTest, JobLifeThroughEveryDocumentedOperation) {
  const std::string body = make_body(96 * 1024, 3);
  fixture_.set("/a.bin", body_resource(body));
  fixture_.set("/b.bin", body_resource(make_body(32 * 1024, 4)));
  ASSERT_EQ(api("GET", "/api/status").status, 200);

  HttpAnswer made = api("POST", "/api/jobs",
                        json{{"display_name", "nightly"}, {"priority", "HIGH"}, {"description", "from the API"},
                             {"files", {{{"remote_url", fixture_.url("/a.bin")}, {"local_path", dir_ / "a.bin"}}}}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = made.json()["id"];
  EXPECT_EQ(made.header("Location"), "/api/jobs/" + id);
  EXPECT_EQ(made.json()["state"], "SUSPENDED");
  EXPECT_EQ(made.json()["priority"], "HIGH");

  EXPECT_EQ(api("GET", "/api/jobs").json()["jobs"].size(), 1u);
  EXPECT_EQ(api("GET", "/api/jobs?all=true").status, 200);
  EXPECT_EQ(api("GET", job_path(id)).json()["files"][0]["local_path"], dir_ / "a.bin");

  HttpAnswer patched = api("PATCH", job_path(id),
                           json{{"display_name", "renamed"}, {"minimum_retry_delay", 30}, {"no_progress_timeout", 3600},
                                {"priority", "LOW"}, {"custom_headers", {"X-Trace: 1"}}, {"security_flags", 0x100},
                                {"proxy_settings", {{"usage", "NO_PROXY"}}}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json()["display_name"], "renamed");
  EXPECT_EQ(patched.json()["minimum_retry_delay"], 30);
  EXPECT_EQ(patched.json()["priority"], "LOW");

  HttpAnswer added = api("POST", job_path(id, "/files"),
                         json{{"files", {{{"remote_url", fixture_.url("/b.bin")}, {"local_path", dir_ / "b.bin"}}}}});
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(api("GET", job_path(id, "/files")).json()["files"].size(), 2u);

  // Credentials go in and never come out.
  ASSERT_EQ(api("PUT", job_path(id, "/credentials"),
                json{{"target", "SERVER"}, {"scheme", "BASIC"}, {"user", "u"}, {"password", "s3cret-pass"}})
                .status,
            204);
  EXPECT_EQ(api("GET", job_path(id)).body.find("s3cret-pass"), std::string::npos);
  EXPECT_EQ(api("DELETE", job_path(id, "/credentials/SERVER/BASIC")).status, 204);

  ASSERT_EQ(api("POST", job_path(id, "/resume")).status, 200);
  ASSERT_TRUE(wait_for([&] { return state_of(id) == "TRANSFERRED"; }, std::chrono::milliseconds(30000)))
      << state_of(id);
  EXPECT_EQ(api("POST", job_path(id, "/suspend")).json()["state"], "TRANSFERRED");  // a no-op there
  HttpAnswer done = api("POST", job_path(id, "/complete"));
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json()["status"], "S_OK");
  EXPECT_EQ(done.json()["job"]["state"], "ACKNOWLEDGED");
  EXPECT_EQ(read_file(dir_ / "a.bin"), body);
  HttpAnswer again = api("POST", job_path(id, "/cancel"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.error_name(), "DO_E_INVALID_STATE");

  // A job with no files cannot be resumed; cancelling throws it away.
  const std::string empty = api("POST", "/api/jobs", json{{"display_name", "empty"}}).json()["id"];
  HttpAnswer refused = api("POST", job_path(empty, "/resume"));
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(refused.error_name(), "BG_E_EMPTY");
  EXPECT_EQ(api("POST", job_path(empty, "/cancel")).json()["state"], "CANCELLED");
  EXPECT_EQ(api("GET", job_path("{00000000-0000-0000-0000-000000000000}")).error_name(), "BG_E_NOT_FOUND");

  // The event stream answers as documented, and its snapshot has the schema.
  EventFollower follower(*server_);
  ASSERT_TRUE(follower.wait_for_event([](const ReceivedEvent& e) { return e.type == "snapshot"; }));
  EXPECT_EQ(spec_.check("GET", "/api/events", follower.status(), ""), "");
  EXPECT_EQ(spec_.check_schema(follower.events()[0].data, "EventSnapshot"), "");
  follower.stop();

  EXPECT_EQ(spec_.exercised(), spec_.operations()) << "an operation in docs/openapi.json was not called";
  EXPECT_EQ(server_->stop(), 0) << server_->err();
}

TEST_F(ServeApiTest, CreateWithFilesAndResumeStartsAtOnce) {
  fixture_.set("/c.bin", body_resource(make_body(20 * 1024, 5)));
  HttpAnswer made = api("POST", "/api/jobs",
                        json{{"display_name", "now"}, {"resume", true},
                             {"files", {{{"remote_url", fixture_.url("/c.bin")}, {"local_path", dir_ / "c.bin"}}}}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = made.json()["id"];
  EXPECT_TRUE(wait_for([&] { return state_of(id) == "TRANSFERRED"; }, std::chrono::milliseconds(30000)));
  // A file the library refuses: the job made for the request is cancelled.
  HttpAnswer bad = api("POST", "/api/jobs",
                       json{{"display_name", "bad"}, {"files", {{{"remote_url", "ftp://x/y"}, {"local_path", dir_ / "y"}}}}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.error_name(), "XFERQ_E_UNSUPPORTED_SCHEME");
  const json listed = api("GET", "/api/jobs").json();
  for (const json& j : listed["jobs"]) EXPECT_NE(j["display_name"], "bad");
}

// Every field of a PATCH is checked before the first is set: one the library
// would refuse leaves the fields before it (in the order they are set)
// unchanged too, as the API promises.
TEST_F(ServeApiTest, RefusedPatchChangesNoField) {
  HttpAnswer made = api("POST", "/api/jobs", json{{"display_name", "victim"}, {"description", "as made"}});
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = made.json()["id"];
  const std::string before = properties_of(id);
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"display_name", "renamed"}, {"custom_headers", {"NoColon"}}}, "E_INVALIDARG"},
      {{{"description", "changed"}, {"priority", "HIGH"}, {"security_flags", 0x1000}}, "E_INVALIDARG"},
      {{{"minimum_retry_delay", 77}, {"custom_headers", {"X-A: 1"}}, {"proxy_settings", {{"usage", "OVERRIDE"}}}},
       "E_INVALIDARG"},
      {{{"no_progress_timeout", 5}, {"priority", "LOW"}, {"reply_file_name", dir_ / "reply"}}, "E_NOTIMPL"},
      {{{"priority", "FOREGROUND"}, {"proxy_settings", {{"usage", "NO_PROXY"}, {"proxy_list", "p:1"}}}}, "E_INVALIDARG"},
  };
  for (const auto& [body, name] : refused) {
    SCOPED_TRACE(body.dump());
    HttpAnswer a = api("PATCH", job_path(id), body);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_EQ(a.error_name(), name) << a.body;
    EXPECT_EQ(properties_of(id), before) << "a refused PATCH changed the job";
  }
  // The same fields, acceptable, are all set.
  HttpAnswer fine = api("PATCH", job_path(id), json{{"display_name", "renamed"}, {"custom_headers", {"X-A: 1"}}});
  ASSERT_EQ(fine.status, 200) << fine.body;
  EXPECT_NE(properties_of(id), before);
}

// A POST /api/jobs the library would refuse is refused before the job is
// made: no job, not even a cancelled one, and no event. What only add_files
// can see (a target another job holds) still refuses after: that job is
// cancelled, and the answer says so.
TEST_F(ServeApiTest, RefusedCreateMakesNoJob) {
  EventFollower follower(*server_);
  ASSERT_TRUE(follower.wait_for_event([](const ReceivedEvent& e) { return e.type == "snapshot"; }));
  const std::string url = fixture_.url("/x.bin");
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"display_name", "ftp"}, {"files", {{{"remote_url", "ftp://h/y"}, {"local_path", dir_ / "y"}}}}},
       "XFERQ_E_UNSUPPORTED_SCHEME"},
      {{{"display_name", "nohost"}, {"files", {{{"remote_url", "http:///y"}, {"local_path", dir_ / "y"}}}}},
       "E_INVALIDARG"},
      {{{"display_name", "relative"}, {"files", {{{"remote_url", url}, {"local_path", "relative/y"}}}}},
       "E_INVALIDARG"},
      {{{"display_name", "nodir"}, {"files", {{{"remote_url", url}, {"local_path", dir_ / "no/such/y"}}}}},
       "ERROR_PATH_NOT_FOUND"},
      {{{"display_name", "nosource"}, {"type", "UPLOAD"}, {"files", {{{"remote_url", url}, {"local_path", dir_ / "n"}}}}},
       "ERROR_FILE_NOT_FOUND"},
      {{{"display_name", "headers"}, {"custom_headers", {"NoColon"}}}, "E_INVALIDARG"},
      {{{"display_name", "reply"}, {"reply_file_name", dir_ / "reply"}}, "E_NOTIMPL"},
  };
  for (const auto& [body, name] : refused) {
    SCOPED_TRACE(body.dump());
    HttpAnswer a = api("POST", "/api/jobs", body);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_EQ(a.error_name(), name) << a.body;
  }
  EXPECT_EQ(api("GET", "/api/jobs?all=true").json()["jobs"].size(), 0u) << "a refused POST made a job";

  const json file = {{"remote_url", url}, {"local_path", dir_ / "x.bin"}};
  HttpAnswer holder = api("POST", "/api/jobs", json{{"display_name", "holder"}, {"files", {file}}});
  ASSERT_EQ(holder.status, 201) << holder.body;
  HttpAnswer late = api("POST", "/api/jobs", json{{"display_name", "late"}, {"files", {file}}});
  EXPECT_EQ(late.status, 409) << late.body;
  EXPECT_NE(late.body.find("was cancelled"), std::string::npos) << late.body;
  const json all = api("GET", "/api/jobs?all=true").json()["jobs"];
  ASSERT_EQ(all.size(), 2u) << all.dump();
  ASSERT_TRUE(follower.wait_for_event([](const ReceivedEvent& e) {
    return (e.type == "created" || e.type == "state") && e.data["job"].value("display_name", "") == "late" &&
           e.data["job"].value("state", "") == "CANCELLED";
  })) << "the late refusal's job was not cancelled";
  // Events come in order: by now any job made for the early refusals had
  // been announced.
  for (const ReceivedEvent& e : follower.events()) {
    if (e.type != "created") continue;
    const std::string name = e.data["job"].value("display_name", "");
    EXPECT_TRUE(name == "holder" || name == "late") << name;
  }
}

// One bad request: what is sent and the 4xx and error name expected.
struct BadRequest {
  std::string method, path, body, content_type;
  int status;
  std::string name;
};

TEST_F(ServeApiTest, BadInputIsRefusedWithA4xxAndChangesNothing) {
  const json file = {{"remote_url", fixture_.url("/x.bin")}, {"local_path", dir_ / "x.bin"}};
  HttpAnswer made = api("POST", "/api/jobs", json{{"display_name", "victim"}, {"files", {file}}});
  ASSERT_EQ(made.status, 201);
  const std::string job = job_path(made.json()["id"]);
  const std::string unknown = job_path("{00000000-0000-0000-0000-000000000000}");
  const std::string before = queue_dump();
  const std::string json_type = "application/json";
  const std::vector<BadRequest> table = {
      {"POST", "/api/jobs", "{", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", "[]", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", "\"text\"", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","colour":"red"})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":5})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","priority":"URGENT"})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","type":"FTP"})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","files":"a.bin"})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","files":[{"remote_url":"http://h/a"}]})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","files":[{"remote_url":"http://h/a","local_path":"/tmp/a","mode":1}]})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","resume":"yes"})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","minimum_retry_delay":-1})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","minimum_retry_delay":1.5})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x","no_progress_timeout":99999999999999999999})", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", "{\"display_name\":\"\xff\xfe\"}", json_type, 400, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x"})", "text/plain", 415, "E_INVALIDARG"},
      {"POST", "/api/jobs", R"({"display_name":"x"})", "application/x-www-form-urlencoded", 415, "E_INVALIDARG"},
      {"POST", "/api/jobs", "{\"display_name\":\"" + std::string(70 * 1024, 'a') + "\"}", json_type, 413, "E_INVALIDARG"},
      {"PATCH", job, R"({"priority":"LOW","bogus":1})", json_type, 400, "E_INVALIDARG"},
      {"PATCH", job, R"({"priority":"LOW","minimum_retry_delay":"10"})", json_type, 400, "E_INVALIDARG"},
      {"PATCH", job, R"({"priority":"LOW","proxy_settings":{"usage":"OVERRIDE","port":8080}})", json_type, 400, "E_INVALIDARG"},
      {"PATCH", job, R"({"priority":"LOW","custom_headers":[1]})", json_type, 400, "E_INVALIDARG"},
      {"PATCH", job, R"({"priority":"LOW","security_flags":-1})", json_type, 400, "E_INVALIDARG"},
      {"PATCH", "/api/jobs/not-a-guid", R"({"priority":"LOW"})", json_type, 400, "E_INVALIDARG"},
      {"PATCH", unknown, R"({"priority":"LOW"})", json_type, 404, "BG_E_NOT_FOUND"},
      {"POST", job + "/files", R"({"files":[]})", json_type, 400, "E_INVALIDARG"},
      {"POST", job + "/files", R"({"files":[{"remote_url":"ftp://h/y","local_path":"/tmp/y"}]})", json_type, 400, "XFERQ_E_UNSUPPORTED_SCHEME"},
      {"POST", job + "/files", R"({"files":[{"remote_url":"http://h/y","local_path":"relative/y"}]})", json_type, 400, "E_INVALIDARG"},
      {"POST", job + "/files", R"({"files":[{"remote_url":"http://h/y","local_path":"/no/such/dir/y"}]})", json_type, 400, "ERROR_PATH_NOT_FOUND"},
      {"POST", job + "/files", file.dump().insert(0, "{\"files\":[").append("]}"), json_type, 409, "ERROR_FILE_EXISTS"},
      {"POST", job + "/suspend", R"({"now":true})", json_type, 400, "E_INVALIDARG"},
      {"POST", job + "/cancel?force=1", "", "", 400, "E_INVALIDARG"},
      {"POST", unknown + "/cancel", "", "", 404, "BG_E_NOT_FOUND"},
      {"POST", "/api/jobs/%7Bzz%7D/cancel", "", "", 400, "E_INVALIDARG"},
      {"GET", "/api/jobs?all=maybe", "", "", 400, "E_INVALIDARG"},
      {"GET", "/api/jobs?state=QUEUED", "", "", 400, "E_INVALIDARG"},
      {"GET", "/api/jobs/%7B00000000-0000-0000-0000-00000000000Z%7D", "", "", 400, "E_INVALIDARG"},
      {"PUT", job + "/credentials", R"({"target":"SERVER","scheme":"NTLM","password":"x"})", json_type, 400, "E_INVALIDARG"},
      {"PUT", job + "/credentials", R"({"target":"SERVER","scheme":"BASIC","user":"u"})", json_type, 400, "E_INVALIDARG"},
      {"DELETE", job + "/credentials/SERVER/NTLM", "", "", 400, "E_INVALIDARG"},
      {"GET", "/api/nothing", "", "", 404, "BG_E_NOT_FOUND"},
      {"DELETE", "/api/jobs", "", "", 404, "BG_E_NOT_FOUND"},
  };
  for (const BadRequest& r : table) {
    SCOPED_TRACE(r.method + " " + r.path + " " + r.body.substr(0, 80));
    HttpAnswer a = server_->call(r.method, r.path, r.body, {}, true, r.content_type);
    EXPECT_EQ(a.status, r.status) << a.body;
    EXPECT_EQ(a.error_name(), r.name) << a.body;
    EXPECT_EQ(a.header("Content-Type"), "application/json");
    EXPECT_FALSE(a.json()["error"].value("message", "").empty());
    // Documented operations must document their refusals too.
    const std::string why = spec_.check(r.method, r.path, a.status, a.body);
    if (why.find("no documented path") == std::string::npos && why.find("is not documented") == std::string::npos) {
      EXPECT_EQ(why, "");
    }
  }
  EXPECT_EQ(queue_dump(), before) << "a refused request changed the queue";
}

}  // namespace
}  // namespace xferq::testing
