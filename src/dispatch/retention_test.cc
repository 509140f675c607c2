// RetentionSweeper against a real SQLite store: what it removes leaves no trace on disk.
#include "dispatch/retention.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "dispatch/dispatcher_fixture.h"

namespace berth {
namespace {

using std::chrono::hours;

constexpr char kSecret[] = "s3cr3t-token-9f1e2d";

std::string Bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

class RetentionTest : public DispatcherFixture {
 protected:
  // The database's files as they are on disk once the store is closed (WAL checkpointed).
  std::string DatabaseBytesAfterClose() {
    faulty_.reset();
    store_.reset();
    std::string bytes;
    for (const char* name : {"berth.db", "berth.db-wal", "berth.db-journal"}) {
      bytes += Bytes(dir_ / name);
    }
    auto store = SqliteStore::Open(dir_ / "berth.db", clock_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    faulty_ = std::make_unique<FaultyStore>(*store_);
    return bytes;
  }
};

// Without secure_delete, SQLite only marks a deleted row's bytes free: a swept job's
// secureEnvironmentVariables stayed readable in berth.db.
TEST_F(RetentionTest, ASweptJobsSecretIsNotLeftInTheDatabaseFile) {
  StartDispatcher();
  JobSpec spec = Spec();
  spec.secure_env["TOKEN"] = kSecret;
  std::string id = SubmitSpec(spec);
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kRunning; }));
  runtime_.Finish(id, Exited{0});
  ASSERT_TRUE(Eventually([&] { return StateOf(id) == JobState::kSucceeded; }));
  dispatcher_.reset();
  ASSERT_NE(DatabaseBytesAfterClose().find(kSecret), std::string::npos)
      << "the kept job's spec (with its secret) should be in the file";

  RetentionSweeper sweeper({hours(1), hours(1)}, *store_, runtime_, clock_);
  clock_.Advance(hours(2));
  EXPECT_EQ(sweeper.Sweep(), 1);
  EXPECT_TRUE(store_->GetJob(id).status().IsNotFound());
  EXPECT_EQ(DatabaseBytesAfterClose().find(kSecret), std::string::npos)
      << "a deleted job's secret is still in the database file";
}

}  // namespace
}  // namespace berth
