// fs_test.cc — the file-ops layer on a real filesystem: temp files are
// created exclusively and privately, never through a symlink, reopened only
// when they are regular files of ours; the worker lock excludes a second
// holder; paths are inspected as open() would see them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "fs/file_ops.h"
#include "fs/lock_file.h"
#include "fs/temp_file.h"
#include "test_util.h"

namespace xferq::testing {
namespace {

using detail::LockFile;
using detail::TempFile;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(TempFileTest, CreateIsExclusivePrivateAndWritesWhereAsked) {
  ScratchDir dir;
  const std::string p = dir / "a.part";
  auto f = TempFile::create(p);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_TRUE(f->created());
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_FALSE(f->write_at("world", 5, 6));
  ASSERT_FALSE(f->write_at("hello ", 6, 0));
  ASSERT_FALSE(f->sync());
  EXPECT_EQ(read_all(p), "hello world");
  ASSERT_FALSE(f->truncate(5));
  EXPECT_EQ(read_all(p), "hello");
  // A second create at the same path fails: something is there.
  auto again = TempFile::create(p);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), make_error_code(Errc::file_exists));
}

TEST(TempFileTest, NeverFollowsASymlinkPlantedAtItsPath) {
  ScratchDir dir;
  const std::string victim = dir / "victim";
  { std::ofstream(victim) << "precious"; }
  const std::string p = dir / "b.part";
  ASSERT_EQ(::symlink(victim.c_str(), p.c_str()), 0);
  EXPECT_FALSE(TempFile::create(p));
  EXPECT_FALSE(TempFile::open_existing(p));
  EXPECT_FALSE(TempFile::open_or_create(p));
  EXPECT_EQ(read_all(victim), "precious");
}

TEST(TempFileTest, ReopensOnlyRegularFilesAndReportsTheirSize) {
  ScratchDir dir;
  const std::string fifo = dir / "c.part";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Without a reader, a blocking open for writing would never return: the
  // call must fail at once instead (a hang here is the defect).
  EXPECT_FALSE(TempFile::open_existing(fifo));
  // With a reader it opens, and is refused as not a regular file.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  EXPECT_FALSE(TempFile::open_existing(fifo));
  ::close(reader);
  const std::string p = dir / "d.part";
  { std::ofstream(p) << "12345"; }
  auto f = TempFile::open_existing(p);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size_at_open(), 5);
  EXPECT_FALSE(f->created());
  auto missing = TempFile::open_existing(dir / "none.part");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), make_error_code(Errc::path_not_found));
  auto made = TempFile::open_or_create(dir / "none.part");
  ASSERT_TRUE(made);
  EXPECT_TRUE(made->created());
}

TEST(TempFileTest, ShareGivesASecondDescriptorAndUnlinkedSeesDeletion) {
  ScratchDir dir;
  const std::string p = dir / "e.part";
  auto f = TempFile::create(p);
  ASSERT_TRUE(f);
  auto shared = f->share();
  ASSERT_TRUE(shared);
  f->close();  // the shared descriptor stays usable
  ASSERT_FALSE(shared->write_at("x", 1, 0));
  EXPECT_FALSE(shared->unlinked());
  ASSERT_FALSE(detail::delete_file(p));
  EXPECT_TRUE(shared->unlinked());
  EXPECT_FALSE(detail::delete_file(p)) << "deleting what is gone succeeds (idempotent)";
}

TEST(LockFileTest, OneHolderAtATimeAndReleasedOnClose) {
  ScratchDir dir;
  const std::string p = dir / "q.db-worker.lock";
  LockFile first(p), second(p);
  ASSERT_TRUE(*first.try_acquire());
  EXPECT_TRUE(*first.try_acquire()) << "taking it again is a no-op";
  EXPECT_FALSE(*second.try_acquire());
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  first.release();
  EXPECT_TRUE(*second.try_acquire());
}

TEST(FileOpsTest, InspectPathSeesWhatOpenWouldSee) {
  ScratchDir dir;
  const std::string file = dir / "f", link = dir / "l";
  { std::ofstream(file) << "abc"; }
  ASSERT_EQ(::symlink(file.c_str(), link.c_str()), 0);
  auto info = detail::inspect_path(link);
  EXPECT_TRUE(info.exists && info.regular && !info.directory);
  EXPECT_EQ(info.size, 3);
  EXPECT_TRUE(detail::inspect_path(dir.path()).directory);
  EXPECT_FALSE(detail::inspect_path(dir / "missing").exists);
  EXPECT_FALSE(detail::inspect_path("/dev/null").regular);
}

// Found by fuzzing the queue file: a recorded temp path naming a FIFO made
// recovery block forever in open(). It is refused at once and never moved.
TEST(FileOpsTest, RenameIntoPlaceRefusesAFifoWithoutBlocking) {
  ScratchDir dir;
  const std::string fifo = dir / ".f.part", fin = dir / "f";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(detail::rename_into_place(fifo, fin), make_error_code(Errc::file_exists));
  EXPECT_FALSE(exists(fin));
  EXPECT_EQ(detail::check_rename(fifo, fin), make_error_code(Errc::file_exists));
}

TEST(FileOpsTest, RenameIntoPlaceIsIdempotent) {
  ScratchDir dir;
  const std::string tmp = dir / ".t.part", fin = dir / "t";
  { std::ofstream(tmp) << "data"; }
  ASSERT_FALSE(detail::rename_into_place(tmp, fin));
  EXPECT_EQ(read_all(fin), "data");
  EXPECT_FALSE(detail::rename_into_place(tmp, fin)) << "done before: success";
}

}  // namespace
}  // namespace xferq::testing
