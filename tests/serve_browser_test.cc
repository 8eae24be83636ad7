// serve_browser_test.cc — the dashboard in a real browser: Debian's headless
// Chromium, driven by tests/browser/dashboard_test.mjs (puppeteer-core),
// against a real `xferq serve` and a throttled download from the fixture
// server. The page must show the progress bar moving, add a download with its
// form, and cancel the job with its button; this test then checks the queue
// file (job CANCELLED) and the download directory (no temp file left). The
// screenshot goes to the build tree (and, with XFERQ_UPDATE_SCREENSHOT=1, to
// docs/dashboard.png for the README).
//
// Skipped, saying why, only if Chromium itself cannot start here; a missing
// node or puppeteer-core (tests/browser/install.sh) is a failure.
#include <filesystem>

#include "serve_client.h"

namespace xferq::testing {
namespace {

using nlohmann::json;

// Whether Chromium starts and renders a page headless here.
bool chromium_runs(const std::string& dir, std::string* why) {
  const pid_t pid = spawn("/usr/bin/chromium",
                          {"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--dump-dom",
                           "data:text/html,<p>ok</p>"},
                          dir + "/chromium.out", dir + "/chromium.err");
  const int status = wait_exit(pid, std::chrono::milliseconds(60000));
  const bool ok = status == 0 && read_file(dir + "/chromium.out").find("<p>ok</p>") != std::string::npos;
  if (!ok) *why = "exit " + std::to_string(status) + ": " + read_file(dir + "/chromium.err").substr(0, 2000);
  return ok;
}

TEST(ServeBrowserTest, DashboardShowsProgressAddsAndCancelsInChromium) {
  ScratchDir dir;
  ASSERT_TRUE(exists(XFERQ_NODE_PATH)) << "node is missing (scripts/install-deps.sh installs nodejs)";
  ASSERT_TRUE(exists(XFERQ_BROWSER_TEST_DIR "/node_modules/puppeteer-core/package.json"))
      << "puppeteer-core is missing: run tests/browser/install.sh";
  std::string why;
  if (!exists("/usr/bin/chromium")) FAIL() << "chromium is not installed (scripts/install-deps.sh installs it)";
  if (!chromium_runs(dir.path(), &why)) GTEST_SKIP() << "Chromium cannot run on this machine: " << why;

  FixtureServer fixture;
  fixture.set("/big.bin", body_resource(make_body(16 * 1024 * 1024, 11), 256 * 1024));
  fixture.set("/small.bin", body_resource(make_body(64 * 1024, 12)));
  fixture.set("/form.bin", body_resource(make_body(4 * 1024 * 1024, 13), 128 * 1024));
  const std::string db = dir / "queue.db";
  ServeProcess server(dir.path(), db, {"--event-interval", "200"});
  auto create = [&](const std::string& name, const std::string& path, bool resume) {
    HttpAnswer a = server.post_json("/api/jobs", json{{"display_name", name}, {"resume", resume},
                                                      {"files", {{{"remote_url", fixture.url(path)},
                                                                  {"local_path", dir / (name + ".bin")}}}}});
    EXPECT_EQ(a.status, 201) << a.body;
    return a.json().value("id", std::string());
  };
  // Jobs in several states, for the page and its screenshot.
  const std::string done = create("finished-report", "/small.bin", true);
  ASSERT_TRUE(wait_for([&] { return server.call("GET", job_path(done)).json()["state"] == "TRANSFERRED"; }));
  create("paused-backup", "/small.bin", false);
  create("broken-link", "/missing.bin", true);
  const std::string big = create("nightly-image", "/big.bin", true);

  const std::string shot_dir = std::string(XFERQ_BINARY_DIR) + "/screenshots";
  std::filesystem::create_directories(shot_dir);
  const std::string shot = shot_dir + "/dashboard.png";
  std::filesystem::remove(shot);
  const pid_t node = spawn(XFERQ_NODE_PATH,
                           {XFERQ_BROWSER_TEST_DIR "/dashboard_test.mjs", server.origin() + "/", server.token(), big,
                            shot, fixture.url("/form.bin"), dir / "form.bin"},
                           dir / "node.out", dir / "node.err");
  const int status = wait_exit(node, std::chrono::milliseconds(150000));
  const std::string out = read_file(dir / "node.out");
  ASSERT_EQ(status, 0) << out << read_file(dir / "node.err");
  const json seen = json::parse(out.substr(out.rfind('{', out.find("\"ok\"")) ), nullptr, false);
  ASSERT_TRUE(seen.is_object()) << out;
  EXPECT_TRUE(seen.value("ok", false)) << out;
  EXPECT_GT(seen.value("later_percent", 0.0), seen.value("first_percent", 100.0)) << out;
  EXPECT_EQ(seen.value("final_state", ""), "CANCELLED") << out;
  EXPECT_TRUE(exists(shot)) << "no screenshot";
  std::cout << "dashboard screenshot: " << shot << "\n";
  if (const char* update = std::getenv("XFERQ_UPDATE_SCREENSHOT"); update && std::string(update) == "1")
    std::filesystem::copy_file(shot, std::string(XFERQ_SOURCE_DIR) + "/docs/dashboard.png",
                               std::filesystem::copy_options::overwrite_existing);

  // The queue file says CANCELLED, as the library reads it, and no temp file is left.
  ASSERT_EQ(server.stop(), 0) << server.err();
  QueueOptions o;
  o.start_worker = false;
  o.create_if_missing = false;
  auto q = Queue::open(db, o);
  ASSERT_TRUE(q.ok()) << q.error().message();
  auto job = (*q)->get_job(big);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(state_name(*job), "CANCELLED");
  EXPECT_FALSE(exists(dir / "nightly-image.bin"));
  for (const std::string& name : temp_files_in(dir.path()))
    EXPECT_EQ(name.find("nightly-image"), std::string::npos) << "temp file left: " << name;
  bool added = false;
  for (const JobInfo& i : *(*q)->job_infos(true)) added |= i.display_name == "added from the form";
  EXPECT_TRUE(added) << "the form's download is not in the queue";
}

}  // namespace
}  // namespace xferq::testing
