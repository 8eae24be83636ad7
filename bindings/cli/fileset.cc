// fileset.cc — see fileset.h.
#include "fileset.h"

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

}  // namespace xferq::cli
