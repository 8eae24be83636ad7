// fuzz_fileset.cc — libFuzzer target: the list file of `xferq addfileset`
// (bindings/cli/fileset.h). Properties: it never crashes; every entry has a
// URL and a path without white space, and a URL that does not start with '#';
// a list that parses parses again to the same entries when written back out.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fileset.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  std::vector<xferq::cli::FilesetEntry> entries;
  int bad = 0;
  if (!xferq::cli::parse_fileset(in, &entries, &bad)) {
    FUZZ_CHECK(bad >= 1);
    return 0;
  }
  std::string again;
  for (const auto& e : entries) {
    FUZZ_CHECK(!e.url.empty() && !e.path.empty() && e.url[0] != '#');
    for (char c : e.url + e.path) FUZZ_CHECK(!std::isspace(static_cast<unsigned char>(c)));
    again += e.url + " " + e.path + "\n";
  }
  std::istringstream in2(again);
  std::vector<xferq::cli::FilesetEntry> entries2;
  FUZZ_CHECK(xferq::cli::parse_fileset(in2, &entries2, &bad));
  FUZZ_CHECK(entries2.size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    FUZZ_CHECK(entries2[i].url == entries[i].url && entries2[i].path == entries[i].path);
  return 0;
}
