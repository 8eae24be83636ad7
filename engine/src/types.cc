// types.cc — BITS's names for states, priorities, types and error contexts.
#include "xferq/types.h"

#include <array>
#include <cctype>

namespace xferq {
namespace {

constexpr std::array<std::string_view, 9> kStates = {
    "QUEUED", "CONNECTING", "TRANSFERRING", "SUSPENDED", "ERROR",
    "TRANSIENT_ERROR", "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED"};
constexpr std::array<std::string_view, 4> kPriorities = {"FOREGROUND", "HIGH", "NORMAL", "LOW"};
constexpr std::array<std::string_view, 3> kTypes = {"DOWNLOAD", "UPLOAD", "UPLOAD_REPLY"};
constexpr std::array<std::string_view, 8> kContexts = {
    "NONE", "UNKNOWN", "GENERAL_QUEUE_MANAGER", "QUEUE_MANAGER_NOTIFICATION",
    "LOCAL_FILE", "REMOTE_FILE", "GENERAL_TRANSPORT", "REMOTE_APPLICATION"};

template <size_t N>
std::string_view name_of(const std::array<std::string_view, N>& names, int value) {
  return value >= 0 && static_cast<size_t>(value) < N ? names[value] : std::string_view("UNKNOWN");
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != static_cast<unsigned char>(b[i])) return false;
  return true;
}

template <size_t N, typename E>
bool parse(const std::array<std::string_view, N>& names, std::string_view text, E* out) {
  for (size_t i = 0; i < N; ++i) {
    if (iequals(text, names[i])) {
      *out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view to_string(JobState s) noexcept { return name_of(kStates, static_cast<int>(s)); }
std::string_view to_string(JobPriority p) noexcept { return name_of(kPriorities, static_cast<int>(p)); }
std::string_view to_string(JobType t) noexcept { return name_of(kTypes, static_cast<int>(t)); }
std::string_view to_string(ErrorContext c) noexcept { return name_of(kContexts, static_cast<int>(c)); }

bool parse_state(std::string_view name, JobState* out) noexcept {
  // bitsadmin spells it "Canceled"; accept both.
  if (iequals(name, "CANCELED")) {
    *out = JobState::cancelled;
    return true;
  }
  return parse(kStates, name, out);
}
bool parse_priority(std::string_view name, JobPriority* out) noexcept { return parse(kPriorities, name, out); }

}  // namespace xferq
