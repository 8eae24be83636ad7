// fileset.h — the list file of `xferq addfileset`: one "URL PATH" per line,
// blank lines and lines starting with '#' skipped (bitsadmin /AddFileSet).
// Pure parsing, no filesystem access: fuzzed by tests/fuzz/fuzz_fileset.cc.
#ifndef XFERQ_BINDINGS_CLI_FILESET_H_
#define XFERQ_BINDINGS_CLI_FILESET_H_

#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace xferq::cli {

struct FilesetEntry {
  std::string url;
  std::string path;  // as written (relative paths are the caller's to resolve)
};

// The entries of `in`, or false with *bad_line set to the 1-based number of
// the first line that is not "URL PATH" (two fields, nothing more).
bool parse_fileset(std::istream& in, std::vector<FilesetEntry>* out, int* bad_line);

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_FILESET_H_
