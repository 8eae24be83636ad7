// fileset.h — the list file of `xferq addfileset`: one "URL PATH" per line,
// blank lines and lines starting with '#' skipped (bitsadmin /AddFileSet).
// Pure parsing, no filesystem access: fuzzed by tests/fuzz/fuzz_fileset.cc.
#ifndef XFERQ_BINDINGS_CLI_FILESET_H_
#define XFERQ_BINDINGS_CLI_FILESET_H_

#include <istream>
#include <string>
#include <utility>
#include <vector>

#include "xferq/types.h"

namespace xferq::cli {

struct FilesetEntry {
  std::string url;
  std::string path;  // as written (relative paths are the caller's to resolve)
};

// The entries of `in`, or false with *bad_line set to the 1-based number of
// the first line that is not "URL PATH" (two fields, nothing more).
bool parse_fileset(std::istream& in, std::vector<FilesetEntry>* out, int* bad_line);

// The ranges of `xferq addfilewithranges` (bitsadmin /AddFileWithRanges):
// "OFFSET:LENGTH[,OFFSET:LENGTH...]" in decimal, LENGTH "eof" (any case) for
// to the end of the file. False on anything else (empty items, signs,
// spaces, overflow). The engine checks what the ranges mean.
bool parse_range_list(const std::string& text, std::vector<FileRange>* out);
// The same text for a list (for info).
std::string range_list_text(const std::vector<FileRange>& ranges);

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_FILESET_H_
