// commands_bandwidth.cc — the subcommands of bandwidth limits
// (xferq/bandwidth.h): the queue-wide and per-priority limits, the schedule,
// a job's own limit, and getbandwidth to show them. Every argument is checked
// before the queue is opened, so a bad one changes nothing.
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "command_support.h"
#include "commands.h"

namespace xferq::cli {
namespace {

const char* const kDayNames[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "20000000", or with a decimal suffix: "20M", "500k", "1G". 0: no limit.
int64_t parse_rate(const std::string& text) {
  const std::string bad = "the limit must be bytes per second (a number, optionally with k, M or G; 0: none): " + shown(text);
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) fail_arg(bad);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || !end) fail_arg(bad);
  unsigned long long mult = 1;
  const std::string suffix = lower(end);
  if (suffix == "k") mult = 1000;
  else if (suffix == "m") mult = 1000 * 1000;
  else if (suffix == "g") mult = 1000 * 1000 * 1000;
  else if (!suffix.empty()) fail_arg(bad);
  if (v > static_cast<unsigned long long>(kMaxBandwidthLimit) / mult) fail_arg("the limit is too large: " + shown(text));
  return static_cast<int64_t>(v * mult);
}

int day_index(const std::string& name) {
  for (int d = 0; d < 7; ++d)
    if (lower(name) == kDayNames[d]) return d;
  return -1;
}

// "mon-fri", "sat,sun", "mon", "all": a day mask. A range may wrap
// ("fri-mon").
uint8_t parse_days(const std::string& text) {
  if (lower(text) == "all" || lower(text) == "daily") return kEveryDay;
  uint8_t mask = 0;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    const int a = day_index(part.substr(0, dash));
    const int b = dash == std::string::npos ? a : day_index(part.substr(dash + 1));
    if (a < 0 || b < 0) fail_arg("unknown days " + shown(text) + " (e.g. mon-fri, sat,sun, all)");
    for (int d = a;; d = (d + 1) % 7) {
      mask |= static_cast<uint8_t>(1u << d);
      if (d == b) break;
    }
  }
  if (mask == 0) fail_arg("no days in " + shown(text));
  return mask;
}

// "09-17": [9, 17). 24 is the end of the day.
void parse_hours(const std::string& text, BandwidthWindow* w) {
  const std::string bad = "hours must be START-END, 0-24, START before END (e.g. 09-17): " + shown(text);
  const auto dash = text.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 >= text.size()) fail_arg(bad);
  for (size_t i = 0; i < text.size(); ++i)
    if (i != dash && !std::isdigit(static_cast<unsigned char>(text[i]))) fail_arg(bad);
  if (dash > 2 || text.size() - dash - 1 > 2) fail_arg(bad);
  w->start_hour = std::stoi(text.substr(0, dash));
  w->end_hour = std::stoi(text.substr(dash + 1));
  if (w->start_hour > 23 || w->end_hour > 24 || w->end_hour <= w->start_hour) fail_arg(bad);
}

// "DAYS HOURS RATE", e.g. "mon-fri 09-17 1M".
BandwidthWindow parse_window(const std::string& text) {
  std::stringstream ss(text);
  std::string days, hours, rate, extra;
  if (!(ss >> days >> hours >> rate) || (ss >> extra))
    fail_arg("a window is \"DAYS START-END BYTES_PER_SEC\" (e.g. \"mon-fri 09-17 1M\"): " + shown(text));
  BandwidthWindow w;
  w.days = parse_days(days);
  parse_hours(hours, &w);
  w.bytes_per_sec = parse_rate(rate);
  return w;
}

std::string days_text(uint8_t mask) {
  if (mask == kEveryDay) return "all";
  std::string out;
  for (int d = 0; d < 7; ++d)
    if (mask & (1u << d)) out += (out.empty() ? "" : ",") + std::string(kDayNames[d]);
  return out;
}

std::string rate_text(int64_t v) { return v ? std::to_string(v) + " bytes/s" : "none"; }

std::string two_digits(int h) { return (h < 10 ? "0" : "") + std::to_string(h); }

}  // namespace

int cmd_setbandwidth(const Globals& g, const std::string& rate, const std::string& priority) {
  return guarded([&] {
    const int64_t v = parse_rate(rate);
    JobPriority p = JobPriority::normal;
    if (!priority.empty() && !parse_priority(priority, &p))
      fail_arg("unknown priority '" + priority + "' (FOREGROUND, HIGH, NORMAL or LOW)");
    auto q = open_queue(g, false);
    if (priority.empty()) {
      if (auto ec = q->set_bandwidth_limit(v)) fail(ec, "cannot set the queue's bandwidth limit");
      std::cout << "Queue bandwidth limit set to " << rate_text(v) << ".\n";
    } else {
      if (auto ec = q->set_priority_bandwidth_limit(p, v)) fail(ec, "cannot set the priority's bandwidth limit");
      std::cout << to_string(p) << " bandwidth limit set to " << rate_text(v) << ".\n";
    }
    return kExitOk;
  });
}

int cmd_setjobbandwidth(const Globals& g, const std::string& jobref, const std::string& rate) {
  return guarded([&] {
    const int64_t v = parse_rate(rate);
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    check(job.set_bandwidth_limit(v), job, "set the bandwidth limit of");
    std::cout << "Job bandwidth limit set to " << rate_text(v) << ".\n";
    return kExitOk;
  });
}

int cmd_getjobbandwidth(const Globals& g, const std::string& jobref) {
  return guarded([&] {
    auto q = open_queue(g, false);
    Job job = find_job(*q, jobref);
    std::cout << get(job.bandwidth_limit()) << "\n";
    return kExitOk;
  });
}

int cmd_setbandwidthschedule(const Globals& g, const std::vector<std::string>& windows) {
  return guarded([&] {
    std::vector<BandwidthWindow> schedule;
    for (const std::string& w : windows) schedule.push_back(parse_window(w));
    auto q = open_queue(g, false);
    if (auto ec = q->set_bandwidth_schedule(schedule)) fail(ec, "cannot set the bandwidth schedule");
    if (schedule.empty())
      std::cout << "Bandwidth schedule removed.\n";
    else
      std::cout << "Bandwidth schedule set (" << schedule.size() << " window" << (schedule.size() > 1 ? "s" : "")
                << ").\n";
    return kExitOk;
  });
}

int cmd_getbandwidth(const Globals& g) {
  return guarded([&] {
    auto q = open_queue(g, false);
    const int64_t queue_limit = get(q->bandwidth_limit());
    const std::vector<BandwidthWindow> schedule = get(q->bandwidth_schedule());
    int64_t prio[4];
    for (int p = 0; p < 4; ++p) prio[p] = get(q->priority_bandwidth_limit(static_cast<JobPriority>(p)));
    if (g.json) {
      nlohmann::json j;
      j["queue_limit"] = queue_limit;
      for (int p = 0; p < 4; ++p) j["priority_limits"][std::string(to_string(static_cast<JobPriority>(p)))] = prio[p];
      j["schedule"] = nlohmann::json::array();
      for (const BandwidthWindow& w : schedule)
        j["schedule"].push_back({{"days", days_text(w.days)}, {"start_hour", w.start_hour},
                                 {"end_hour", w.end_hour}, {"bytes_per_sec", w.bytes_per_sec}});
      print_json(j);
      return kExitOk;
    }
    std::cout << "Queue limit: " << rate_text(queue_limit) << (schedule.empty() ? "" : " (outside the schedule)")
              << "\n";
    for (int p = 0; p < 4; ++p)
      std::cout << to_string(static_cast<JobPriority>(p)) << " limit: " << rate_text(prio[p]) << "\n";
    for (const BandwidthWindow& w : schedule)
      std::cout << "Window: " << days_text(w.days) << " " << two_digits(w.start_hour) << "-"
                << two_digits(w.end_hour) << " " << rate_text(w.bytes_per_sec) << "\n";
    return kExitOk;
  });
}

}  // namespace xferq::cli
