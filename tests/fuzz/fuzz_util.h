// fuzz_util.h — what the libFuzzer targets share: a property check that
// aborts (libFuzzer then saves the input as a crash reproducer).
#ifndef XFERQ_TESTS_FUZZ_FUZZ_UTIL_H_
#define XFERQ_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// Not assert(): holds under NDEBUG too, and names the property.
#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace xferq_fuzz {

// The input split at '\n'; each line keeps its '\n' (as libcurl hands a
// header line to the header callback, "Name: value\r\n"), the last one has
// none if the input does not end with one.
inline std::vector<std::string_view> split_lines(std::string_view in) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < in.size()) {
    size_t nl = in.find('\n', start);
    size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
    out.push_back(in.substr(start, end - start));
    start = end;
  }
  return out;
}

// A line without its trailing "\r\n" / "\n".
inline std::string_view chomp(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

}  // namespace xferq_fuzz

#endif  // XFERQ_TESTS_FUZZ_FUZZ_UTIL_H_
