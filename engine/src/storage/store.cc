// store.cc — Store::open(): the path names the backend; local_files_base():
// where a process keeps the worker's lock and wake-up socket for a queue.
#include "storage/store.h"

#include "validate.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "storage/sqlite_store.h"

namespace xferq::detail {

namespace {
bool is_server_url(const std::string& path) {
  return path.rfind("postgresql://", 0) == 0 || path.rfind("postgres://", 0) == 0;
}
}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path, const QueueOptions& options) {
  if (is_server_url(path)) return open_server_store(path, options);
  return SqliteStore::open(path, options);
}

std::string host_identity(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("XFERQ_HOST_ID"); env && *env) return env;
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0) std::snprintf(name, sizeof name, "localhost");
  std::string machine;
  std::ifstream in("/etc/machine-id");
  std::getline(in, machine);
  return std::string(name) + (machine.empty() ? "" : "-" + machine.substr(0, 12));
}

std::string local_files_base(const std::string& path, const std::string& host) {
  if (!is_server_url(path)) return path;
  // FNV-1a of the URL and the host identity: the same queue on one host
  // names the same lock (one serving worker) without writing the URL, which
  // may hold a password, into a file name.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : path + '\n' + host) h = (h ^ c) * 1099511628211ull;
  char name[64];
  std::snprintf(name, sizeof name, "xferq-%016" PRIx64, h);
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  return ((ec ? std::filesystem::path("/tmp") : dir) / name).string();
}

std::string reply_source(const std::string& target) {
  static const std::string suffix = ".reply";
  if (target.size() <= suffix.size() || target.compare(target.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::string();
  return target.substr(0, target.size() - suffix.size());
}

std::vector<FileInfo> file_infos(const std::vector<FileRow>& rows) {
  std::vector<FileInfo> out;
  for (const FileRow& r : rows)
    out.push_back(FileInfo{redact_url(r.remote_url), r.local_path, r.temp_path, r.bytes_total,
                           r.bytes_transferred, r.completed, redact_url(r.final_url), r.http_status, r.etag,
                           r.last_modified, r.content_type, r.content_disposition, r.expected, r.ranges});
  return out;
}

}  // namespace xferq::detail
