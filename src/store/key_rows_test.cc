// KeyRows (store/key_rows.h) on both engines: real SQLite and a real PostgreSQL 15 server.
#include "store/key_rows.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "tests/support/test_stores.h"

namespace berth {
namespace {

class KeyRowsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<TestStores>(GetParam());
    Status st = engine_->Open(clock_);
    ASSERT_TRUE(st.ok()) << st.ToString();
    rows_ = dynamic_cast<KeyRows*>(engine_->store());
    ASSERT_NE(rows_, nullptr);
  }
  void Reopen() {
    engine_->Close();
    Status st = engine_->Open(clock_);
    ASSERT_TRUE(st.ok()) << st.ToString();
    rows_ = dynamic_cast<KeyRows*>(engine_->store());
    ASSERT_NE(rows_, nullptr);
  }
  // "scope/name=value" of every row, in the order listed.
  std::vector<std::string> Listed() {
    Result<std::vector<KeyRow>> rows = rows_->ListKeyRows();
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    std::vector<std::string> out;
    if (rows.ok()) {
      for (const KeyRow& r : *rows) out.push_back(r.scope + "/" + r.name + "=" + r.value);
    }
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<TestStores> engine_;
  KeyRows* rows_ = nullptr;
};

TEST_P(KeyRowsTest, PutCreatesThenReplacesAndListIsByScopeThenName) {
  EXPECT_TRUE(Listed().empty());
  Result<bool> created = rows_->PutKeyRow("jobs", "ci", "value-one-0123456789");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(*created);
  ASSERT_TRUE(rows_->PutKeyRow("", "ops", "value-two-0123456789").ok());
  ASSERT_TRUE(rows_->PutKeyRow("", "_master", "value-master-012345").ok());
  Result<bool> replaced = rows_->PutKeyRow("jobs", "ci", "value-three-01234567");
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  EXPECT_FALSE(*replaced);
  EXPECT_EQ(Listed(),
            (std::vector<std::string>{"/_master=value-master-012345", "/ops=value-two-0123456789",
                                      "jobs/ci=value-three-01234567"}));
}

TEST_P(KeyRowsTest, RowsCarryWhenTheyChanged) {
  ASSERT_TRUE(rows_->PutKeyRow("", "ops", "value-two-0123456789").ok());
  clock_.Advance(milliseconds(5000));
  ASSERT_TRUE(rows_->PutKeyRow("", "ops", "value-new-0123456789").ok());
  Result<std::vector<KeyRow>> rows = rows_->ListKeyRows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].updated_at, clock_.Now());
}

TEST_P(KeyRowsTest, InsertIfAbsentKeepsTheFirstValue) {
  Result<std::string> first = rows_->InsertKeyRowIfAbsent("", "default", "first-value-0123456");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, "first-value-0123456");
  Result<std::string> second = rows_->InsertKeyRowIfAbsent("", "default", "second-value-012345");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, "first-value-0123456");
  EXPECT_EQ(Listed(), (std::vector<std::string>{"/default=first-value-0123456"}));
}

TEST_P(KeyRowsTest, RacingInsertsAllLearnTheOneValueThatWon) {
  constexpr int kRacers = 8;
  std::vector<std::string> got(kRacers);
  std::vector<Status> errors(kRacers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i) {
    threads.emplace_back([&, i] {
      Result<std::string> r =
          rows_->InsertKeyRowIfAbsent("", "_master", "racer-" + std::to_string(i) + "-0123456789");
      if (r.ok()) {
        got[i] = *r;
      } else {
        errors[i] = r.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : errors) EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 1u);
  EXPECT_EQ(Listed(), (std::vector<std::string>{"/_master=" + got[0]}));
}

TEST_P(KeyRowsTest, DeleteRemovesAndNotFoundWhenGone) {
  ASSERT_TRUE(rows_->PutKeyRow("jobs", "ci", "value-one-0123456789").ok());
  EXPECT_EQ(rows_->DeleteKeyRow("", "ci").code(), StatusCode::kNotFound);  // another scope
  ASSERT_TRUE(rows_->DeleteKeyRow("jobs", "ci").ok());
  EXPECT_EQ(rows_->DeleteKeyRow("jobs", "ci").code(), StatusCode::kNotFound);
  EXPECT_TRUE(Listed().empty());
}

TEST_P(KeyRowsTest, RowsSurviveAReopen) {
  ASSERT_TRUE(rows_->PutKeyRow("jobs", "ci", "value-one-0123456789").ok());
  ASSERT_TRUE(rows_->InsertKeyRowIfAbsent("", "_master", "value-master-012345").ok());
  Reopen();
  EXPECT_EQ(Listed(), (std::vector<std::string>{"/_master=value-master-012345",
                                                "jobs/ci=value-one-0123456789"}));
}

INSTANTIATE_TEST_SUITE_P(Engines, KeyRowsTest, ::testing::Values("Sqlite", "Postgres"), EngineName);

}  // namespace
}  // namespace berth
