#include "runtime/fake_runtime.h"

namespace berth {

Result<StartedContainer> FakeRuntime::Start(const std::string& id, const JobSpec& spec,
                                            const StartProgress& progress) {
  std::function<void(const std::string&)> hook;
  {
    MutexLock lock(mu_);
    ++start_calls_[id];
    if (starting_.count(id)) {
      return Status::Unavailable("another start of job " + id + " is in progress on this node");
    }
    if (containers_.count(id)) {
      return Status::AlreadyExists("a monitor was already started for job " + id);
    }
    starting_.insert(id);
    hook = start_hook_;
  }
  {
    // Like the real start: an image that is not here is pulled first, on this thread.
    MutexLock lock(mu_);
    PullLocked(lock, spec.image);
  }
  // Like the real start, the slow part runs without any lock held.
  if (progress) progress("starting container");
  if (hook) hook(id);
  MutexLock lock(mu_);
  starting_.erase(id);
  if (failing_images_.count(spec.image)) {
    return Status::NotFound("image \"" + spec.image + "\" is not in the local store");
  }
  containers_[id].created += 1;
  return StartedContainer{1000, 1001};
}

void FakeRuntime::PullLocked(MutexLock& lock, const std::string& image) {
  if (!absent_images_.count(image)) return;
  ++pulls_in_flight_;
  while (released_images_.count(image) == 0) cv_.wait(lock);
  --pulls_in_flight_;
  absent_images_.erase(image);
}

bool FakeRuntime::HasImage(const std::string& image) {
  MutexLock lock(mu_);
  return !absent_images_.count(image);
}

Status FakeRuntime::PullImage(const std::string& image, const StartProgress& progress) {
  if (progress) progress("pulling image " + image);
  MutexLock lock(mu_);
  PullLocked(lock, image);
  return Status::Ok();
}

void FakeRuntime::HoldPull(const std::string& image) {
  MutexLock lock(mu_);
  absent_images_.insert(image);
  released_images_.erase(image);
}

void FakeRuntime::ReleasePull(const std::string& image) {
  {
    MutexLock lock(mu_);
    released_images_.insert(image);
  }
  cv_.notify_all();
}

int FakeRuntime::pulls_in_flight() {
  MutexLock lock(mu_);
  return pulls_in_flight_;
}

void FakeRuntime::set_start_hook(std::function<void(const std::string& id)> hook) {
  MutexLock lock(mu_);
  start_hook_ = std::move(hook);
}

int FakeRuntime::watches() {
  MutexLock lock(mu_);
  int n = 0;
  for (auto& [id, c] : containers_) n += c.on_exit ? 1 : 0;
  return n;
}

void FakeRuntime::StopWatching() {
  MutexLock lock(mu_);
  watching_stopped_ = true;
  for (auto& [id, c] : containers_) c.on_exit = nullptr;
  // As MonitorWatcher::Stop: once this returns, no callback runs, not even one begun before.
  while (callbacks_running_ != 0) cv_.wait(lock);
}

Status FakeRuntime::Watch(const std::string& id, ExitCallback on_exit) {
  std::optional<Outcome> ended;
  {
    MutexLock lock(mu_);
    if (watching_stopped_) return Status::Unavailable("the runtime has stopped watching");
    auto it = containers_.find(id);
    if (it == containers_.end()) return Status::NotFound("no monitor was started for job " + id);
    if (it->second.outcome) {
      ended = it->second.outcome;
    } else {
      it->second.on_exit = std::move(on_exit);
    }
  }
  if (ended) on_exit(id, *ended);
  return Status::Ok();
}

void FakeRuntime::FailImage(const std::string& image) {
  MutexLock lock(mu_);
  failing_images_.insert(image);
}

void FakeRuntime::Finish(const std::string& id, Outcome outcome) {
  ExitCallback cb;
  {
    MutexLock lock(mu_);
    auto& c = containers_[id];
    c.outcome = outcome;
    cb = std::move(c.on_exit);
    c.on_exit = nullptr;
    if (cb) ++callbacks_running_;
  }
  if (!cb) return;
  cb(id, outcome);
  {
    MutexLock lock(mu_);
    --callbacks_running_;
  }
  cv_.notify_all();
}

void FakeRuntime::StartsComing() {
  MutexLock lock(mu_);
  if (starts_coming_++ == 0) {
    int made = 0;
    for (const auto& [id, n] : start_calls_) made += n;
    starts_before_first_hint_ = made;
  }
}

int FakeRuntime::starts_coming() {
  MutexLock lock(mu_);
  return starts_coming_;
}

int FakeRuntime::starts_before_first_hint() {
  MutexLock lock(mu_);
  return starts_before_first_hint_;
}

int FakeRuntime::start_calls(const std::string& id) {
  MutexLock lock(mu_);
  return start_calls_[id];
}

int FakeRuntime::containers(const std::string& id) {
  MutexLock lock(mu_);
  auto it = containers_.find(id);
  return it == containers_.end() ? 0 : it->second.created;
}

int FakeRuntime::running() {
  MutexLock lock(mu_);
  int n = 0;
  for (auto& [id, c] : containers_) n += c.outcome ? 0 : 1;
  return n;
}

Status FakeRuntime::Stop(const std::string& id, bool force) {
  {
    MutexLock lock(mu_);
    auto it = containers_.find(id);
    if (it == containers_.end() || it->second.outcome) {
      return Status::NotFound("no live monitor for job " + id);
    }
    stops_.push_back((force ? "KILL " : "TERM ") + id);
  }
  if (force) {
    Finish(id, Signaled{9});
  } else if (obey_sigterm_) {
    Finish(id, Signaled{15});
  }
  return Status::Ok();
}

Status FakeRuntime::PrepareRetry(const std::string& id, int finished_attempt,
                                 const std::string& marker) {
  MutexLock lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return Status::Ok();  // set aside already, as the real one says
  if (!it->second.outcome) return Status::FailedPrecondition("job " + id + " still runs");
  (void)finished_attempt;
  containers_.erase(it);
  markers_.push_back(marker);
  return Status::Ok();
}

Status FakeRuntime::Remove(const std::string& id) {
  MutexLock lock(mu_);
  auto it = containers_.find(id);
  if (it != containers_.end() && !it->second.outcome) {
    return Status::FailedPrecondition("job " + id + " is running");
  }
  if (it != containers_.end()) containers_.erase(it);
  return Status::Ok();
}

std::vector<std::string> FakeRuntime::ListLocalJobs() {
  MutexLock lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, c] : containers_) ids.push_back(id);
  return ids;
}

std::vector<std::string> FakeRuntime::stops() {
  MutexLock lock(mu_);
  return stops_;
}

std::vector<std::string> FakeRuntime::markers() {
  MutexLock lock(mu_);
  return markers_;
}

}  // namespace berth
