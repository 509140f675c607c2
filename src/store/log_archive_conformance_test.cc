// The LogArchive conformance suite: one job's log stored in chunks, read by stream offset, kept
// to its newest bytes, against both engines (real SQLite, real PostgreSQL 15).
#include <gtest/gtest.h>

#include <thread>

#include "common/random.h"
#include "job/job_log.h"
#include "store/log_archive.h"
#include "tests/support/test_stores.h"

namespace berth {
namespace {

class LogArchiveTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<TestStores>(GetParam());
    Status opened = engine_->Open(clock_);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    Attach();
    job_ = NewJob();
  }

  void Attach() {
    store_ = engine_->store();
    archive_ = dynamic_cast<LogArchive*>(store_);
    ASSERT_NE(archive_, nullptr) << GetParam() << " is no LogArchive";
  }

  std::string NewJob() {
    JobRecord job;
    job.id = NewUuidV4();
    job.spec.image = "busybox";
    job.created_at = clock_.Now();
    Status st = store_->SubmitJobAndWait(job, "jobs");
    EXPECT_TRUE(st.ok()) << st.ToString();
    return job.id;
  }

  void Append(uint64_t offset, std::string_view data, uint64_t keep = 1 << 20) {
    Status st = archive_->AppendLog(job_, offset, data, keep);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  LogChunk From(uint64_t offset, size_t max = 1 << 20) {
    auto chunk = archive_->ReadLogFrom(job_, offset, max);
    EXPECT_TRUE(chunk.ok()) << chunk.status().ToString();
    return chunk.ok() ? *chunk : LogChunk{};
  }

  uint64_t End() {
    auto end = archive_->StoredLogEnd(job_);
    EXPECT_TRUE(end.ok()) << end.status().ToString();
    return end.ok() ? *end : 0;
  }

  FakeClock clock_;
  std::unique_ptr<TestStores> engine_;
  Store* store_ = nullptr;
  LogArchive* archive_ = nullptr;
  std::string job_;
};

// `n` bytes of the stream from offset `from`: "<offset>\n"-lines would not line up with any
// chunking, so each byte is its stream offset's low bits.
std::string Stream(uint64_t from, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((from + i) * 7 % 251);
  return out;
}

TEST_P(LogArchiveTest, ChunksReadBackByStreamOffset) {
  EXPECT_EQ(End(), 0u);
  EXPECT_EQ(From(0).text, "");
  Append(0, "hello ");
  Append(6, "world\n");
  EXPECT_EQ(End(), 12u);
  LogChunk all = From(0);
  EXPECT_EQ(all.text, "hello world\n");
  EXPECT_EQ(all.next_offset, 12u);
  LogChunk mid = From(4, 4);
  EXPECT_EQ(mid.text, "o wo");
  EXPECT_EQ(mid.next_offset, 8u);
  LogChunk at_end = From(12);
  EXPECT_EQ(at_end.text, "");
  EXPECT_EQ(at_end.next_offset, 12u);
  EXPECT_EQ(From(40).next_offset, 40u) << "past the end: nothing, and the offset stays";
  auto tail = archive_->ReadLogTail(job_, 6);
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  EXPECT_EQ(tail->text, "world\n");
  EXPECT_TRUE(tail->truncated);
  tail = archive_->ReadLogTail(job_, 100);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->text, "hello world\n");
  EXPECT_FALSE(tail->truncated);
}

TEST_P(LogArchiveTest, AnyBytesSurviveTheRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += std::string("\0\0\xff\n", 4);
  Append(0, bytes);
  Append(bytes.size(), bytes);
  EXPECT_EQ(From(0).text, bytes + bytes);
}

TEST_P(LogArchiveTest, AppendsAreIdempotentByOffset) {
  Append(0, "abcdef");
  Append(0, "abcdef");   // the same shipment again (its answer was lost)
  Append(2, "cd");       // all stored already
  Append(3, "defghij");  // overlaps: only "ghij" is new
  EXPECT_EQ(End(), 10u);
  EXPECT_EQ(From(0).text, "abcdefghij");
}

TEST_P(LogArchiveTest, ManySmallAppendsReadBackWhole) {
  std::string want;
  for (int i = 0; i < 200; ++i) {
    std::string line = "line " + std::to_string(i) + "\n";
    Append(want.size(), line);
    want += line;
  }
  EXPECT_EQ(From(0).text, want);
  // Read in small steps, as a follower does: the pieces join into the whole, nothing repeated.
  std::string got;
  uint64_t at = 0;
  for (LogChunk c = From(at, 37); !c.text.empty(); c = From(at, 37)) {
    got += c.text;
    at = c.next_offset;
  }
  EXPECT_EQ(got, want);
}

TEST_P(LogArchiveTest, UnknownJobIsNotFoundAndReadsEmpty) {
  std::string other = NewUuidV4();
  EXPECT_TRUE(archive_->AppendLog(other, 0, "x", 100).IsNotFound());
  auto end = archive_->StoredLogEnd(other);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 0u);
  auto chunk = archive_->ReadLogFrom(other, 0, 100);
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->text, "");
}

TEST_P(LogArchiveTest, KeepsTheNewestBytesDroppingWholeChunksWithAHeader) {
  for (int i = 0; i < 10; ++i) Append(i * 1000, Stream(i * 1000, 1000), /*keep=*/4096);
  EXPECT_EQ(End(), 10000u);
  // 4096 kept at most, whole chunks: those from 6000 on.
  LogChunk from_start = From(0);
  std::string header = DroppedHeader(6000);
  EXPECT_EQ(from_start.text, header + Stream(6000, 4000));
  EXPECT_EQ(from_start.next_offset, 10000u);
  LogChunk inside = From(6500, 100);
  EXPECT_EQ(inside.text, Stream(6500, 100));
  EXPECT_EQ(inside.next_offset, 6600u);
  // A reader whose offset was dropped gets the header and as much as fits after it.
  LogChunk small = From(10, header.size() + 5);
  EXPECT_EQ(small.text, header + Stream(6000, 5));
  EXPECT_EQ(small.next_offset, 6005u);
  auto tail = archive_->ReadLogTail(job_, 1 << 20);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->text, header + Stream(6000, 4000));
  EXPECT_TRUE(tail->truncated);
  tail = archive_->ReadLogTail(job_, 4000 + 3);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->text, header.substr(header.size() - 3) + Stream(6000, 4000))
      << "the tail of the log as a trimmed file holds it";
}

TEST_P(LogArchiveTest, AChunkLongerThanKeepKeepsItsNewestBytes) {
  Append(0, Stream(0, 100), 4096);
  Append(100, Stream(100, 10000), 4096);
  EXPECT_EQ(End(), 10100u);
  EXPECT_EQ(From(0).text, DroppedHeader(10100 - 4096) + Stream(10100 - 4096, 4096));
}

TEST_P(LogArchiveTest, AChunkAfterAHoleDropsTheOlderOutput) {
  // The node's file was trimmed before bytes 100..500 were shipped: they are gone everywhere.
  Append(0, Stream(0, 100));
  Append(500, Stream(500, 50));
  EXPECT_EQ(End(), 550u);
  EXPECT_EQ(From(0).text, DroppedHeader(500) + Stream(500, 50));
  EXPECT_EQ(From(40).text, DroppedHeader(500) + Stream(500, 50));
  EXPECT_EQ(From(520).text, Stream(520, 30));
}

TEST_P(LogArchiveTest, AFollowerAcrossTrimsNeverRepeatsAndNeverSkipsSilently) {
  // Appends of 300 bytes, 1000 kept; a follower reads 128 at a time between appends. Whatever
  // it misses is announced by a header naming the offset it resumes at.
  uint64_t at = 0, written = 0;
  int headers = 0;
  auto read = [&]() -> bool {
    LogChunk c = From(at, 128);
    if (c.text.empty()) return false;
    if (auto d = ParseDroppedHeader(c.text)) {
      EXPECT_GT(static_cast<uint64_t>(d->dropped), at) << "a header only for output not seen";
      at = static_cast<uint64_t>(d->dropped);
      c.text.erase(0, d->header_bytes);
      ++headers;
    }
    EXPECT_EQ(c.text, Stream(at, c.text.size())) << "at " << at;
    EXPECT_EQ(c.next_offset, at + c.text.size());
    at = c.next_offset;
    return true;
  };
  for (int round = 0; round < 40; ++round) {
    Append(written, Stream(written, 300), 1000);
    written += 300;
    if (round % 3 != 0) read();  // a slow follower: it falls behind
  }
  while (read()) {
  }
  EXPECT_EQ(at, written) << "it reaches the stream's end exactly";
  EXPECT_GT(headers, 0) << "the follower fell behind the kept output at least once";
}

TEST_P(LogArchiveTest, TheLogOutlivesAReopenAndGoesWithItsJob) {
  Append(0, "kept\n");
  engine_->Close();
  ASSERT_TRUE(engine_->Open(clock_).ok());
  Attach();
  EXPECT_EQ(From(0).text, "kept\n");
  ASSERT_TRUE(store_->DeleteJob(job_).ok());
  EXPECT_EQ(End(), 0u);
  EXPECT_EQ(From(0).text, "");
}

TEST_P(LogArchiveTest, TwoShippersOfOneJobStoreEachByteOnce) {
  // Two nodes (or a restarted shipper and its predecessor) send the same stream in different
  // chunkings at once.
  std::string stream = Stream(0, 20000);
  auto ship = [&](size_t step) {
    for (size_t at = 0; at < stream.size(); at += step) {
      Status st = archive_->AppendLog(job_, at, std::string_view(stream).substr(at, step), 1 << 20);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
  };
  std::thread a(ship, 700), b(ship, 1100);
  a.join();
  b.join();
  EXPECT_EQ(End(), stream.size());
  EXPECT_EQ(From(0).text, stream);
}

INSTANTIATE_TEST_SUITE_P(Engines, LogArchiveTest, ::testing::Values("Sqlite", "Postgres"),
                         EngineName);

}  // namespace
}  // namespace berth
