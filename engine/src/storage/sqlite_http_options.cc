// sqlite_http_options.cc — the SQLite backend's statements for a job's HTTP
// options: custom headers, credentials, proxy settings, security flags, TLS
// options and remote names. Secrets (passwords, tokens, a key's passphrase)
// are written here and read back only for the worker.
#include <SQLiteCpp/SQLiteCpp.h>

#include "storage/sqlite_sql.h"
#include "storage/sqlite_store.h"
#include "validate.h"
#include "xferq/error.h"

namespace xferq::detail {

Result<std::string> SqliteStore::custom_headers(const std::string& id) {
  return read_found<std::string>([&]() -> std::optional<std::string> {
    auto& s = prepare("SELECT coalesce(custom_headers, '') FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    std::string h = s.getColumn(0).getString();
    s.reset();
    return h;
  });
}

std::error_code SqliteStore::touch_settable_locked(const std::string& id, int64_t now_us) {
  // The state rule of a property (allowed_from(set_property)): any state that
  // is not final.
  auto& up = prepare("UPDATE jobs SET modified_us = ?3 WHERE id = ?1 AND ((1 << state) & ?2) != 0");
  up.bind(1, id);
  up.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
  up.bind(3, now_us);
  return up.exec() == 0 ? state_error_locked(id) : std::error_code();
}

std::error_code SqliteStore::set_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                             std::string_view user, std::string_view password, int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    if (std::error_code ec = touch_settable_locked(id, now_us)) return ec;
    auto& s = prepare(
        "INSERT INTO credentials (job_id, target, scheme, user_name, password) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (job_id, target, scheme) DO UPDATE SET user_name = excluded.user_name, "
        "password = excluded.password");
    s.bind(1, id);
    s.bind(2, static_cast<int>(target));
    s.bind(3, static_cast<int>(scheme));
    s.bind(4, std::string(user));
    s.bind(5, std::string(password));
    s.exec();
    return {};
  });
}

std::error_code SqliteStore::remove_credentials(const std::string& id, AuthTarget target, AuthScheme scheme,
                                                int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    if (std::error_code ec = touch_settable_locked(id, now_us)) return ec;
    auto& s = prepare("DELETE FROM credentials WHERE job_id = ? AND target = ? AND scheme = ?");
    s.bind(1, id);
    s.bind(2, static_cast<int>(target));
    s.bind(3, static_cast<int>(scheme));
    s.exec();
    return {};
  });
}

Result<std::vector<Credential>> SqliteStore::credentials(const std::string& id) {
  return read<std::vector<Credential>>([&] {
    auto& s = prepare("SELECT target, scheme, user_name, password FROM credentials WHERE job_id = ? ORDER BY target, scheme");
    s.bind(1, id);
    std::vector<Credential> out;
    while (s.executeStep())
      out.push_back(Credential{static_cast<AuthTarget>(s.getColumn(0).getInt()),
                               static_cast<AuthScheme>(s.getColumn(1).getInt()), s.getColumn(2).getString(),
                               s.getColumn(3).getString()});
    return out;
  });
}

std::error_code SqliteStore::set_proxy_settings(const std::string& id, const ProxySettings& p, int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    auto& up = prepare(
        "UPDATE jobs SET proxy_usage = ?3, proxy_list = nullif(?4, ''), proxy_bypass = nullif(?5, ''), "
        "modified_us = ?6 WHERE id = ?1 AND ((1 << state) & ?2) != 0");
    up.bind(1, id);
    up.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
    up.bind(3, static_cast<int>(p.usage));
    up.bind(4, p.proxy_list);
    up.bind(5, p.bypass_list);
    up.bind(6, now_us);
    if (up.exec() == 0) return state_error_locked(id);
    return {};
  });
}

Result<ProxySettings> SqliteStore::proxy_settings(const std::string& id) {
  return read_found<ProxySettings>([&]() -> std::optional<ProxySettings> {
    auto& s = prepare("SELECT proxy_usage, coalesce(proxy_list, ''), coalesce(proxy_bypass, '') FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    ProxySettings p{static_cast<ProxyUsage>(s.getColumn(0).getInt()), s.getColumn(1).getString(),
                    s.getColumn(2).getString()};
    s.reset();
    return p;
  });
}

Result<uint32_t> SqliteStore::security_flags(const std::string& id) {
  return read_found<uint32_t>([&]() -> std::optional<uint32_t> {
    auto& s = prepare("SELECT security_flags FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    const auto v = static_cast<uint32_t>(s.getColumn(0).getInt64());
    s.reset();
    return v;
  });
}

std::error_code SqliteStore::set_tls_options(const std::string& id, const TlsOptions& t, int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    auto& up = prepare(
        "UPDATE jobs SET tls_ca_bundle = nullif(?3, ''), tls_ca_directory = nullif(?4, ''), "
        "tls_client_cert = nullif(?5, ''), tls_client_key = nullif(?6, ''), "
        "tls_key_password = CASE WHEN ?9 THEN tls_key_password ELSE nullif(?7, '') END, "
        "modified_us = ?8 WHERE id = ?1 AND ((1 << state) & ?2) != 0");
    up.bind(1, id);
    up.bind(2, static_cast<int64_t>(allowed_from(Call::set_property)));
    up.bind(3, t.ca_bundle);
    up.bind(4, t.ca_directory);
    up.bind(5, t.client_certificate);
    up.bind(6, t.client_key);
    up.bind(7, t.client_key_password);
    up.bind(8, now_us);
    // Options read back (passphrase blank, flag set) keep the stored passphrase.
    up.bind(9, t.has_client_key_password && t.client_key_password.empty() ? 1 : 0);
    if (up.exec() == 0) return state_error_locked(id);
    return {};
  });
}

Result<TlsOptions> SqliteStore::tls_options(const std::string& id) {
  return read_found<TlsOptions>([&]() -> std::optional<TlsOptions> {
    auto& s = prepare("SELECT " XFERQ_TLS_COLUMNS " FROM jobs WHERE id = ?");
    s.bind(1, id);
    if (!s.executeStep()) return std::nullopt;
    TlsOptions t = sqlite::read_tls(s, 0);
    s.reset();
    return t;
  });
}

std::error_code SqliteStore::set_remote_name(const std::string& id, int64_t idx, const std::string& url,
                                             int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    if (std::error_code ec = touch_settable_locked(id, now_us)) return ec;
    auto& up = prepare("UPDATE files SET remote_url = ?3 WHERE job_id = ?1 AND idx = ?2");
    up.bind(1, id);
    up.bind(2, idx);
    up.bind(3, url);
    if (up.exec() == 0) return make_error_code(Errc::invalid_arg);  // no such file: nothing changed
    return {};
  });
}

std::error_code SqliteStore::replace_remote_prefix(const std::string& id, const std::string& old_prefix,
                                                   const std::string& new_prefix, const UrlCheck& check_url,
                                                   int64_t now_us) {
  return write_txn([&]() -> std::error_code {
    if (std::error_code ec = touch_settable_locked(id, now_us)) return ec;
    // The new URLs are computed and checked before any row changes: all or none.
    std::vector<std::pair<int64_t, std::string>> changes;
    auto& q = prepare("SELECT idx, remote_url FROM files WHERE job_id = ? ORDER BY idx");
    q.bind(1, id);
    while (q.executeStep()) {
      const std::string url = q.getColumn(1).getString();
      if (url.compare(0, old_prefix.size(), old_prefix) != 0) continue;
      changes.emplace_back(q.getColumn(0).getInt64(), new_prefix + url.substr(old_prefix.size()));
    }
    q.reset();
    for (const auto& c : changes)
      if (std::error_code ec = check_url(c.second)) return ec;
    auto& up = prepare("UPDATE files SET remote_url = ?3 WHERE job_id = ?1 AND idx = ?2");
    for (const auto& c : changes) {
      up.reset();
      up.bind(1, id);
      up.bind(2, c.first);
      up.bind(3, c.second);
      up.exec();
    }
    return {};
  });
}

}  // namespace xferq::detail
