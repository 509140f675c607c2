#include "runtime/fake_runtime.h"

namespace berth {

Result<StartedContainer> FakeRuntime::Start(const std::string& id, const JobSpec& spec,
                                            const StartProgress& progress) {
  if (progress) progress("starting container");
  std::lock_guard<std::mutex> lock(mu_);
  ++start_calls_[id];
  if (failing_images_.count(spec.image)) {
    return Status::NotFound("image \"" + spec.image + "\" is not in the local store");
  }
  auto it = containers_.find(id);
  if (it != containers_.end()) {
    return Status::AlreadyExists("a monitor was already started for job " + id);
  }
  containers_[id].created = 1;
  return StartedContainer{1000, 1001};
}

Status FakeRuntime::Watch(const std::string& id, ExitCallback on_exit) {
  std::optional<Outcome> ended;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
  failing_images_.insert(image);
}

void FakeRuntime::Finish(const std::string& id, Outcome outcome) {
  ExitCallback cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& c = containers_[id];
    c.outcome = outcome;
    cb = std::move(c.on_exit);
    c.on_exit = nullptr;
  }
  if (cb) cb(id, outcome);
}

int FakeRuntime::start_calls(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return start_calls_[id];
}

int FakeRuntime::containers(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  return it == containers_.end() ? 0 : it->second.created;
}

int FakeRuntime::running() {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (auto& [id, c] : containers_) n += c.outcome ? 0 : 1;
  return n;
}

Status FakeRuntime::Stop(const std::string& id, bool force) {
  {
    std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end() || !it->second.outcome) {
    return Status::FailedPrecondition("job " + id + " has no finished run");
  }
  (void)finished_attempt;
  containers_.erase(it);
  markers_.push_back(marker);
  return Status::Ok();
}

Status FakeRuntime::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = containers_.find(id);
  if (it != containers_.end() && !it->second.outcome) {
    return Status::FailedPrecondition("job " + id + " is running");
  }
  if (it != containers_.end()) containers_.erase(it);
  return Status::Ok();
}

std::vector<std::string> FakeRuntime::ListLocalJobs() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, c] : containers_) ids.push_back(id);
  return ids;
}

std::vector<std::string> FakeRuntime::stops() {
  std::lock_guard<std::mutex> lock(mu_);
  return stops_;
}

std::vector<std::string> FakeRuntime::markers() {
  std::lock_guard<std::mutex> lock(mu_);
  return markers_;
}

}  // namespace berth
