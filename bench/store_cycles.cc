// berth-store-bench: the store's share of the cost, without HTTP or containers. For SQLite (a
// file in a temp dir) and PostgreSQL (a private durable server, tests/support/postgres_server.h)
// it measures submits/s (SubmitJob with 64 in flight: group commit) and claim → start → run →
// done cycles/s (ClaimMessages, Pending, RecordRunning, Succeeded: what a dispatcher with a
// fake runtime does per job) with 1, 2 and 4 workers. Prints one JSON object per figure.
// Usage: berth-store-bench [JOBS]   (default 2000 jobs per run). Needs root (initdb as postgres).
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "tests/support/postgres_server.h"

namespace berth {
namespace {

using Steady = std::chrono::steady_clock;

double Seconds(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

JobRecord NewJob(Clock& clock) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.spec.command = {"/bin/true"};
  job.created_at = clock.Now();
  return job;
}

// Submits `n` jobs with at most `in_flight` waiting for their commit; jobs/s.
double SubmitRate(Store& store, Clock& clock, int n, int in_flight) {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0, failed = 0;
  auto t0 = Steady::now();
  for (int i = 0; i < n; ++i) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return outstanding < in_flight; });
    ++outstanding;
    lock.unlock();
    store.SubmitJob(NewJob(clock), "jobs", [&](Status st) {
      std::lock_guard<std::mutex> l(mu);
      --outstanding;
      if (!st.ok()) ++failed;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return outstanding == 0; });
  if (failed > 0) std::fprintf(stderr, "store-bench: %d submits failed\n", failed);
  return n / Seconds(t0);
}

// Runs every queued job through claim → Pending → Running → Succeeded with `workers` threads;
// cycles/s.
double CycleRate(Store& store, Clock& clock, int workers) {
  std::atomic<int> done{0}, errors{0};
  auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (;;) {
        Result<std::vector<QueueMessage>> got = store.ClaimMessages("jobs", 1, milliseconds(60000));
        if (!got.ok()) {
          ++errors;
          continue;
        }
        if (got->empty()) return;
        const QueueMessage& m = got->front();
        JobStatusUpdate u;
        u.state = JobState::kPending;
        u.attempts = 1;
        bool ok = store.UpdateJobStatus(m.job_id, u).ok();
        u.state = JobState::kRunning;
        u.started_at = clock.Now();
        ok = ok && store.RecordRunning(m, u).ok();
        u.state = JobState::kSucceeded;
        u.exit_code = 0;
        u.finished_at = clock.Now();
        ok = ok && store.UpdateJobStatus(m.job_id, u).ok();
        if (ok) {
          ++done;
        } else {
          ++errors;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (errors > 0) std::fprintf(stderr, "store-bench: %d cycle errors\n", errors.load());
  return done / Seconds(t0);
}

void Report(const std::string& engine, const std::string& figure, double value) {
  std::printf("{\"engine\": \"%s\", \"figure\": \"%s\", \"per_second\": %.1f}\n", engine.c_str(),
              figure.c_str(), value);
  std::fflush(stdout);
}

void Measure(const std::string& engine, const std::function<Result<std::unique_ptr<Store>>()>& open,
             Clock& clock, int jobs) {
  Result<std::unique_ptr<Store>> store = open();
  if (!store.ok()) {
    std::fprintf(stderr, "store-bench: %s: %s\n", engine.c_str(),
                 store.status().ToString().c_str());
    std::exit(1);
  }
  Report(engine, "submits (64 in flight)", SubmitRate(**store, clock, jobs, 64));
  CycleRate(**store, clock, 4);  // drain what the submit run queued
  for (int workers : {1, 2, 4}) {
    SubmitRate(**store, clock, jobs, 64);
    Report(engine, "claim-run-done cycles, " + std::to_string(workers) + " workers",
           CycleRate(**store, clock, workers));
  }
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  using berth::PostgresServer, berth::PostgresStore, berth::Result, berth::SqliteStore,
      berth::Store;
  int jobs = argc > 1 ? std::atoi(argv[1]) : 2000;
  berth::SystemClock clock;
  std::string tmpl = "/tmp/berth-store-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  std::filesystem::path dir = tmpl;
  berth::Measure(
      "sqlite",
      [&]() -> Result<std::unique_ptr<Store>> {
        ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> s,
                         SqliteStore::Open(dir / "berth.db", clock));
        return std::unique_ptr<Store>(std::move(s));
      },
      clock, jobs);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  berth::PostgresServerOptions popts;
  popts.durable = true;  // fsync'd commits, as SQLite's
  Result<std::unique_ptr<PostgresServer>> server = PostgresServer::Start(popts);
  if (!server.ok()) {
    std::fprintf(stderr, "store-bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  Result<std::string> db = (*server)->CreateDatabase();
  if (!db.ok()) return 1;
  berth::Measure(
      "postgres",
      [&]() -> Result<std::unique_ptr<Store>> {
        ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> s, PostgresStore::Open(*db, clock));
        return std::unique_ptr<Store>(std::move(s));
      },
      clock, jobs);
  return 0;
}
