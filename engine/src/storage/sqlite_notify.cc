// sqlite_notify.cc — the SQLite backend's statements for a job's notify
// command line (schema/013_notify.sql).
#include <SQLiteCpp/SQLiteCpp.h>

#include "storage/sqlite_sql.h"
#include "storage/sqlite_store.h"
#include "xferq/error.h"

namespace xferq::detail {

std::error_code SqliteStore::set_notify_command_line(const std::string& id, const NotifyCommandLine& c,
                                                     int64_t now_us) {
  // Each argument NUL-terminated: arguments never hold NUL (validate.h), and
  // the terminators tell no argument from one empty argument.
  std::string args;
  for (const std::string& a : c.args) args.append(a).push_back('\0');
  return write_txn([&]() -> std::error_code {
    auto& up = prepare(
        "UPDATE jobs SET notify_program = ?3, notify_args = ?4, modified_us = ?5 "
        "WHERE id = ?1 AND ((1 << state) & ?2) != 0");
    up.bind(1, id);
    up.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
    up.bind(3, c.program);
    up.bind(4, args.data(), static_cast<int>(args.size()));
    up.bind(5, now_us);
    if (up.exec() == 0) return state_error_locked(id);
    return {};
  });
}

Result<NotifyCommandLine> SqliteStore::notify_command_line(const std::string& id) {
  return read_found<NotifyCommandLine>([&]() -> std::optional<NotifyCommandLine> {
    auto& s = prepare("SELECT notify_program, notify_args FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    NotifyCommandLine c;
    c.program = s.getColumn(0).getString();
    const SQLite::Column blob = s.getColumn(1);
    const auto* p = static_cast<const char*>(blob.getBlob());
    const std::string args(p ? p : "", p ? static_cast<size_t>(blob.getBytes()) : 0);
    s.reset();
    for (size_t start = 0; start < args.size();) {
      const size_t end = args.find('\0', start);
      if (end == std::string::npos) break;  // no writer leaves this; ignore a torn tail
      c.args.push_back(args.substr(start, end - start));
      start = end + 1;
    }
    return c;
  });
}

}  // namespace xferq::detail
