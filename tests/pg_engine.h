// pg_engine.h — the fixture of the PostgreSQL backend's engine tests: a
// fresh database on the binary's PostgreSQL cluster (pg_fixture.h), a queue
// on it with its worker, the fixture HTTP server, a scratch directory for the
// downloads, and reads straight from the database for the checks.
#ifndef XFERQ_TESTS_PG_ENGINE_H_
#define XFERQ_TESTS_PG_ENGINE_H_

#include <pqxx/pqxx>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pg_fixture.h"
#include "test_util.h"

namespace xferq::testing {

// Test options for a store working as host `host` (QueueOptions::host_id).
inline QueueOptions host_options(const std::string& host, bool start_worker) {
  QueueOptions o = test_options(start_worker);
  o.host_id = host;
  return o;
}

class PgEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    XFERQ_PG_CLUSTER_OR_SKIP(cluster);
    url_ = cluster->create_database();
    queue_ = open_queue(url_, test_options(true));
    ASSERT_TRUE(queue_);
  }
  Job download(const std::vector<std::pair<std::string, std::string>>& files, bool resume = true) {
    auto job = queue_->create_job("pg job");
    EXPECT_TRUE(job.ok());
    for (const auto& [path, name] : files) EXPECT_FALSE(job->add_file(server_.url(path), dir_ / name));
    if (resume) {
      EXPECT_FALSE(job->resume());
    }
    return *job;
  }
  // One value read straight from the database (the test's own connection).
  int64_t sql_int(const std::string& query, const std::string& param = "") {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    const pqxx::row r = param.empty() ? tx.exec1(query) : tx.exec_params1(query, param);
    return r[0].is_null() ? -1 : r[0].as<int64_t>();
  }
  std::string sql_text(const std::string& query, const std::string& param) {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    const pqxx::row r = tx.exec_params1(query, param);
    return r[0].is_null() ? std::string("NULL") : r[0].as<std::string>();
  }

  ScratchDir dir_;
  FixtureServer server_;
  std::string url_;
  std::unique_ptr<Queue> queue_;
};

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_PG_ENGINE_H_
