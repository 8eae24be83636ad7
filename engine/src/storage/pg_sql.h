// pg_sql.h — what the PostgreSQL backend's files share: SQL fragments built
// from the state-machine table, the column lists of job and file rows and
// their readers, and the mapping of database errors to the engine's codes.
// Private to storage/pg_*.cc.
#ifndef XFERQ_STORAGE_PG_SQL_H_
#define XFERQ_STORAGE_PG_SQL_H_

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <vector>

#include "state_machine.h"
#include "storage/store.h"

namespace xferq::detail::pg {

// "(0, 5)": the states of a mask as an SQL list. The numbers come from the
// table and are written into the statement text (never user input), so that
// the partial indexes of schema/postgresql/001 match the queries.
std::string states_sql(uint32_t mask);
// "state = 0" for one state, "state IN (1, 2)" for several.
std::string state_in(uint32_t mask);
std::string state_sql(JobState s);
std::string kind_sql(OpKind kind);
// "((1::bigint << state) & $N::bigint) <> 0": the state check of a call whose
// accepted states are bound as parameter N (allowed_from()).
std::string state_allowed(int param);
// "download_time_us = …, running_since_us = NULL": an attempt ends, and the
// time since the claim counts against the job's maximum download time. `now`
// is the statement's parameter holding the time ("$3::bigint").
std::string end_running_time(const std::string& now);
// An SQL array literal of texts ('{"a","b"}'), bound as a parameter and cast
// with ::text[].
std::string text_array(const std::vector<std::string>& values);

// The database server's clock in microseconds since the epoch. Leases are
// written and judged by it, so hosts whose clocks disagree never take a live
// job from each other.
#define XFERQ_PG_DB_NOW_US "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"

// A job state read from a column. A value the table does not know is damage:
// it throws BadRow, which becomes XFERQ_E_DATABASE_CORRUPT.
struct BadRow : std::runtime_error {
  using std::runtime_error::runtime_error;
};
JobState column_state(const pqxx::field& f);
std::string text_or_empty(const pqxx::field& f);

// Columns of a job snapshot, with its files aggregated; read by read_job_info.
#define XFERQ_PG_JOB_COLUMNS                                                                      \
  "j.id, j.type, j.state, j.priority, j.display_name, j.description, j.owner, j.created_us, "    \
  "j.modified_us, j.transferred_us, j.error_hresult, j.error_context, j.error_description, "     \
  "j.error_file, j.error_count, j.retry_delay_s, j.no_progress_timeout_s, "                      \
  "count(f.idx), count(f.idx) FILTER (WHERE f.completed), coalesce(sum(f.bytes_transferred), 0), " \
  "coalesce(min(f.bytes_total), 0), coalesce(sum(f.bytes_total), 0), "                          \
  "j.max_download_size, j.max_download_time_s, j.download_time_us "                              \
  "FROM jobs j LEFT JOIN files f ON f.job_id = j.id "
JobInfo read_job_info(const pqxx::row& r);

// A job's TLS options, five columns from `first` on (read_tls).
#define XFERQ_PG_TLS_COLUMNS                                                                   \
  "coalesce(tls_ca_bundle, ''), coalesce(tls_ca_directory, ''), coalesce(tls_client_cert, ''), " \
  "coalesce(tls_client_key, ''), coalesce(tls_key_password, '')"
TlsOptions read_tls(const pqxx::row& r, int first);

#define XFERQ_PG_FILE_COLUMNS                                                                              \
  "f.idx, f.remote_url, f.local_path, f.temp_path, f.bytes_total, f.bytes_transferred, f.etag, "           \
  "f.last_modified, f.completed, f.final_url, f.http_status, f.content_type, f.content_disposition, "     \
  "f.expected_size, f.expected_sha256, f.expected_sha512, f.ranges "
FileRow read_file_row(const pqxx::row& r);
constexpr int kFileColumnCount = 17;

// The engine's code for a database failure.
std::error_code to_error(const std::exception& e);

}  // namespace xferq::detail::pg

#endif  // XFERQ_STORAGE_PG_SQL_H_
