// fs_test.cc — the file-ops layer on a real filesystem: temp files are
// created exclusively and privately, never through a symlink, reopened only
// when they are regular files of ours; the worker lock excludes a second
// holder; paths are inspected as open() would see them.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
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

TEST(DiscardTest, FreesTheNameKeepsTheInodeAndDeleteRemovesTheTwin) {
  ScratchDir dir;
  const std::string p = detail::temp_path_for(dir / "a.bin", "{0123456789abcdef0123456789abcdef}", 2);
  const std::string twin = detail::discarded_path(p);
  EXPECT_EQ(twin.substr(twin.size() - 5), ".gone");
  EXPECT_EQ(twin.size(), p.size()) << "the same length: a temp name under NAME_MAX stays under it";
  auto f = TempFile::create(p);
  ASSERT_TRUE(f);
  ASSERT_FALSE(f->write_at("partial", 7, 0));
  struct stat before {}, after {};
  ASSERT_EQ(::stat(p.c_str(), &before), 0);

  ASSERT_FALSE(detail::discard_file(p));
  EXPECT_FALSE(exists(p)) << "the name is free when discard_file returns";
  ASSERT_EQ(::stat(twin.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "moved, not copied";
  EXPECT_EQ(read_all(twin), "partial");
  EXPECT_FALSE(detail::discard_file(p)) << "discarding what is gone succeeds (idempotent)";
  EXPECT_EQ(read_all(twin), "partial") << "and leaves the twin alone";

  ASSERT_FALSE(detail::delete_file(p));
  EXPECT_FALSE(exists(twin)) << "deleting a temp path deletes its twin";
  EXPECT_FALSE(detail::delete_file(p));
}

TEST(DiscardTest, SomethingInTheTwinsPlaceIsNeverRemovedAndTheFileIsUnlinkedInstead) {
  ScratchDir dir;
  const std::string p = dir / ".x.xferq-00-0.part";
  const std::string twin = detail::discarded_path(p);
  ASSERT_EQ(::mkdir(twin.c_str(), 0700), 0);
  ASSERT_EQ(::close(::open((twin + "/keep").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  ASSERT_TRUE(TempFile::create(p));
  ASSERT_FALSE(detail::discard_file(p));
  EXPECT_FALSE(exists(p)) << "the rename failed: unlinked instead";
  EXPECT_TRUE(exists(twin + "/keep")) << "a directory at the twin's name is untouched";
  EXPECT_FALSE(detail::delete_file(p)) << "a directory at the twin's name is not ours: no error to retry";
  EXPECT_TRUE(exists(twin + "/keep")) << "and it is never removed";
}

TEST(DiscardTest, ASymlinkAtTheTempPathIsMovedNotFollowed) {
  ScratchDir dir;
  const std::string target = dir / "precious";
  { std::ofstream(target) << "keep me"; }
  const std::string p = dir / ".y.xferq-00-0.part";
  ASSERT_EQ(::symlink(target.c_str(), p.c_str()), 0);
  ASSERT_FALSE(detail::discard_file(p));
  ASSERT_FALSE(detail::delete_file(p));
  EXPECT_FALSE(exists(p));
  EXPECT_FALSE(exists(detail::discarded_path(p)));
  EXPECT_EQ(read_all(target), "keep me");
}

TEST(DiscardTest, RenameIntoPlaceRemovesATwinLeftBehind) {
  ScratchDir dir;
  const std::string p = detail::temp_path_for(dir / "b.bin", "{00000000000000000000000000000001}", 0);
  { std::ofstream(detail::discarded_path(p)) << "from a rolled-back cancel"; }
  auto f = TempFile::create(p);
  ASSERT_TRUE(f);
  ASSERT_FALSE(f->write_at("done", 4, 0));
  f->close();
  ASSERT_FALSE(detail::rename_into_place(p, dir / "b.bin"));
  EXPECT_EQ(read_all(dir / "b.bin"), "done");
  EXPECT_FALSE(exists(detail::discarded_path(p)));
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

// A symlink or a socket at the temp path is not our temp file: it is never
// moved into place, and stays where it is (O_NOFOLLOW's refusal is a refusal,
// not "nothing there").
TEST(FileOpsTest, RenameIntoPlaceNeverMovesASymlinkOrASocketIntoPlace) {
  ScratchDir dir;
  const std::string target = dir / "target", link = dir / ".l.part", fin = dir / "l";
  { std::ofstream(target) << "someone else's"; }
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(detail::rename_into_place(link, fin), make_error_code(Errc::file_exists));
  struct stat st {};
  EXPECT_NE(::lstat(fin.c_str(), &st), 0) << "a symlink was moved to the final name";
  EXPECT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  const std::string sock = dir / ".s.part", fin2 = dir / "s";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(detail::rename_into_place(sock, fin2), make_error_code(Errc::file_exists));
  EXPECT_NE(::lstat(fin2.c_str(), &st), 0) << "a socket was moved to the final name";
  ::close(fd);
}

// Complete checks before it begins, so that a rename that cannot succeed
// fails there and changes nothing: a final name on another filesystem, or
// one longer than NAME_MAX, is an error, not "nothing in the way".
TEST(FileOpsTest, CheckRenameRefusesAnotherFilesystemAndAnOverlongName) {
  ScratchDir dir;
  const std::string tmp = dir / ".t.part";
  { std::ofstream(tmp) << "data"; }
  EXPECT_FALSE(detail::check_rename(tmp, dir / "t"));
  EXPECT_TRUE(detail::check_rename(tmp, dir / std::string(256, 'n'))) << "a name over NAME_MAX";
  char shm_tmpl[] = "/dev/shm/xferq-test-XXXXXX";
  const char* shm = ::mkdtemp(shm_tmpl);
  ASSERT_NE(shm, nullptr);
  struct stat a {}, b {};
  ASSERT_EQ(::stat(dir.path().c_str(), &a), 0);
  ASSERT_EQ(::stat(shm, &b), 0);
  if (a.st_dev != b.st_dev) {
    const std::string other = std::string(shm) + "/t";
    EXPECT_TRUE(detail::check_rename(tmp, other)) << "another filesystem: rename() would fail with EXDEV";
    EXPECT_TRUE(detail::rename_into_place(tmp, other));
    EXPECT_TRUE(exists(tmp)) << "the temp file stays where it was";
  } else {
    ADD_FAILURE() << "/tmp and /dev/shm are one filesystem here: the EXDEV case is not exercised";
  }
  ::rmdir(shm);
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
