// cli.h — shared pieces of the `xferq` command.
#ifndef XFERQ_BINDINGS_CLI_CLI_H_
#define XFERQ_BINDINGS_CLI_CLI_H_

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "xferq/xferq.h"

namespace xferq::cli {

// Exit statuses.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;
constexpr int kExitInvalidState = 4;
constexpr int kExitBadArgument = 5;
constexpr int kExitInterrupted = 130;

// A failure to report: "xferq: NAME: text" on stderr, and an exit status.
struct Failure {
  int status = kExitFailure;
  std::string message;  // the whole line, without "xferq: "
};

// The exit status for an error code.
int exit_status_for(const std::error_code& ec);
// "NAME: text" for an error code (text defaults to the category's message).
std::string describe(const std::error_code& ec, const std::string& text = "");
// Prints the failure on stderr and returns its status.
int report(const Failure& f);
int report(const std::error_code& ec, const std::string& text = "");

// Output formatting (output.cc).
std::string iso8601(const TimePoint& t);
std::string hresult_hex(uint32_t hr);
nlohmann::json job_json(const JobInfo& info, const std::vector<FileInfo>* files);
nlohmann::json error_json(const JobErrorInfo& e);
nlohmann::json progress_json(const JobProgress& p);
std::string size_text(int64_t bytes);  // "UNKNOWN" for kSizeUnknown

// Global options shared by every command.
struct Globals {
  std::string db;
  bool json = false;
};

// Resolves the database path (--db, XFERQ_DB, XDG_DATA_HOME, HOME) and makes
// its directory.
// `flag`, $XFERQ_DB, or the default under XDG_DATA_HOME / HOME, made
// absolute. `create_dirs`: create its directory if missing (only commands
// that may create the queue do).
std::string resolve_db_path(const std::string& flag, bool create_dirs);

// Text from the queue made safe for a terminal: control characters (C0, DEL,
// C1) shown as \xNN, so a name, path or server-supplied message can neither
// forge a line nor send an escape sequence.
std::string shown(const std::string& text);

// Whether `path` names a PostgreSQL queue (a postgresql:// or postgres:// URL).
bool is_database_url(const std::string& path);
// A queue's location as the CLI prints or serves it: a file path through
// shown(); a PostgreSQL URL without its user-info and query, which may hold
// a password (postgresql://user:secret@host/db?password=...).
std::string shown_queue(const std::string& path);

// A custom header line as the CLI prints it: the values of Authorization,
// Proxy-Authorization and Cookie replaced by "(hidden)".
std::string hidden_secret(const std::string& header);

}  // namespace xferq::cli

#endif  // XFERQ_BINDINGS_CLI_CLI_H_
