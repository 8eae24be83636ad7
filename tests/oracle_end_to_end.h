// oracle_end_to_end.h — the reference's oracle (tests/data/transitions.csv)
// and the fixture that drives every row end to end on a real queue: a job
// brought into the row's state by real transfers from the fixture server, the
// call, then its result and the state after it. state_machine_test.cc runs it
// on a SQLite file, pg_store_test.cc on a PostgreSQL database (queue_path()).
#ifndef XFERQ_TESTS_ORACLE_END_TO_END_H_
#define XFERQ_TESTS_ORACLE_END_TO_END_H_

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace xferq::testing {

struct OracleRow {
  std::string state, call, state_after, result;
};

inline std::vector<OracleRow> load_oracle() {
  std::ifstream in(XFERQ_TEST_DATA_DIR "/transitions.csv");
  EXPECT_TRUE(in.good()) << "missing transitions.csv";
  std::vector<OracleRow> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    OracleRow r;
    std::getline(ss, r.state, ',');
    std::getline(ss, r.call, ',');
    std::getline(ss, r.state_after, ',');
    std::getline(ss, r.result, ',');
    rows.push_back(r);
  }
  return rows;
}

inline JobState parse(const std::string& name) {
  JobState s{};
  EXPECT_TRUE(parse_state(name, &s)) << name;
  return s;
}

inline uint32_t result_code(const std::error_code& ec, CompleteStatus status, bool is_complete) {
  if (ec) return to_hresult(ec);
  if (is_complete && status == CompleteStatus::partial) return kBG_S_PARTIAL_COMPLETE;
  return kS_OK;
}

class OracleEndToEnd : public ::testing::Test {
 protected:
  // The queue the rows run on: a SQLite file by default; "" skips the test
  // (the reason in skip_reason_).
  virtual std::string queue_path() { return dir_ / "queue.db"; }

  void SetUp() override {
    const std::string path = queue_path();
    if (path.empty()) GTEST_SKIP() << skip_reason_;
    auto o = test_options(true);
    o.max_concurrent_transfers = 1;  // a running "blocker" job keeps QUEUED jobs queued
    queue_ = open_queue(path, o);
    ASSERT_TRUE(queue_);
    Resource small = body_resource(make_body(1000, 7));
    server_.set("/small", small);
    Resource stall = body_resource(make_body(100000, 8));
    stall.stall_after_bytes = 4096;
    server_.set("/stall", stall);
    Resource stall0 = body_resource(make_body(100000, 9));
    stall0.stall_after_bytes = 0;
    server_.set("/stall0", stall0);
    Resource missing;
    missing.status = 404;
    server_.set("/missing", missing);
    Resource unavailable;
    unavailable.status = 503;
    server_.set("/unavailable", unavailable);
  }

  Job new_job(const std::vector<std::string>& paths) {
    auto job = queue_->create_job("oracle");
    EXPECT_TRUE(job.ok());
    int i = 0;
    for (const auto& p : paths) {
      const std::string local = dir_ / ("f" + std::to_string(counter_) + "-" + std::to_string(i++));
      EXPECT_FALSE(job->add_file(server_.url(p), local)) << p;
    }
    ++counter_;
    job->set_minimum_retry_delay(std::chrono::seconds(600));
    return *job;
  }

  // Occupies the worker's only slot so that a resumed job stays QUEUED.
  void block_worker() {
    if (blocker_) return;
    blocker_ = new_job({"/stall"});
    blocker_->set_priority(JobPriority::foreground);
    ASSERT_FALSE(blocker_->resume());
    ASSERT_TRUE(wait_state(*blocker_, JobState::transferring)) << state_name(*blocker_);
  }

  // A job in `s`; with `done_file`, its first file is finished and the
  // second is not.
  Job job_in(JobState s, bool done_file) {
    auto two = [&](const std::string& second) {
      return done_file ? std::vector<std::string>{"/small", second} : std::vector<std::string>{second};
    };
    Job j;
    switch (s) {
      case JobState::suspended:
      case JobState::queued:
        if (done_file) {
          j = new_job(two("/stall"));
          EXPECT_FALSE(j.resume());
          EXPECT_TRUE(wait_for([&] { return j.progress().ok() && j.progress()->files_transferred == 1; }));
          EXPECT_TRUE(wait_state(j, JobState::transferring));
          EXPECT_FALSE(j.suspend());
        } else {
          j = new_job({"/small"});
        }
        if (s == JobState::queued) {
          block_worker();
          EXPECT_FALSE(j.resume());
        }
        break;
      case JobState::connecting:
        if (done_file) {
          // A path of its own: it is re-pointed below.
          const std::string path = "/flip" + std::to_string(counter_);
          Resource unavailable;
          unavailable.status = 503;
          server_.set(path, unavailable);
          j = new_job(two(path));
          EXPECT_FALSE(j.resume());
          EXPECT_TRUE(wait_state(j, JobState::transient_error)) << state_name(j);
          // Re-point file 2 at a server that never sends a byte.
          Resource stall0 = body_resource(make_body(1000, 3));
          stall0.stall_after_bytes = 0;
          server_.set(path, stall0);
          EXPECT_FALSE(j.resume());
        } else {
          j = new_job({"/stall0"});
          EXPECT_FALSE(j.resume());
        }
        EXPECT_TRUE(wait_state(j, JobState::connecting)) << state_name(j);
        break;
      case JobState::transferring:
        j = new_job(two("/stall"));
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_for([&] {
          return j.progress().ok() && j.progress()->files_transferred == (done_file ? 1u : 0u) &&
                 j.state().ok() && *j.state() == JobState::transferring;
        })) << state_name(j);
        break;
      case JobState::error:
        j = new_job(two("/missing"));
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_state(j, JobState::error)) << state_name(j);
        break;
      case JobState::transient_error:
        j = new_job(two("/unavailable"));
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_state(j, JobState::transient_error)) << state_name(j);
        break;
      case JobState::transferred:
      case JobState::acknowledged:
      case JobState::cancelled:
        j = new_job({"/small"});
        EXPECT_FALSE(j.resume());
        EXPECT_TRUE(wait_state(j, JobState::transferred)) << state_name(j);
        if (s == JobState::acknowledged) {
          EXPECT_FALSE(j.complete());
        } else if (s == JobState::cancelled) {
          EXPECT_FALSE(j.cancel());
        }
        break;
    }
    // States the worker would move on from are held by a busy worker.
    if (s != JobState::connecting && s != JobState::transferring) block_worker();
    EXPECT_EQ(state_name(j), std::string(to_string(s)));
    return j;
  }

  // Every row of the oracle: a job driven into the row's state by real
  // transfers, the call, then the result and the state after it.
  void every_row_end_to_end() {
    int checked = 0;
    for (const auto& r : load_oracle()) {
      SCOPED_TRACE(r.state + "," + r.call);
      const JobState from = parse(r.state);
      const bool some_done = r.call == "complete_some_files_done";
      Job j = r.call == "resume_no_files" ? *queue_->create_job("empty") : job_in(from, some_done);
      std::error_code ec;
      CompleteStatus status = CompleteStatus::all_files;
      bool is_complete = false;
      if (r.call == "suspend") {
        ec = j.suspend();
      }
      else if (r.call == "resume" || r.call == "resume_no_files") ec = j.resume();
      else if (r.call == "cancel") ec = j.cancel();
      else if (r.call == "complete" || some_done) { ec = j.complete(&status); is_complete = true; }
      else if (r.call == "set_priority") ec = j.set_priority(JobPriority::high);
      else if (r.call == "set_display_name") ec = j.set_display_name("renamed");
      else if (r.call == "set_description") ec = j.set_description("described");
      else if (r.call == "set_minimum_retry_delay") ec = j.set_minimum_retry_delay(std::chrono::seconds(900));
      else if (r.call == "set_no_progress_timeout") ec = j.set_no_progress_timeout(std::chrono::seconds(1000));
      else if (r.call == "add_file") ec = j.add_file(server_.url("/small"), dir_ / ("extra" + std::to_string(checked)));
      else ADD_FAILURE() << "unknown call " << r.call;
      EXPECT_EQ(hresult_name(result_code(ec, status, is_complete)), r.result);
      EXPECT_EQ(state_name(j), r.state_after);
      if (some_done && !ec) {
        // The finished file is at its final path, the unfinished one nowhere.
        auto files = j.files();
        ASSERT_TRUE(files.ok());
        EXPECT_TRUE(exists((*files)[0].local_path));
        EXPECT_FALSE(exists((*files)[1].local_path));
      }
      if (r.result == "DO_E_INVALID_STATE" && r.call.rfind("set_", 0) == 0) {
        auto info = j.info();
        ASSERT_TRUE(info.ok());
        EXPECT_NE(info->display_name, "renamed");
        EXPECT_NE(info->priority, JobPriority::high);
      }
      ++checked;
      // Keep the worker's single slot for the next row's own transfers.
      if (blocker_) {
        blocker_->cancel();
        blocker_.reset();
      }
      if (!is_final(*j.state())) j.cancel();
    }
    EXPECT_GE(checked, 80);
    EXPECT_TRUE(temp_files_in(dir_.path()).empty());
  }

  std::string skip_reason_;
  ScratchDir dir_;
  FixtureServer server_;
  std::unique_ptr<Queue> queue_;
  std::optional<Job> blocker_;
  int counter_ = 0;
};

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_ORACLE_END_TO_END_H_
