#include "dispatch/log_shipper.h"

#include <sys/stat.h>

#include <set>
#include <thread>

#include "common/files.h"
#include "common/log.h"
#include "job/job_files.h"
#include "job/job_log.h"

namespace berth {

LogShipper::LogShipper(LogShipperOptions opts, LogArchive& archive, Clock& clock,
                       std::function<std::vector<std::string>()> list_jobs)
    : opts_(std::move(opts)), archive_(archive), clock_(clock), list_jobs_(std::move(list_jobs)) {}

LogShipper::~LogShipper() { Stop(); }

void LogShipper::Start() {
  {
    MutexLock lock(mu_);
    if (running_) return;
    running_ = true;
  }
  scheduler_ = std::make_unique<Scheduler>(clock_);
  ScheduleNext();
}

void LogShipper::Stop() {
  {
    MutexLock lock(mu_);
    running_ = false;
  }
  scheduler_.reset();  // joins its thread: a pass in progress ends first
}

void LogShipper::ScheduleNext() {
  scheduler_->After(opts_.interval, [this] {
    {
      MutexLock lock(mu_);
      if (!running_) return;
    }
    ShipAll();
    MutexLock lock(mu_);
    if (running_) ScheduleNext();
  });
}

std::shared_ptr<LogShipper::Tracked> LogShipper::Track(const std::string& id) {
  MutexLock lock(mu_);
  auto& t = jobs_[id];
  if (!t) t = std::make_shared<Tracked>();
  return t;
}

void LogShipper::ShipAll() {
  std::vector<std::string> ids = list_jobs_();
  {
    // Forget the jobs whose files are gone (removed by retention or a delete).
    std::set<std::string> here(ids.begin(), ids.end());
    MutexLock lock(mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      it = here.contains(it->first) ? std::next(it) : jobs_.erase(it);
    }
  }
  for (const std::string& id : ids) (void)Ship(id);  // a failure is logged and tried next pass
}

Status LogShipper::ShipFinal(const std::string& id) {
  Status st;
  for (int attempt = 1; attempt <= opts_.final_attempts; ++attempt) {
    st = Ship(id);
    if (st.ok()) return st;
    if (attempt < opts_.final_attempts) {
      std::this_thread::sleep_for(milliseconds(20 * attempt));
    }
  }
  return st;
}

Status LogShipper::ContinueLog(const std::string& id) {
  std::shared_ptr<Tracked> held = Track(id);
  MutexLock lock(held->mu);
  JobFiles files(opts_.jobs_root, id);
  if (std::filesystem::exists(files.log())) return Status::Ok();
  ASSIGN_OR_RETURN(uint64_t end, archive_.StoredLogEnd(id));
  if (end == 0) return Status::Ok();
  RETURN_IF_ERROR(MakeDirs(files.dir(), 0700));
  RETURN_IF_ERROR(WriteFileAtomic(files.log(), DroppedHeader(static_cast<int64_t>(end)), 0640));
  // The file starts at stream offset `end`, which the archive holds already.
  held->resumed = true;
  held->shipped = end;
  held->inode = 0;
  held->size = -1;
  return Status::Ok();
}

Status LogShipper::Ship(const std::string& id) {
  std::shared_ptr<Tracked> held = Track(id);
  Tracked* t = held.get();
  MutexLock lock(t->mu);
  std::filesystem::path path = JobFiles(opts_.jobs_root, id).log();
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) return Status::Ok();                      // no output yet
  if (t->size == before.st_size && t->inode == before.st_ino) return Status::Ok();  // as shipped
  if (t->gone) {
    t->inode = before.st_ino;
    t->size = before.st_size;
    return Status::Ok();
  }
  if (!t->resumed) {
    Result<uint64_t> end = archive_.StoredLogEnd(id);
    if (!end.ok()) return Failed(*t, id, end.status());
    t->shipped = *end;
    t->resumed = true;
  }
  for (;;) {
    Result<LogChunk> chunk = ReadLogChunk(path, t->shipped, opts_.chunk_bytes);
    if (!chunk.ok()) return Failed(*t, id, chunk.status());
    if (chunk->text.empty()) break;
    uint64_t offset = t->shipped;
    std::string_view data = chunk->text;
    if (chunk->next_offset - offset != data.size()) {
      // The monitor trimmed output before it was shipped: the chunk starts with the header,
      // then the oldest output the file keeps. The archive drops what it has as the file did.
      std::optional<DroppedPrefix> dropped = ParseDroppedHeader(data);
      if (!dropped)
        return Failed(*t, id, Status::Internal("log chunk with an unreadable dropped header"));
      offset = static_cast<uint64_t>(dropped->dropped);
      data.remove_prefix(dropped->header_bytes);
    }
    Status st = archive_.AppendLog(id, offset, data, opts_.keep_bytes);
    if (st.IsNotFound()) {
      // No such job in the store (files of a job deleted meanwhile): nothing to ship to.
      LogInfo("log shipping: the job has no record; its log stays local", {{"job", id}});
      t->gone = true;
      break;
    }
    if (!st.ok()) return Failed(*t, id, st);
    t->shipped = chunk->next_offset;
  }
  if (t->failing) LogInfo("log shipping: caught up", {{"job", id}});
  t->failing = false;
  t->inode = before.st_ino;
  t->size = before.st_size;
  return Status::Ok();
}

Status LogShipper::Failed(Tracked& t, const std::string& id, const Status& st) {
  if (!t.failing) {
    LogWarn("log shipping: will try again",
            {{"job", id}, {"shipped", std::to_string(t.shipped)}, {"error", st.ToString()}});
  }
  t.failing = true;
  return st;
}

Status ShipOnExitRuntime::Watch(const std::string& id, ExitCallback on_exit) {
  return inner_.Watch(
      id, [this, on_exit = std::move(on_exit)](const std::string& job_id, Outcome outcome) {
        // The whole log into the archive before the dispatcher records the end. When the store
        // refuses it even after retries, the end is recorded all the same (the passes ship the
        // rest).
        Status st = shipper_.ShipFinal(job_id);
        if (!st.ok()) {
          LogWarn("log shipping: the job ended before its whole log was shipped",
                  {{"job", job_id}, {"error", st.ToString()}});
        }
        on_exit(job_id, std::move(outcome));
      });
}

}  // namespace berth
