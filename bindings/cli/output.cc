// output.cc — text and JSON rendering of jobs for the `xferq` command.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include <cctype>

#include "cli.h"

namespace xferq::cli {

std::string iso8601(const TimePoint& t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) { frac += 1000; --secs; }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string hresult_hex(uint32_t hr) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", hr);
  return buf;
}

std::string size_text(int64_t bytes) {
  return bytes == kSizeUnknown ? std::string("UNKNOWN") : std::to_string(bytes);
}

nlohmann::json error_json(const JobErrorInfo& e) {
  nlohmann::json j;
  j["hresult"] = hresult_hex(e.hresult);
  j["name"] = hresult_name(e.hresult);
  j["context"] = std::string(to_string(e.context));
  j["description"] = e.description;
  j["file_index"] = e.file_index ? nlohmann::json(*e.file_index) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json progress_json(const JobProgress& p) {
  nlohmann::json j;
  j["bytes_total"] = p.bytes_total == kSizeUnknown ? nlohmann::json(nullptr) : nlohmann::json(p.bytes_total);
  j["bytes_transferred"] = p.bytes_transferred;
  j["files_total"] = p.files_total;
  j["files_transferred"] = p.files_transferred;
  return j;
}

nlohmann::json job_json(const JobInfo& info, const std::vector<FileInfo>* files) {
  nlohmann::json j;
  j["id"] = info.id;
  j["type"] = std::string(to_string(info.type));
  j["display_name"] = info.display_name;
  j["description"] = info.description;
  j["owner"] = info.owner;
  j["state"] = std::string(to_string(info.state));
  j["priority"] = std::string(to_string(info.priority));
  const nlohmann::json progress = progress_json(info.progress);
  for (auto it = progress.begin(); it != progress.end(); ++it) j[it.key()] = it.value();
  j["error_count"] = info.error_count;
  j["error"] = info.error ? error_json(*info.error) : nlohmann::json(nullptr);
  j["creation_time"] = iso8601(info.times.creation);
  j["modification_time"] = iso8601(info.times.modification);
  j["transfer_completion_time"] =
      info.times.transfer_completion ? nlohmann::json(iso8601(*info.times.transfer_completion)) : nlohmann::json(nullptr);
  j["minimum_retry_delay"] = info.minimum_retry_delay.count();
  j["no_progress_timeout"] = info.no_progress_timeout.count();
  j["max_download_size"] = info.max_download_size;
  j["maximum_download_time"] = info.maximum_download_time.count();
  j["download_time_used"] = info.download_time_used.count();
  if (files) {
    nlohmann::json arr = nlohmann::json::array();
    for (const FileInfo& f : *files) {
      nlohmann::json fj;
      fj["remote_url"] = f.remote_url;
      fj["local_path"] = f.local_path;
      if (!f.final_url.empty()) fj["final_url"] = f.final_url;
      fj["temp_path"] = f.temp_path;
      fj["bytes_total"] = f.bytes_total == kSizeUnknown ? nlohmann::json(nullptr) : nlohmann::json(f.bytes_total);
      fj["bytes_transferred"] = f.bytes_transferred;
      fj["completed"] = f.completed;
      // What the server last answered (null before any response).
      fj["http_status"] = f.http_status ? nlohmann::json(f.http_status) : nlohmann::json(nullptr);
      auto text_or_null = [](const std::string& v) { return v.empty() ? nlohmann::json(nullptr) : nlohmann::json(v); };
      fj["etag"] = text_or_null(f.etag);
      fj["last_modified"] = text_or_null(f.last_modified);
      fj["content_type"] = text_or_null(f.content_type);
      fj["content_disposition"] = text_or_null(f.content_disposition);
      fj["expected_size"] = f.integrity.size >= 0 ? nlohmann::json(f.integrity.size) : nlohmann::json(nullptr);
      fj["expected_sha256"] = text_or_null(f.integrity.sha256);
      fj["expected_sha512"] = text_or_null(f.integrity.sha512);
      if (!f.ranges.empty()) {
        auto ranges = nlohmann::json::array();
        for (const FileRange& r : f.ranges)
          ranges.push_back({{"offset", r.offset},
                            {"length", r.length == kLengthToEof ? nlohmann::json("eof") : nlohmann::json(r.length)}});
        fj["ranges"] = std::move(ranges);
      }
      arr.push_back(std::move(fj));
    }
    j["files"] = std::move(arr);
  }
  return j;
}

bool is_database_url(const std::string& path) {
  return path.rfind("postgresql://", 0) == 0 || path.rfind("postgres://", 0) == 0;
}

std::string shown_queue(const std::string& path) {
  if (!is_database_url(path)) return shown(path);
  const size_t authority = path.find("://") + 3;
  const size_t path_start = std::min(path.find_first_of("/?#", authority), path.size());
  std::string host = path.substr(authority, path_start - authority);
  const size_t at = host.rfind('@');
  if (at != std::string::npos) host = "***@" + host.substr(at + 1);
  const size_t query = std::min(path.find_first_of("?#", path_start), path.size());
  return shown(path.substr(0, authority) + host + path.substr(path_start, query - path_start));
}

std::string shown(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (c < 0x20 || c == 0x7F || c1) {
      const unsigned char v = c1 ? static_cast<unsigned char>(text[++i]) : c;
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[v >> 4];
      out += kHex[v & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string hidden_secret(const std::string& header) {
  const auto colon = header.find(':');
  if (colon == std::string::npos) return header;
  std::string name = header.substr(0, colon);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "authorization" || name == "proxy-authorization" || name == "cookie")
    return header.substr(0, colon) + ": (hidden)";
  return header;
}

}  // namespace xferq::cli
