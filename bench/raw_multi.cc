// raw_multi.cc — the raw baseline for many small files: a minimal libcurl
// multi-interface program. `concurrency` transfers at once, easy handles (and
// so connections) reused, each file written to disk (open/write/close, no
// fsync). Prints {"raw_multi_files_per_s": ..., "raw_multi_s": ...}.
//
//   xferq_raw_multi BASE_URL COUNT OUT_DIR [CONCURRENCY=16]
// BASE_URL ends with '/'; files are BASE_URL + "%05d.bin".
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Slot {
  CURL* easy = nullptr;
  int fd = -1;
  long index = -1;
};

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* s = static_cast<Slot*>(user);
  const size_t n = size * nmemb;
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(s->fd, data + done, n - done);
    if (w <= 0) return 0;
    done += static_cast<size_t>(w);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BASE_URL COUNT OUT_DIR [CONCURRENCY]\n", argv[0]);
    return 2;
  }
  const std::string base = argv[1];
  const long count = std::atol(argv[2]);
  const std::string out = argv[3];
  const int conc = argc > 4 ? std::atoi(argv[4]) : 16;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(conc * 2));
  std::vector<Slot> slots(static_cast<size_t>(conc));
  long next = 0, done = 0, failed = 0;
  auto start = [&](Slot& s) {
    if (next >= count) return;
    s.index = next++;
    char name[32];
    std::snprintf(name, sizeof name, "%05ld.bin", s.index);
    s.fd = ::open((out + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    curl_easy_setopt(s.easy, CURLOPT_URL, (base + name).c_str());
    curl_multi_add_handle(multi, s.easy);
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& s : slots) {
    s.easy = curl_easy_init();
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    start(s);
  }
  const auto deadline = t0 + std::chrono::seconds(600);
  while (done < count && std::chrono::steady_clock::now() < deadline) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int q = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &q)) {
      if (m->msg != CURLMSG_DONE) continue;
      Slot* s = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &s);
      long status = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (m->data.result != CURLE_OK || status != 200) failed++;
      curl_multi_remove_handle(multi, s->easy);
      ::close(s->fd);
      s->fd = -1;
      done++;
      start(*s);
    }
    if (done < count) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& s : slots) curl_easy_cleanup(s.easy);
  curl_multi_cleanup(multi);
  if (done < count || failed) {
    std::fprintf(stderr, "raw_multi: %ld of %ld done, %ld failed\n", done, count, failed);
    return 1;
  }
  std::printf("{\"raw_multi_s\": %.6g, \"raw_multi_files_per_s\": %.6g}\n", secs, static_cast<double>(count) / secs);
  return 0;
}
