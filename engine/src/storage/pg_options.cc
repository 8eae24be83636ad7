// pg_options.cc — the PostgreSQL backend's statements for a job's HTTP
// options (custom headers, credentials, proxy, security flags, TLS, remote
// names), its notify command line, and bandwidth limits. Secrets (passwords,
// tokens, a key's passphrase) are written here and read back only for the
// worker.
#include <pqxx/pqxx>

#include "storage/pg_sql.h"
#include "storage/pg_store.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

using pg::state_allowed;

namespace {
// The names of the per-priority rows of bandwidth_settings, by JobPriority.
const char* const kPriorityNames[4] = {"priority_limit.0", "priority_limit.1", "priority_limit.2",
                                       "priority_limit.3"};
}  // namespace

Result<std::string> PgStore::custom_headers(const std::string& id) {
  return read_found<std::string>([&](Txn& tx) -> std::optional<std::string> {
    const pqxx::result r = tx.exec_params("SELECT coalesce(custom_headers, '') FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<std::string>();
  });
}

Result<uint32_t> PgStore::security_flags(const std::string& id) {
  return read_found<uint32_t>([&](Txn& tx) -> std::optional<uint32_t> {
    const pqxx::result r = tx.exec_params("SELECT security_flags FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return static_cast<uint32_t>(r[0][0].as<int64_t>());
  });
}

std::error_code PgStore::set_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                         std::string_view user, std::string_view password, int64_t now_us) {
  return write_txn([&](Txn& tx) -> std::error_code {
    if (std::error_code ec = touch_settable(tx, id, now_us)) return ec;
    tx.exec_params(
        "INSERT INTO credentials (job_id, target, scheme, user_name, password) "
        "VALUES ($1, $2::integer, $3::integer, $4, $5) "
        "ON CONFLICT (job_id, target, scheme) DO UPDATE SET user_name = excluded.user_name, "
        "password = excluded.password",
        id, static_cast<int>(target), static_cast<int>(scheme), std::string(user), std::string(password));
    return {};
  });
}

std::error_code PgStore::remove_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                            int64_t now_us) {
  return write_txn([&](Txn& tx) -> std::error_code {
    if (std::error_code ec = touch_settable(tx, id, now_us)) return ec;
    tx.exec_params("DELETE FROM credentials WHERE job_id = $1 AND target = $2::integer AND scheme = $3::integer", id,
                   static_cast<int>(target), static_cast<int>(scheme));
    return {};
  });
}

Result<std::vector<Credential>> PgStore::credentials(const std::string& id) {
  return read<std::vector<Credential>>([&](Txn& tx) {
    std::vector<Credential> out;
    for (const pqxx::row& r : tx.exec_params(
             "SELECT target, scheme, user_name, password FROM credentials WHERE job_id = $1 ORDER BY target, scheme",
             id))
      out.push_back(Credential{static_cast<AuthTarget>(r[0].as<int>()), static_cast<AuthScheme>(r[1].as<int>()),
                               r[2].as<std::string>(), r[3].as<std::string>()});
    return out;
  });
}

std::error_code PgStore::set_proxy_settings(const std::string& id, const ProxySettings& p, int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET proxy_usage = $3::integer, proxy_list = nullif($4, ''), proxy_bypass = nullif($5, ''), "
      "modified_us = $6::bigint WHERE id = $1 AND " + state_allowed(2);
  return write_txn([&](Txn& tx) -> std::error_code {
    if (tx.exec_params(sql, id, static_cast<int64_t>(allowed_from(Call::set_property)), static_cast<int>(p.usage),
                       p.proxy_list, p.bypass_list, now_us)
            .affected_rows() == 0)
      return state_error(tx, id);
    return {};
  });
}

Result<ProxySettings> PgStore::proxy_settings(const std::string& id) {
  return read_found<ProxySettings>([&](Txn& tx) -> std::optional<ProxySettings> {
    const pqxx::result r = tx.exec_params(
        "SELECT proxy_usage, coalesce(proxy_list, ''), coalesce(proxy_bypass, '') FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return ProxySettings{static_cast<ProxyUsage>(r[0][0].as<int>()), r[0][1].as<std::string>(),
                         r[0][2].as<std::string>()};
  });
}

std::error_code PgStore::set_tls_options(const std::string& id, const TlsOptions& t, int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET tls_ca_bundle = nullif($3, ''), tls_ca_directory = nullif($4, ''), "
      "tls_client_cert = nullif($5, ''), tls_client_key = nullif($6, ''), "
      "tls_key_password = CASE WHEN $9::boolean THEN tls_key_password ELSE nullif($7, '') END, "
      "modified_us = $8::bigint WHERE id = $1 AND " + state_allowed(2);
  return write_txn([&](Txn& tx) -> std::error_code {
    // Options read back (passphrase blank, flag set) keep the stored passphrase.
    const bool keep_password = t.has_client_key_password && t.client_key_password.empty();
    if (tx.exec_params(sql, id, static_cast<int64_t>(allowed_from(Call::set_property)), t.ca_bundle, t.ca_directory,
                       t.client_certificate, t.client_key, t.client_key_password, now_us, keep_password)
            .affected_rows() == 0)
      return state_error(tx, id);
    return {};
  });
}

Result<TlsOptions> PgStore::tls_options(const std::string& id) {
  return read_found<TlsOptions>([&](Txn& tx) -> std::optional<TlsOptions> {
    const pqxx::result r = tx.exec_params("SELECT " XFERQ_PG_TLS_COLUMNS " FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return pg::read_tls(r[0], 0);
  });
}

std::error_code PgStore::set_remote_name(const std::string& id, int64_t idx, const std::string& url,
                                         int64_t now_us) {
  return write_txn([&](Txn& tx) -> std::error_code {
    if (std::error_code ec = touch_settable(tx, id, now_us)) return ec;
    if (tx.exec_params("UPDATE files SET remote_url = $3 WHERE job_id = $1 AND idx = $2::bigint", id, idx, url)
            .affected_rows() == 0)
      return make_error_code(Errc::invalid_arg);  // no such file: nothing changed
    return {};
  });
}

std::error_code PgStore::replace_remote_prefix(const std::string& id, const std::string& old_prefix,
                                               const std::string& new_prefix, const UrlCheck& check_url,
                                               int64_t now_us) {
  return write_txn([&](Txn& tx) -> std::error_code {
    if (std::error_code ec = touch_settable(tx, id, now_us)) return ec;
    // The new URLs are computed and checked before any row changes: all or none.
    std::vector<std::pair<int64_t, std::string>> changes;
    for (const pqxx::row& r : tx.exec_params("SELECT idx, remote_url FROM files WHERE job_id = $1 ORDER BY idx", id)) {
      const std::string url = r[1].as<std::string>();
      if (url.compare(0, old_prefix.size(), old_prefix) != 0) continue;
      changes.emplace_back(r[0].as<int64_t>(), new_prefix + url.substr(old_prefix.size()));
    }
    for (const auto& c : changes)
      if (std::error_code ec = check_url(c.second)) return ec;
    for (const auto& c : changes)
      tx.exec_params("UPDATE files SET remote_url = $3 WHERE job_id = $1 AND idx = $2::bigint", id, c.first, c.second);
    return {};
  });
}

std::error_code PgStore::set_notify_command_line(const std::string& id, const NotifyCommandLine& c,
                                                 int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET notify_program = $3, notify_args = $4, modified_us = $5::bigint WHERE id = $1 AND " +
      state_allowed(2);
  // Each argument NUL-terminated: arguments never hold NUL (validate.h), and
  // the terminators tell no argument from one empty argument. A bytea, bound
  // in binary.
  std::string args;
  for (const std::string& a : c.args) args.append(a).push_back('\0');
  return write_txn([&](Txn& tx) -> std::error_code {
    const pqxx::binarystring blob(args.data(), args.size());
    if (tx.exec_params(sql, id, static_cast<int64_t>(allowed_from(Call::set_property)), c.program, blob, now_us)
            .affected_rows() == 0)
      return state_error(tx, id);
    return {};
  });
}

Result<NotifyCommandLine> PgStore::notify_command_line(const std::string& id) {
  return read_found<NotifyCommandLine>([&](Txn& tx) -> std::optional<NotifyCommandLine> {
    const pqxx::result r = tx.exec_params("SELECT notify_program, notify_args FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    NotifyCommandLine c;
    c.program = r[0][0].as<std::string>();
    const pqxx::binarystring blob(r[0][1]);
    const std::string args = blob.str();
    for (size_t start = 0; start < args.size();) {
      const size_t end = args.find('\0', start);
      if (end == std::string::npos) break;  // no writer leaves this; ignore a torn tail
      c.args.push_back(args.substr(start, end - start));
      start = end + 1;
    }
    return c;
  });
}

// ---- Bandwidth ----------------------------------------------------------------------

BandwidthSettings PgStore::bandwidth_settings_of(Txn& tx) {
  BandwidthSettings out;
  for (const pqxx::row& r : tx.exec("SELECT name, value FROM bandwidth_settings")) {
    const std::string name = r[0].as<std::string>();
    const int64_t value = r[1].as<int64_t>();
    if (name == "queue_limit") out.queue_limit = value;
    for (int p = 0; p < 4; ++p)
      if (name == kPriorityNames[p]) out.priority_limits[p] = value;
  }
  for (const pqxx::row& r :
       tx.exec("SELECT days, start_hour, end_hour, bytes_per_sec FROM bandwidth_schedule ORDER BY position")) {
    BandwidthWindow w;
    w.days = static_cast<uint8_t>(r[0].as<int>());
    w.start_hour = r[1].as<int>();
    w.end_hour = r[2].as<int>();
    w.bytes_per_sec = r[3].as<int64_t>();
    out.schedule.push_back(w);
  }
  return out;
}

Result<BandwidthSettings> PgStore::bandwidth_settings() {
  return read<BandwidthSettings>([&](Txn& tx) { return bandwidth_settings_of(tx); });
}

std::error_code PgStore::set_queue_bandwidth_limit(std::optional<int64_t> bytes_per_sec) {
  return write_txn([&](Txn& tx) -> std::error_code {
    if (!bytes_per_sec)
      tx.exec("DELETE FROM bandwidth_settings WHERE name = 'queue_limit'");
    else
      tx.exec_params(
          "INSERT INTO bandwidth_settings (name, value) VALUES ('queue_limit', $1::bigint) "
          "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
          *bytes_per_sec);
    return {};
  });
}

std::error_code PgStore::set_priority_bandwidth_limit(JobPriority priority, int64_t bytes_per_sec) {
  const int p = static_cast<int>(priority);
  if (p < 0 || p > 3) return make_error_code(Errc::invalid_arg);
  return write_txn([&](Txn& tx) -> std::error_code {
    tx.exec_params(
        "INSERT INTO bandwidth_settings (name, value) VALUES ($1, $2::bigint) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        std::string(kPriorityNames[p]), bytes_per_sec);
    return {};
  });
}

std::error_code PgStore::set_bandwidth_schedule(const std::vector<BandwidthWindow>& schedule) {
  return write_txn([&](Txn& tx) -> std::error_code {
    tx.exec("DELETE FROM bandwidth_schedule");
    int64_t position = 0;
    for (const BandwidthWindow& w : schedule)
      tx.exec_params(
          "INSERT INTO bandwidth_schedule (position, days, start_hour, end_hour, bytes_per_sec) "
          "VALUES ($1::bigint, $2::integer, $3::integer, $4::integer, $5::bigint)",
          position++, static_cast<int>(w.days), w.start_hour, w.end_hour, w.bytes_per_sec);
    return {};
  });
}

std::error_code PgStore::set_job_bandwidth_limit(const std::string& id, int64_t bytes_per_sec, int64_t now_us) {
  static const std::string sql =
      "UPDATE jobs SET bandwidth_limit = $3::bigint, modified_us = $4::bigint WHERE id = $1 AND " + state_allowed(2);
  return write_txn([&](Txn& tx) -> std::error_code {
    if (tx.exec_params(sql, id, static_cast<int64_t>(allowed_from(Call::set_property)), bytes_per_sec, now_us)
            .affected_rows() == 0)
      return state_error(tx, id);
    return {};
  });
}

Result<int64_t> PgStore::job_bandwidth_limit(const std::string& id) {
  return read_found<int64_t>([&](Txn& tx) -> std::optional<int64_t> {
    const pqxx::result r = tx.exec_params("SELECT bandwidth_limit FROM jobs WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<int64_t>();
  });
}

Result<std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>> PgStore::bandwidth_state(
    const std::vector<std::string>& job_ids) {
  using State = std::pair<BandwidthSettings, std::map<std::string, JobBandwidth>>;
  return read<State>([&](Txn& tx) {
    State out;
    out.first = bandwidth_settings_of(tx);
    for (const pqxx::row& r : tx.exec_params("SELECT id, priority, bandwidth_limit FROM jobs WHERE id = ANY($1::text[])",
                                             pg::text_array(job_ids))) {
      JobBandwidth jb;
      jb.priority = static_cast<JobPriority>(r[1].as<int>());
      jb.limit = r[2].as<int64_t>();
      out.second[r[0].as<std::string>()] = jb;
    }
    return out;
  });
}

}  // namespace xferq::detail
