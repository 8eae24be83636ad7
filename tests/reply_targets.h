// reply_targets.h — one scenario for both backends: an upload-reply job's
// reply target (its reply file name, or its file's path + ".reply") is a path
// the job will write at Complete, so no other job not yet final may target it
// too, as a download's path or as another reply; a job that ends frees it.
#ifndef XFERQ_TESTS_REPLY_TARGETS_H_
#define XFERQ_TESTS_REPLY_TARGETS_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace xferq::testing {

inline void expect_reply_targets_are_claimed(Queue& q, const ScratchDir& dir) {
  const std::string url = "http://127.0.0.1:9/never-fetched";  // every job stays SUSPENDED
  const std::string src = dir / "source.bin";
  write_file(src, "bytes to upload");
  auto job = [&q](JobType type) {
    auto j = q.create_job("targets", type);
    EXPECT_TRUE(j.ok());
    return *j;
  };
  const auto exists_error = make_error_code(Errc::file_exists);

  Job a = job(JobType::upload_reply);
  ASSERT_FALSE(a.add_file(url, src));  // its reply: source.bin.reply
  Job b = job(JobType::upload_reply);
  EXPECT_EQ(b.add_file(url, src), exists_error) << "two replies to source.bin.reply";
  EXPECT_TRUE(b.files()->empty()) << "refused: nothing added";
  ASSERT_FALSE(b.set_reply_file_name(dir / "b.reply"));
  ASSERT_FALSE(b.add_file(url, src)) << "its own reply file name: the same source may be sent";
  ASSERT_FALSE(b.set_reply_file_name(dir / "b.reply")) << "its own name again";

  Job d = job(JobType::download);
  EXPECT_EQ(d.add_file(url, src + ".reply"), exists_error) << "a download onto a default reply";
  EXPECT_EQ(d.add_file(url, dir / "b.reply"), exists_error) << "a download onto a reply file name";
  Job c = job(JobType::upload_reply);
  EXPECT_EQ(c.set_reply_file_name(dir / "b.reply"), exists_error) << "another job's reply file name";
  ASSERT_EQ(::symlink(dir.path().c_str(), (dir / "alias").c_str()), 0);
  EXPECT_EQ(c.set_reply_file_name(dir / "alias/b.reply"), exists_error) << "the same name through a symlink";
  // A default reply named through a symlinked directory is the same file too.
  const std::string src2 = dir / "second.bin";
  write_file(src2, "more bytes to upload");
  Job f = job(JobType::upload_reply);
  ASSERT_FALSE(f.add_file(url, dir / "alias/second.bin"));
  EXPECT_EQ((*f.files())[0].local_path, src2) << "stored canonical";
  EXPECT_EQ(*f.reply_file_name(), src2 + ".reply");
  EXPECT_EQ(d.add_file(url, src2 + ".reply"), exists_error) << "a download onto a default reply, through an alias";

  // A name set before the job has a file counts too.
  Job e = job(JobType::upload_reply);
  ASSERT_FALSE(e.set_reply_file_name(dir / "e.reply"));
  EXPECT_EQ(c.set_reply_file_name(dir / "e.reply"), exists_error);
  EXPECT_EQ(d.add_file(url, dir / "e.reply"), exists_error);

  // And a download's path is not free for a reply.
  ASSERT_FALSE(d.add_file(url, dir / "d.bin"));
  EXPECT_EQ(c.set_reply_file_name(dir / "d.bin"), exists_error);
  EXPECT_EQ(*c.reply_file_name(), "") << "refused: the name is unchanged";

  // A job that ends frees its targets.
  ASSERT_FALSE(a.cancel());
  ASSERT_FALSE(d.add_file(url, src + ".reply"));
  ASSERT_FALSE(e.cancel());
  ASSERT_FALSE(c.set_reply_file_name(dir / "e.reply"));
  for (Job* j : {&b, &c, &d, &f}) ASSERT_FALSE(j->cancel());
}

}  // namespace xferq::testing

#endif  // XFERQ_TESTS_REPLY_TARGETS_H_
