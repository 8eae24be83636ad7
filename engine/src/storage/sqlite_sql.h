// sqlite_sql.h — what the SQLite backend's three files share: SQL fragments
// built from the state-machine table, and the readers of job and file rows.
// Private to storage/sqlite_*.cc.
#ifndef XFERQ_STORAGE_SQLITE_SQL_H_
#define XFERQ_STORAGE_SQLITE_SQL_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <string>

#include "state_machine.h"
#include "storage/store.h"

namespace xferq::detail::sqlite {

// "(0, 5)": the states of a mask as an SQL list. The numbers come from the
// table and are written into the statement text (never user input) so that
// the partial indexes of schema/003 stay usable: SQLite uses a partial index
// only when the query repeats its WHERE term with the same constants.
std::string states_sql(uint32_t mask);
// "state = 0" for one state, "state IN (1, 2)" for several: the form the
// partial indexes' WHERE clauses use.
std::string state_in(uint32_t mask);
// "0": one state.
std::string state_sql(JobState s);
// "1": one outbox kind.
std::string kind_sql(OpKind kind);

// "download_time_us = …, running_since_us = NULL": an attempt ends, and the
// time since the claim (running_since_us) counts against the job's maximum
// download time. `now` is the statement's parameter holding the time ("?3").
std::string end_running_time(const char* now);

std::string column_text(SQLite::Statement& s, int i);
// A job state read from column i. A value the table does not know means a
// damaged file: it throws SQLITE_CORRUPT (XFERQ_E_DATABASE_CORRUPT), never
// reaches the state machine.
JobState column_state(SQLite::Statement& s, int i);
void bind_text_or_null(SQLite::Statement& s, int i, const std::string& v);

// Columns of a job snapshot, with its files aggregated; read by read_job_info.
#define XFERQ_JOB_COLUMNS                                                                        \
  "j.id, j.type, j.state, j.priority, j.display_name, j.description, j.owner, j.created_us, "    \
  "j.modified_us, j.transferred_us, j.error_hresult, j.error_context, j.error_description, "     \
  "j.error_file, j.error_count, j.retry_delay_s, j.no_progress_timeout_s, "                      \
  "count(f.idx), coalesce(sum(f.completed), 0), coalesce(sum(f.bytes_transferred), 0), "        \
  "coalesce(min(f.bytes_total), 0), coalesce(sum(f.bytes_total), 0), "                            \
  "j.max_download_size, j.max_download_time_s, j.download_time_us "                              \
  "FROM jobs j LEFT JOIN files f ON f.job_id = j.id "
JobInfo read_job_info(SQLite::Statement& s);

// A job's TLS options, five columns from `first` on (read_tls).
#define XFERQ_TLS_COLUMNS                                                                      \
  "coalesce(tls_ca_bundle, ''), coalesce(tls_ca_directory, ''), coalesce(tls_client_cert, ''), " \
  "coalesce(tls_client_key, ''), coalesce(tls_key_password, '')"
TlsOptions read_tls(SQLite::Statement& s, int first);

#define XFERQ_FILE_COLUMNS \
  "idx, remote_url, local_path, temp_path, bytes_total, bytes_transferred, etag, last_modified, completed, " \
  "final_url, http_status, content_type, content_disposition, expected_size, expected_sha256, expected_sha512, ranges "
FileRow read_file_row(SQLite::Statement& s);
// How many columns XFERQ_FILE_COLUMNS lists: a query that selects more after
// them reads those from this index on.
constexpr int kFileColumnCount = 17;

}  // namespace xferq::detail::sqlite

#endif  // XFERQ_STORAGE_SQLITE_SQL_H_
