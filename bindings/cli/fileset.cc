// fileset.cc — see fileset.h.
#include "fileset.h"

#include <cctype>
#include <cstdint>

#include <sstream>

namespace xferq::cli {

bool parse_fileset(std::istream& in, std::vector<FilesetEntry>* out, int* bad_line) {
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream ls(line);
    std::string url, path, extra;
    if (!(ls >> url) || url[0] == '#') continue;
    if (!(ls >> path) || (ls >> extra)) {
      *bad_line = lineno;
      return false;
    }
    out->push_back({url, path});
  }
  return true;
}

namespace {
bool parse_u64(const std::string& v, uint64_t* n) {
  if (v.empty() || v.size() > 20) return false;
  uint64_t x = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *n = x;
  return true;
}
}  // namespace

bool parse_range_list(const std::string& text, std::vector<FileRange>* out) {
  out->clear();
  size_t at = 0;
  while (true) {
    const size_t comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    const size_t colon = item.find(':');
    if (colon == std::string::npos) return false;
    FileRange r;
    std::string len = item.substr(colon + 1);
    for (char& c : len) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!parse_u64(item.substr(0, colon), &r.offset)) return false;
    if (len == "eof")
      r.length = kLengthToEof;
    else if (!parse_u64(len, &r.length))
      return false;
    out->push_back(r);
    if (comma == std::string::npos) return true;
    at = comma + 1;
  }
}

std::string range_list_text(const std::vector<FileRange>& ranges) {
  std::string out;
  for (const FileRange& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.offset) + ':' + (r.length == kLengthToEof ? std::string("eof") : std::to_string(r.length));
  }
  return out;
}

}  // namespace xferq::cli
