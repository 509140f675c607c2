#include "daemon/store_copy.h"

#include <algorithm>
#include <climits>
#include <map>

#include "daemon/data_dir_lock.h"
#include "daemon/key_store.h"
#include "job/job_files.h"
#include "job/job_log.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace berth {
namespace {

constexpr int kListPage = 1000;
constexpr size_t kLogChunkBytes = 1 << 20;

// Every job id of `store`, oldest first (submission order), read as summaries page by page.
Result<std::vector<std::string>> AllJobIds(Store& store) {
  std::vector<std::string> ids;
  int64_t before = INT64_MAX;
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<JobRecord> page, store.ListJobSummaries({}, kListPage, before));
    for (const JobRecord& j : page) ids.push_back(j.id);
    if (static_cast<int>(page.size()) < kListPage) break;
    before = page.back().seq;
  }
  std::reverse(ids.begin(), ids.end());
  return ids;
}

// The messages of every queue in `queues` (and its poison queue), by job.
Result<std::multimap<std::string, QueueMessage>> AllMessages(
    Store& store, const std::vector<std::string>& queues) {
  std::multimap<std::string, QueueMessage> by_job;
  for (const std::string& q : queues) {
    for (const std::string& name : {q, q + "-poison"}) {
      ASSIGN_OR_RETURN(std::vector<QueueMessage> msgs, store.PeekMessages(name, INT_MAX));
      for (QueueMessage& m : msgs) by_job.emplace(m.job_id, std::move(m));
    }
  }
  return by_job;
}

// Copies job `id`'s log from `from` to `logs`; returns the bytes copied. The archive keeps a
// chunk it has already once, so a copy run again adds nothing.
Result<int64_t> CopyLog(const CopySource& from, LogArchive& logs, const std::string& id,
                        uint64_t keep_bytes) {
  int64_t bytes = 0;
  uint64_t offset = 0;
  for (;;) {
    ASSIGN_OR_RETURN(LogChunk chunk, from.read_log(id, offset, kLogChunkBytes));
    if (chunk.text.empty() || chunk.next_offset <= offset) return bytes;
    std::string_view data = chunk.text;
    uint64_t at = offset;
    // A trimmed log starts with the header that says how much is gone; the archive learns it
    // from the offset of the first chunk instead.
    if (auto dropped = ParseDroppedHeader(data);
        dropped && static_cast<uint64_t>(dropped->dropped) > offset) {
      at = static_cast<uint64_t>(dropped->dropped);
      data.remove_prefix(dropped->header_bytes);
    }
    if (!data.empty()) {
      RETURN_IF_ERROR(
          logs.AppendLog(id, at, data, keep_bytes).WithContext("copy the log of job " + id));
      bytes += static_cast<int64_t>(data.size());
    }
    offset = chunk.next_offset;
  }
}

Status CopyKeys(const CopySource& from, const CopyDestination& to, const StoreCopyOptions& opts,
                StoreCopyReport& report) {
  for (const KeyRow& row : from.keys) {
    ASSIGN_OR_RETURN(std::string stored,
                     to.keys->InsertKeyRowIfAbsent(row.scope, row.name, row.value));
    if (stored == row.value) {
      ++report.keys_copied;
      continue;
    }
    std::string named =
        (row.scope.empty() ? "host key '" : "key '" + row.scope + "/") + row.name + "'";
    if (opts.merge) {
      ++report.keys_kept;
      report.warnings.push_back(named +
                                " exists in the destination with another value: kept the "
                                "destination's (the source's value no longer works)");
      continue;
    }
    RETURN_IF_ERROR(to.keys->PutKeyRow(row.scope, row.name, row.value).status());
    ++report.keys_copied;
    report.warnings.push_back(named + " had another value in the destination: replaced");
  }
  return Status::Ok();
}

Status CopySchedules(const CopySource& from, const CopyDestination& to, StoreCopyReport& report) {
  ASSIGN_OR_RETURN(std::vector<ScheduleRecord> schedules, from.triggers->ListSchedules());
  for (const ScheduleRecord& s : schedules) {
    Status st = to.import->ImportSchedule(s);
    if (st.code() == StatusCode::kAlreadyExists) {
      ++report.schedules_present;
    } else {
      RETURN_IF_ERROR(st.WithContext("copy schedule " + s.spec.name));
      ++report.schedules_copied;
    }
  }
  return Status::Ok();
}

Status CopyJobs(const CopySource& from, const CopyDestination& to, const StoreCopyOptions& opts,
                StoreCopyReport& report) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, AllJobIds(*from.store));
  ASSIGN_OR_RETURN(auto messages, AllMessages(*from.store, opts.queues));
  report.jobs = static_cast<int64_t>(ids.size());
  int64_t unfinished = 0;
  int64_t done = 0;
  for (const std::string& id : ids) {
    Result<JobRecord> job = from.store->GetJob(id);
    if (job.status().IsNotFound()) continue;  // removed (retention) since it was listed
    if (!job.ok()) return job.status().WithContext("read job " + id);
    ImportedJob imported;
    imported.job = std::move(job).value();
    imported.array_queue = opts.queues.empty() ? std::string("jobs") : opts.queues.front();
    auto [first, last] = messages.equal_range(id);
    for (auto it = first; it != last; ++it) imported.messages.push_back(it->second);
    const JobRecord& j = imported.job;
    if (j.state == JobState::kQueued && j.spec.count == 0 && j.parent_id.empty() &&
        imported.messages.empty()) {
      report.warnings.push_back("job " + id +
                                " is Queued but none of the queues copied holds its message "
                                "(a JobQueueName other than --queue?): it will not run");
    }
    if (j.state == JobState::kPending || j.state == JobState::kRunning) ++unfinished;
    Status st = to.import->ImportJob(imported);
    if (st.code() == StatusCode::kAlreadyExists) {
      ++report.jobs_present;
    } else {
      RETURN_IF_ERROR(st.WithContext("copy job " + id));
      ++report.jobs_copied;
      report.messages += static_cast<int64_t>(imported.messages.size());
    }
    if (to.logs != nullptr && from.read_log) {
      ASSIGN_OR_RETURN(int64_t bytes, CopyLog(from, *to.logs, id, opts.log_keep_bytes));
      if (bytes > 0) ++report.logs;
      report.log_bytes += bytes;
    }
    if (opts.progress) opts.progress(++done, report.jobs);
  }
  if (unfinished > 0) {
    report.warnings.push_back(std::to_string(unfinished) +
                              " job(s) were Pending or Running when the source stopped: they are "
                              "copied as they were; their containers ran on the old node");
  }
  return Status::Ok();
}

bool IsConnection(const std::string& s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://") ||
         s.find('=') != std::string::npos;
}

}  // namespace

std::vector<KeyRow> KeyRowsOf(const KeySet& keys) {
  std::vector<KeyRow> rows;
  if (!keys.master.empty()) rows.push_back({"", std::string(kMasterKeyName), keys.master, {}});
  for (const auto& [name, value] : keys.host) rows.push_back({"", name, value, {}});
  for (const auto& [function, named] : keys.functions) {
    for (const auto& [name, value] : named) rows.push_back({function, name, value, {}});
  }
  return rows;
}

Result<StoreCopyReport> CopyStore(const CopySource& from, const CopyDestination& to,
                                  const StoreCopyOptions& opts) {
  if (from.store == nullptr || from.triggers == nullptr || to.store == nullptr ||
      to.import == nullptr || to.keys == nullptr) {
    return Status::InvalidArgument("store copy: a store is missing");
  }
  ASSIGN_OR_RETURN(std::vector<JobRecord> present, to.store->ListJobSummaries({}, 1, INT64_MAX));
  if (!present.empty() && !opts.merge) {
    return Status::FailedPrecondition(
        "the destination holds jobs already; to add these to them, run the copy again with "
        "--merge (jobs and schedules already there are left as they are, so a copy that "
        "stopped half-way can be finished that way)");
  }
  StoreCopyReport report;
  report.logs_skipped = to.logs == nullptr || !from.read_log;
  RETURN_IF_ERROR(CopyKeys(from, to, opts, report));
  RETURN_IF_ERROR(CopySchedules(from, to, report));
  RETURN_IF_ERROR(CopyJobs(from, to, opts, report));
  return report;
}

Result<StoreCopyReport> RunStoreCopy(const std::string& from, const std::string& to,
                                     const StoreCopyOptions& opts, Clock& clock) {
  if (!IsConnection(to)) {
    return Status::InvalidArgument(
        "--to must be a PostgreSQL connection (postgresql://... or "
        "host=... dbname=...), got '" +
        to + "'");
  }
  if (from == to) return Status::InvalidArgument("--from and --to are the same store");
  PostgresStoreOptions small;
  small.connections = 2;
  small.submitters = 1;

  // The source: a stopped node's data dir, or a connection.
  std::optional<DataDirLock> lock;
  std::unique_ptr<Store> source;
  CopySource src;
  std::error_code ec;
  if (std::filesystem::is_directory(from, ec)) {
    std::filesystem::path dir = std::filesystem::absolute(from, ec);
    if (!std::filesystem::exists(dir / "berth.db", ec)) {
      return Status::NotFound("--from " + dir.string() +
                              ": no berth.db there (not a berth data dir, or its node kept its "
                              "jobs in PostgreSQL: copy from that connection instead)");
    }
    Result<DataDirLock> locked = DataDirLock::Acquire(dir);
    if (!locked.ok()) {
      if (locked.status().code() != StatusCode::kFailedPrecondition) return locked.status();
      return Status::FailedPrecondition("--from " + dir.string() +
                                        ": its berth daemon is running (" +
                                        locked.status().message() + "); stop it first, then copy");
    }
    lock.emplace(std::move(locked).value());
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> sqlite,
                     SqliteStore::Open(dir / "berth.db", clock));
    src.store = sqlite.get();
    src.triggers = sqlite.get();
    source = std::move(sqlite);
    ASSIGN_OR_RETURN(KeySet keys, FileKeyStore::ReadKeys(dir));
    src.keys = KeyRowsOf(keys);
    src.read_log = [jobs = dir / "jobs"](const std::string& id, uint64_t offset, size_t max) {
      return ReadLogChunk(JobFiles(jobs, id).log(), offset, max);
    };
  } else if (IsConnection(from)) {
    ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> pg, PostgresStore::Open(from, clock, small));
    src.store = pg.get();
    src.triggers = pg.get();
    ASSIGN_OR_RETURN(src.keys, pg->ListKeyRows());
    if (auto* archive = dynamic_cast<LogArchive*>(pg.get())) {
      src.read_log = [archive](const std::string& id, uint64_t offset, size_t max) {
        return archive->ReadLogFrom(id, offset, max);
      };
    }
    source = std::move(pg);
  } else {
    return Status::InvalidArgument(
        "--from must be a berth data dir or a PostgreSQL connection, "
        "got '" +
        from + "'");
  }

  ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> dest, PostgresStore::Open(to, clock, small));
  CopyDestination dst;
  dst.store = dest.get();
  dst.import = dest.get();
  dst.keys = dest.get();
  // The store's log archive, once the engine keeps logs (store/log_archive.h).
  dst.logs = dynamic_cast<LogArchive*>(dest.get());
  return CopyStore(src, dst, opts);
}

}  // namespace berth
