// schema_migration_test.cc — a queue file written by an older xferq opens
// with the current one: the migrations in schema/ are applied by the engine
// to a real file built here from the earlier migrations' own SQL, and what
// the file held survives them.
#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>

#include "test_util.h"

namespace xferq::testing {
namespace {

// The application id the engine stamps on its queue files.
int engine_application_id(const ScratchDir& dir) {
  const std::string probe = dir / "probe.db";
  { auto q = open_queue(probe, test_options(false)); }
  SQLite::Database db(probe, SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA application_id").getInt();
}

// Builds a queue file at schema `version` from schema/001..version, as the
// xferq of that version left it (the same pragmas, each migration in its
// own transaction).
void build_at_version(const ScratchDir& dir, const std::string& path, int version) {
  const int app_id = engine_application_id(dir);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(std::string(XFERQ_SOURCE_DIR) + "/schema"))
    if (e.path().extension() == ".sql") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA foreign_keys=ON");
  for (const auto& f : files) {
    const int n = std::stoi(f.filename().string().substr(0, 3));
    if (n > version) break;
    SQLite::Transaction t(db);
    db.exec(read_file(f.string()));
    db.exec("PRAGMA user_version=" + std::to_string(n));
    db.exec("PRAGMA application_id=" + std::to_string(app_id));
    t.commit();
  }
}

// 015 and 016 rebuilt the outbox: its rows and the highest id handed out
// carry over (an id handed out before is never handed out again), and the
// kind is still checked.
TEST(SchemaMigration, OutboxRebuildKeepsRowsAndNeverReusesAnId) {
  ScratchDir dir;
  const std::string path = dir / "old.db";
  build_at_version(dir, path, 14);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    ASSERT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 14);
    // Ids 1..40 handed out and retired; one row still pending (a
    // Cancel-Session owed for a job that is gone, which recovery leaves be).
    for (int i = 0; i < 40; ++i) db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('gone', 1, 1)");
    db.exec("DELETE FROM file_ops");
    db.exec("INSERT INTO file_ops (job_id, kind, created_us, url, session_id) "
            "VALUES ('{00000000-0000-0000-0000-000000000001}', 3, 7, 'https://example.invalid/u', 's1')");
  }
  { auto q = open_queue(path, test_options(false)); }
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), 16);
  SQLite::Statement pending(db, "SELECT id, kind, url, session_id FROM file_ops WHERE kind = 3");
  ASSERT_TRUE(pending.executeStep()) << "the pending row was lost";
  EXPECT_EQ(pending.getColumn(0).getInt64(), 41);
  EXPECT_EQ(pending.getColumn(2).getString(), "https://example.invalid/u");
  EXPECT_EQ(pending.getColumn(3).getString(), "s1");
  pending.reset();
  db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('next', 1, 1)");
  EXPECT_EQ(db.getLastInsertRowid(), 42) << "an outbox id was handed out twice";
  EXPECT_THROW(db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('bad', 4, 1)"), SQLite::Exception);
  EXPECT_THROW(db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('bad', -1, 1)"), SQLite::Exception);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pending_file_ops WHERE op = 'cancel-session'").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_sequence WHERE name LIKE 'file_ops%'").getInt(), 0)
      << "016 leaves no AUTOINCREMENT counter behind";
}

// A cancel on a migrated file: the outbox row the cancel adds takes an id
// above every earlier one.
TEST(SchemaMigration, CancelAfterTheRebuildTakesAFreshOutboxId) {
  ScratchDir dir;
  const std::string path = dir / "old.db";
  build_at_version(dir, path, 14);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    for (int i = 0; i < 10; ++i) db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('gone', 1, 1)");
    db.exec("DELETE FROM file_ops");
  }
  auto q = open_queue(path, test_options(false));
  ASSERT_TRUE(q);
  auto job = q->create_job("after");
  ASSERT_TRUE(job.ok());
  ASSERT_FALSE(job->cancel());
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT max(id) FROM file_ops").getInt64(), 11);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM file_ops WHERE id <= 10").getInt(), 0)
      << "the tombstone for id 10 outlived the insert above it";
}

// 016 on a file whose outbox is empty but handed out ids 1..25: the counter
// becomes a tombstone holding id 25, which the view does not show.
TEST(SchemaMigration, AnEmptyOutboxKeepsItsHighestIdAsATombstone) {
  ScratchDir dir;
  const std::string path = dir / "old.db";
  build_at_version(dir, path, 15);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    for (int i = 0; i < 25; ++i) db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('gone', 1, 1)");
    db.exec("DELETE FROM file_ops");
  }
  { auto q = open_queue(path, test_options(false)); }
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM file_ops WHERE id = 25 AND kind = 0 AND job_id = ''").getInt(), 1);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM pending_file_ops").getInt(), 0);
  db.exec("INSERT INTO file_ops (job_id, kind, created_us) VALUES ('next', 1, 1)");
  EXPECT_EQ(db.getLastInsertRowid(), 26) << "an outbox id was handed out twice";
}

}  // namespace
}  // namespace xferq::testing
