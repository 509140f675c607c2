#include "job/job_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

namespace berth {
namespace {

class JobLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-job-log-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ / "log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }

  // Follows the log from `offset` to its current end in chunks of `chunk` bytes.
  std::string ReadAll(uint64_t& offset, size_t chunk) {
    std::string out;
    for (;;) {
      auto c = ReadLogChunk(path_, offset, chunk);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      if (!c.ok() || c->text.empty()) return out;
      EXPECT_GT(c->next_offset, offset);
      offset = c->next_offset;
      out += c->text;
    }
  }

  std::filesystem::path dir_, path_;
};

TEST_F(JobLogTest, HeaderRoundTrips) {
  std::string h = DroppedHeader(12345);
  EXPECT_EQ(h, "--- berth: 12345 bytes of older output dropped ---\n");
  auto p = ParseDroppedHeader(h + "rest");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->dropped, 12345);
  EXPECT_EQ(p->header_bytes, h.size());
  EXPECT_FALSE(ParseDroppedHeader("--- berth: x bytes of older output dropped ---\n"));
  EXPECT_FALSE(ParseDroppedHeader("\\--- berth: 5 bytes of older output dropped ---\n"));
  EXPECT_FALSE(ParseDroppedHeader("hello\n"));
}

TEST_F(JobLogTest, MissingLogIsAnEmptyChunk) {
  auto c = ReadLogChunk(path_, 7, 100);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, "");
  EXPECT_EQ(c->next_offset, 7u);
}

TEST_F(JobLogTest, UntrimmedLogReadsByFileOffset) {
  Write("one\ntwo\nthree\n");
  uint64_t offset = 4;
  EXPECT_EQ(ReadAll(offset, 3), "two\nthree\n");
  EXPECT_EQ(offset, 14u);
}

// Issue 10: a follower of a log that the monitor trimmed read by file offset: it skipped output
// (its offset past the new, shorter file) or repeated it. By stream offset it goes on exactly
// where it was.
TEST_F(JobLogTest, FollowerGoesOnWhereItWasAcrossATrim) {
  std::string stream;
  for (int i = 0; i < 100; ++i) stream += std::to_string(i) + "\n";
  Write(stream.substr(0, 200));
  uint64_t offset = 0;
  std::string seen = ReadAll(offset, 64);
  EXPECT_EQ(seen, stream.substr(0, 200));
  // The monitor trims: the first 150 bytes are dropped, the rest of the stream is appended.
  Write(DroppedHeader(150) + stream.substr(150));
  seen += ReadAll(offset, 64);
  EXPECT_EQ(seen, stream);
  EXPECT_EQ(offset, stream.size());
}

TEST_F(JobLogTest, AFollowerBehindTheTrimGetsTheHeaderThenTheOldestKept) {
  std::string stream(1000, 'a');
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<char>('a' + i % 26);
  Write(DroppedHeader(600) + stream.substr(600));
  uint64_t offset = 100;  // had read 100 bytes before 600 were dropped
  std::string seen = ReadAll(offset, 50);
  EXPECT_EQ(seen, DroppedHeader(600) + stream.substr(600));
  EXPECT_EQ(offset, stream.size());
  // A second trim (its header counts the first header's bytes as not output).
  Write(DroppedHeader(900) + stream.substr(900));
  EXPECT_EQ(ReadAll(offset, 50), "");
  uint64_t late = 700;
  EXPECT_EQ(ReadAll(late, 1000), DroppedHeader(900) + stream.substr(900));
}

}  // namespace
}  // namespace berth
