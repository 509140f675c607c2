// A power cut, simulated the way SQLite tests itself: a VFS that passes every call to the real
// one but remembers what each file held at its last sync, and at the cut puts every file back to
// that (every write not yet synced is dropped, the shared-memory index is lost). Afterwards every
// job whose submission was acknowledged (its callback said OK: the 202) must still be there.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "common/random.h"
#include "store/sqlite_store.h"

namespace berth {
namespace {

// The VFS. One per process (registered once); Arm() starts tracking a directory's files.
class PowerCutVfs {
 public:
  static constexpr const char* kName = "berth-power-cut";

  static PowerCutVfs& Get() {
    static PowerCutVfs* vfs = new PowerCutVfs();
    return *vfs;
  }

  // Drops every unsynced write of every tracked file; later writes and syncs fail (the machine
  // is off) until Restore().
  void Cut() {
    std::lock_guard<std::mutex> lock(mu_);
    dead_ = true;
    for (const auto& [path, image] : durable_) {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(image.data(), static_cast<std::streamsize>(image.size()));
    }
    // Files created but never synced are gone with the power; so is the WAL index.
    for (const auto& path : created_) {
      if (!durable_.count(path)) std::filesystem::remove(path);
    }
    for (const auto& [path, image] : durable_) std::filesystem::remove(path + "-shm");
  }
  void PowerOn() {
    std::lock_guard<std::mutex> lock(mu_);
    dead_ = false;
    durable_.clear();
    created_.clear();
    seen_.clear();
  }
  int syncs() const { return syncs_.load(); }

  // Syncs of the file at `path` wait until ReleaseSyncs() (a disk that takes its time); the
  // others go on.
  void HoldSyncsOf(const std::string& path) {
    std::lock_guard<std::mutex> lock(gate_mu_);
    held_path_ = path;
  }
  void ReleaseSyncs() {
    {
      std::lock_guard<std::mutex> lock(gate_mu_);
      held_path_.clear();
    }
    gate_cv_.notify_all();
  }
  // Syncs waiting in HoldSyncsOf's gate now.
  int held() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    return held_;
  }

 private:
  struct File {
    sqlite3_file base;  // must be first: SQLite sees a File* as a sqlite3_file*
    sqlite3_file* real;
    std::string path;
  };

  PowerCutVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = kName;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.pAppData = this;
    vfs_.xOpen = &PowerCutVfs::Open;
    io_ = {};
    io_.iVersion = 1;
    io_.xClose = [](sqlite3_file* f) {
      File* file = reinterpret_cast<File*>(f);
      int rc = file->real->pMethods ? file->real->pMethods->xClose(file->real) : SQLITE_OK;
      file->path.~basic_string();
      return rc;
    };
    io_.xRead = [](sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xRead(file->real, buf, n, off);
    };
    // Writes, truncations, syncs and deletes run under the VFS's lock, so a cut falls between
    // two of them, never inside one.
    io_.xWrite = [](sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
      File* file = reinterpret_cast<File*>(f);
      std::lock_guard<std::mutex> lock(Get().mu_);
      if (Get().dead_) return SQLITE_IOERR_WRITE;
      return file->real->pMethods->xWrite(file->real, buf, n, off);
    };
    io_.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) {
      File* file = reinterpret_cast<File*>(f);
      std::lock_guard<std::mutex> lock(Get().mu_);
      if (Get().dead_) return SQLITE_IOERR_TRUNCATE;
      return file->real->pMethods->xTruncate(file->real, size);
    };
    io_.xSync = [](sqlite3_file* f, int flags) {
      File* file = reinterpret_cast<File*>(f);
      return Get().Sync(file, flags);
    };
    io_.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xFileSize(file->real, size);
    };
    io_.xLock = [](sqlite3_file* f, int l) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xLock(file->real, l);
    };
    io_.xUnlock = [](sqlite3_file* f, int l) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xUnlock(file->real, l);
    };
    io_.xCheckReservedLock = [](sqlite3_file* f, int* out) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xCheckReservedLock(file->real, out);
    };
    io_.xFileControl = [](sqlite3_file* f, int op, void* arg) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xFileControl(file->real, op, arg);
    };
    io_.xSectorSize = [](sqlite3_file* f) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xSectorSize(file->real);
    };
    io_.xDeviceCharacteristics = [](sqlite3_file* f) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xDeviceCharacteristics(file->real);
    };
    // Shared memory (the WAL index) goes to the real file; it is never synced, and the cut
    // removes it, as a real power loss leaves it unusable: SQLite rebuilds it from the WAL.
    io_.iVersion = 2;
    io_.xShmMap = [](sqlite3_file* f, int page, int size, int extend, void volatile** p) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xShmMap(file->real, page, size, extend, p);
    };
    io_.xShmLock = [](sqlite3_file* f, int offset, int n, int flags) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xShmLock(file->real, offset, n, flags);
    };
    io_.xShmBarrier = [](sqlite3_file* f) {
      File* file = reinterpret_cast<File*>(f);
      file->real->pMethods->xShmBarrier(file->real);
    };
    io_.xShmUnmap = [](sqlite3_file* f, int delete_flag) {
      File* file = reinterpret_cast<File*>(f);
      return file->real->pMethods->xShmUnmap(file->real, delete_flag);
    };
    vfs_.xDelete = [](sqlite3_vfs* vfs, const char* name, int sync_dir) {
      PowerCutVfs* self = static_cast<PowerCutVfs*>(vfs->pAppData);
      std::lock_guard<std::mutex> lock(self->mu_);
      if (self->dead_) return SQLITE_IOERR_DELETE;
      self->durable_.erase(name);
      return self->real_->xDelete(self->real_, name, sync_dir);
    };
    sqlite3_vfs_register(&vfs_, 0);
  }

  static int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    PowerCutVfs* self = static_cast<PowerCutVfs*>(vfs->pAppData);
    File* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    new (&file->path) std::string(name ? name : "");
    int rc = self->real_->xOpen(self->real_, name, file->real, flags, out_flags);
    file->base.pMethods = rc == SQLITE_OK ? &self->io_ : nullptr;
    if (rc != SQLITE_OK) {
      file->path.~basic_string();
      return rc;
    }
    if (name != nullptr) {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (!self->seen_.insert(name).second) {
        // Known already: its durable image is tracked.
      } else if (!std::filesystem::exists(name) || std::filesystem::file_size(name) == 0) {
        self->created_.insert(name);
      } else {
        // First seen with content from before this power-on: durable as it is.
        std::ifstream in(name, std::ios::binary);
        self->durable_[name] = std::string(std::istreambuf_iterator<char>(in), {});
      }
    }
    return rc;
  }

  int Sync(File* file, int flags) {
    {
      std::unique_lock<std::mutex> gate(gate_mu_);
      ++held_;
      gate_cv_.wait(gate, [&] { return held_path_.empty() || held_path_ != file->path; });
      --held_;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (dead_) return SQLITE_IOERR_FSYNC;
    int rc = file->real->pMethods->xSync(file->real, flags);
    if (rc != SQLITE_OK || file->path.empty()) return rc;
    std::ifstream in(file->path, std::ios::binary);
    durable_[file->path] = std::string(std::istreambuf_iterator<char>(in), {});
    ++syncs_;
    return rc;
  }

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
  sqlite3_io_methods io_;
  std::mutex mu_;
  bool dead_ = false;                           // GUARDED_BY(mu_)
  std::map<std::string, std::string> durable_;  // GUARDED_BY(mu_): path -> content at last sync
  std::set<std::string> created_;               // GUARDED_BY(mu_)
  std::set<std::string> seen_;                  // GUARDED_BY(mu_): files opened since power-on
  std::atomic<int> syncs_{0};
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  std::string held_path_;  // GUARDED_BY(gate_mu_): syncs of this file wait
  int held_ = 0;           // GUARDED_BY(gate_mu_)
};

JobRecord NewJob(const FakeClock& clock) {
  JobRecord job;
  job.id = NewUuidV4();
  job.spec.image = "busybox";
  job.spec.command = {"echo", job.id};
  job.created_at = clock.Now();
  return job;
}

// A new directory for one database, with the power on.
std::filesystem::path PowerOnInNewDir(const char* name) {
  PowerCutVfs::Get().PowerOn();
  std::string tmpl = std::string("/tmp/berth-") + name + "-XXXXXX";
  return mkdtemp(tmpl.data());
}

// The store of the database in `dir`, opened through the power-cut VFS.
Result<std::unique_ptr<SqliteStore>> OpenThroughVfs(const std::filesystem::path& dir, Clock& clock,
                                                    SqliteStoreOptions opts) {
  opts.vfs = PowerCutVfs::kName;
  return SqliteStore::Open(dir / "berth.db", clock, opts);
}

// The power goes while `store` is open (what it had not synced is lost, and the process with
// it); it comes back and the store opens again.
Result<std::unique_ptr<SqliteStore>> CutAndReopen(std::unique_ptr<SqliteStore>& store,
                                                  const std::filesystem::path& dir, Clock& clock,
                                                  const SqliteStoreOptions& opts) {
  PowerCutVfs::Get().Cut();
  store.reset();
  PowerCutVfs::Get().PowerOn();
  return OpenThroughVfs(dir, clock, opts);
}

// Five rounds of: four submitters until a power cut at a random moment, then every acknowledged
// job must be found after the restart. Returns the checkpoints the stores made.
uint64_t SubmitThroughPowerCuts(SqliteStoreOptions opts) {
  const uint32_t seed = std::random_device{}();
  printf("power cut: seed %u\n", seed);
  std::mt19937 rng(seed);
  PowerCutVfs& vfs = PowerCutVfs::Get();
  uint64_t checkpoints = 0;
  for (int round = 0; round < 5; ++round) {
    std::filesystem::path dir = PowerOnInNewDir("power-cut");
    FakeClock clock;
    auto store = OpenThroughVfs(dir, clock, opts);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return checkpoints;
    std::mutex mu;
    std::vector<std::string> acknowledged;
    std::atomic<int> answered{0};
    std::atomic<bool> stop{false};
    // Four submitters, as the HTTP threads would be, until the power goes.
    std::vector<std::thread> submitters;
    for (int t = 0; t < 4; ++t) {
      submitters.emplace_back([&] {
        while (!stop.load()) {
          JobRecord job = NewJob(clock);
          std::string id = job.id;
          std::promise<Status> done;
          (*store)->SubmitJob(std::move(job), "jobs", [&](Status st) { done.set_value(st); });
          Status st = done.get_future().get();
          ++answered;
          if (st.ok()) {
            std::lock_guard<std::mutex> lock(mu);
            acknowledged.push_back(id);
          }
        }
      });
    }
    // The cut comes after the first answer (a loaded machine may take long to commit it), at a
    // random moment within the next 300 ms.
    for (int i = 0; i < 10'000 && answered.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<>(0, 300)(rng)));
    vfs.Cut();  // the power goes: unsynced writes are lost
    stop = true;
    for (auto& t : submitters) t.join();
    std::vector<std::string> acked;
    {
      std::lock_guard<std::mutex> lock(mu);
      acked = acknowledged;
    }
    checkpoints += (*store)->checkpoints();
    store->reset();  // the process is gone with the power; nothing it does now reaches disk
    vfs.PowerOn();
    EXPECT_GT(acked.size(), 0u) << "the cut came before any commit; round " << round;
    auto reopened = SqliteStore::Open(dir / "berth.db", clock);
    EXPECT_TRUE(reopened.ok()) << reopened.status().ToString();
    if (!reopened.ok()) return checkpoints;
    for (const auto& id : acked) {
      EXPECT_TRUE((*reopened)->GetJob(id).ok())
          << "acknowledged job " << id << " lost (seed " << seed << ", round " << round << ")";
    }
    auto msgs = (*reopened)->PeekMessages("jobs", 1'000'000);
    EXPECT_TRUE(msgs.ok());
    if (msgs.ok()) {
      EXPECT_GE(msgs->size(), acked.size()) << "every acknowledged job keeps its message";
    }
    reopened->reset();
    std::filesystem::remove_all(dir);
  }
  EXPECT_GT(vfs.syncs(), 0) << "the store synced through the test VFS";
  return checkpoints;
}

TEST(PowerCutTest, EveryAcknowledgedSubmissionSurvivesAPowerCutAtARandomMoment) {
  SubmitThroughPowerCuts(SqliteStoreOptions{});
}

// The checkpoint thread copies the WAL into the database while commits go on: a cut in the
// middle of that loses no acknowledged job either.
TEST(PowerCutTest, AcknowledgedSubmissionsSurviveAPowerCutWhileCheckpointsRun) {
  SqliteStoreOptions opts;
  opts.checkpoint_pages = 8;  // a checkpoint every few commits
  opts.wal_limit_pages = 64;  // and truncating ones too
  EXPECT_GT(SubmitThroughPowerCuts(opts), 0u) << "checkpoints ran during the rounds";
}

// A claim commits without a sync of its own (a job's start waits for it): the store's readers
// see it at once, and a power cut before the next synced commit undoes it: the claimed jobs are
// Queued again with their messages visible, as if the claim never was. A synced commit after
// the claim (a job moving to Running) makes the claim durable with it.
TEST(PowerCutTest, AClaimIsNotSyncedAndAPowerCutBeforeTheNextSyncUndoesIt) {
  PowerCutVfs& vfs = PowerCutVfs::Get();
  std::filesystem::path dir = PowerOnInNewDir("power-cut");
  FakeClock clock;
  SqliteStoreOptions opts;
  auto store = OpenThroughVfs(dir, clock, opts);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    JobRecord job = NewJob(clock);
    ids.push_back(job.id);
    std::promise<Status> done;
    (*store)->SubmitJob(std::move(job), "jobs", [&](Status st) { done.set_value(st); });
    ASSERT_TRUE(done.get_future().get().ok());
  }
  const int syncs = vfs.syncs();
  auto claimed = (*store)->ClaimJobs("jobs", 2, std::chrono::seconds(30), {"starting"});
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), 2u);
  EXPECT_EQ(vfs.syncs(), syncs) << "the claim synced the database or its WAL";
  auto seen = (*store)->GetJob((*claimed)[0].msg.job_id);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state, JobState::kPending) << "the readers see the claim at once";

  store = CutAndReopen(*store, dir, clock, opts);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (const std::string& id : ids) {
    auto job = (*store)->GetJob(id);
    ASSERT_TRUE(job.ok()) << "acknowledged job " << id << " lost";
    EXPECT_EQ(job->state, JobState::kQueued) << id;
  }
  auto again = (*store)->ClaimJobs("jobs", 10, std::chrono::seconds(30), {"starting"});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->size(), 3u) << "every message visible again";
  for (const ClaimedJob& c : *again) EXPECT_EQ(c.msg.dequeue_count, 1) << c.msg.job_id;

  // The next synced commit carries the claim: after a cut, the claim and the Running stay.
  JobStatusUpdate running;
  running.state = JobState::kRunning;
  running.started_at = clock.Now();
  running.attempts = 1;
  ASSERT_TRUE((*store)->RecordRunning((*again)[0].msg, running).ok());
  store = CutAndReopen(*store, dir, clock, opts);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto first = (*store)->GetJob((*again)[0].msg.job_id);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->state, JobState::kRunning);
  auto second = (*store)->GetJob((*again)[1].msg.job_id);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->state, JobState::kPending) << "claimed with the first, synced with its Running";
  auto left = (*store)->ClaimJobs("jobs", 10, std::chrono::seconds(30), {"starting"});
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << "the three messages are still leased";
  store->reset();
  std::filesystem::remove_all(dir);
}

// A commit never waits for a checkpoint: while the checkpoint's fsync of the database file
// hangs (a slow disk), submissions are still committed and acknowledged. (When the writer itself
// checkpointed, SQLite's auto-checkpoint, the commit that crossed the threshold hung with it.)
TEST(CheckpointTest, CommitsGoOnWhileACheckpointWaitsForTheDisk) {
  PowerCutVfs& vfs = PowerCutVfs::Get();
  std::filesystem::path dir = PowerOnInNewDir("checkpoint");
  FakeClock clock;
  SqliteStoreOptions opts;
  opts.checkpoint_pages = 16;
  auto store = OpenThroughVfs(dir, clock, opts);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // One submission, answered within 10 s (or not).
  auto submit = [&]() -> bool {
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> answer = done->get_future();
    (*store)->SubmitJob(NewJob(clock), "jobs", [done](Status st) { done->set_value(st); });
    if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return false;
    return answer.get().ok();
  };
  vfs.HoldSyncsOf((dir / "berth.db").string());
  int submitted = 0;
  bool acked = true;
  while (acked && vfs.held() == 0 && submitted < 5000) {
    acked = submit();
    ++submitted;
  }
  EXPECT_TRUE(acked) << "submission " << submitted << " hung behind the database's fsync";
  EXPECT_EQ(vfs.held(), 1) << "a checkpoint is waiting for the database's fsync";
  for (int i = 0; acked && i < 20; ++i) {
    acked = submit();
    EXPECT_TRUE(acked) << "submission " << i << " after the checkpoint began hung behind it";
  }
  vfs.ReleaseSyncs();
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth
