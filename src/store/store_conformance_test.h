// The Store conformance suite: behaviour every engine must show, written once against the Store
// interface. An engine's test file provides a StoreEngine (how to open a fresh store and reopen
// it over the same data) and instantiates the suite:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//                            ::testing::Values(StoreEngine{"Sqlite", MakeSqliteHarness}),
//                            StoreEngineName);
//
// Tests only; not part of any library.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "store/store.h"

namespace berth {

// The backing data of one test (a temp directory, a scratch database). Removed on destruction.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  // Opens a store over this harness's data; called again after the last store is destroyed,
  // it must see everything that store committed.
  virtual Result<std::unique_ptr<Store>> Open(Clock& clock) = 0;
};

// One engine under test.
struct StoreEngine {
  std::string name;
  std::function<std::unique_ptr<StoreHarness>()> make_harness;
};

// Names instantiated tests after the engine ("Sqlite").
inline std::string StoreEngineName(const ::testing::TestParamInfo<StoreEngine>& info) {
  return info.param.name;
}

class StoreConformanceTest : public ::testing::TestWithParam<StoreEngine> {
 protected:
  void SetUp() override;
  void TearDown() override;

  static constexpr const char* kQueue = "jobs";
  static constexpr const char* kPoison = "jobs-poison";
  static constexpr milliseconds kLease{30'000};

  // Closes the store and opens a new one over the same data.
  void Reopen();

  // Shorthands that fail the test on an error Status.
  JobRecord Submit(JobRecord job, const std::string& queue = kQueue);  // returns `job`
  std::vector<QueueMessage> Claim(int max, milliseconds lease = kLease,
                                  std::string_view queue = kQueue);
  std::vector<QueueMessage> Peek(std::string_view queue = kQueue);
  JobRecord Get(std::string_view id);

  FakeClock clock_;
  std::unique_ptr<StoreHarness> harness_;
  std::unique_ptr<Store> store_;
};

}  // namespace berth
