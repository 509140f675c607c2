#include "runtime/oci_runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/files.h"
#include "common/log.h"
#include "common/process.h"
#include "common/top_directory.h"
#include "common/unique_fd.h"
#include "images/image_puller.h"
#include "job/job_files.h"
#include "runtime/image_user.h"
#include "runtime/sealed_binary.h"

namespace berth {
namespace {

// Reads the monitor's one-line report ("OK <pid>" / "ERR <message>") until EOF or the timeout.
Result<std::string> ReadReport(int fd, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  char buf[4096];
  for (;;) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::DeadlineExceeded("the monitor did not report a start");
    struct pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("wait for the monitor", errno);
    if (n == 0) continue;
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    line.append(buf, static_cast<size_t>(r));
  }
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

// A start failure that no retry can cure (the spec and image are what they are).
Status Permanent(const Status& st) {
  if (st.code() != StatusCode::kInvalidArgument) return st;
  return Status::FailedPrecondition(st.message());
}

// `st` with the data dir's path replaced by "<data dir>": start failures become the job's
// reason, which an anonymous caller may read.
Status Redacted(const Status& st, const std::filesystem::path& data_dir) {
  if (st.ok()) return st;
  std::string msg = RedactDir(st.message(), data_dir, "<data dir>");
  if (msg == st.message()) return st;
  switch (st.code()) {
    case StatusCode::kFailedPrecondition:
      return Status::FailedPrecondition(msg);
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(msg);
    case StatusCode::kNotFound:
      return Status::NotFound(msg);
    case StatusCode::kAlreadyExists:
      return Status::AlreadyExists(msg);
    case StatusCode::kDeadlineExceeded:
      return Status::DeadlineExceeded(msg);
    case StatusCode::kIoError:
      return Status::IoError(msg);
    case StatusCode::kInternal:
      return Status::Internal(msg);
    default:
      return Status::Unavailable(msg);
  }
}

}  // namespace

std::vector<std::string> IsolationWarnings(const OciRuntimeOptions& opts) {
  std::vector<std::string> warnings;
  if (opts.config.user_namespace.count == 0) {
    warnings.push_back(
        "UserNamespaceRange is empty: jobs run WITHOUT a user namespace (root in a job is root "
        "on the host)");
  }
  return warnings;
}

namespace {
// Job directories kept made ahead: enough for a burst of starts between two refills.
constexpr int kSpareJobDirs = 4;
}  // namespace

OciRuntime::OciRuntime(OciRuntimeOptions opts, ImageStore& images)
    : opts_(std::move(opts)),
      images_(images),
      layout_(DetectCgroupLayout()),
      watcher_([this] { SettleEnded(); }),
      job_dirs_(opts_.jobs_root, kSpareJobDirs, 0700) {
  for (const std::string& w : IsolationWarnings(opts_)) {
    LogWarn(w);
  }
  // A profile that does not translate is reported by the first job that needs it.
  seccomp_warmer_ = std::jthread([this] { (void)WarmSeccompFilter(opts_.config); });
  // Each job makes its files in its own directory under these two (common/top_directory.h). A
  // node without a runtime (an api node) starts no container: it gets no state root.
  if (::access(opts_.runtime_binary.c_str(), X_OK) == 0) {
    for (const auto& root : {opts_.jobs_root, opts_.state_root}) {
      Status st = MakeDirs(root, 0700);
      if (st.ok()) st = MarkTopDirectory(root);
      if (!st.ok()) LogWarn("runtime: " + st.ToString());
    }
    job_dirs_.Adopt();
    auto self = ReadFile("/proc/thread-self/cgroup");
    warmer_ = std::make_unique<MigrationWarmer>(self.ok() ? MigrationWarmTarget(layout_, *self)
                                                          : std::filesystem::path());
  }
  if (opts_.run_from_sealed_copy) {
    Result<UniqueFd> copy = SealedCopy(opts_.runtime_binary);
    if (copy.ok()) {
      runtime_copy_ = std::move(*copy);
    } else {
      LogInfo("runtime: each start runs " + opts_.runtime_binary +
              " from its path (no sealed copy: " + copy.status().message() + ")");
    }
  }
}

Status OciRuntime::PrepareBundle(const std::string& id, const JobSpec& spec,
                                 const StartProgress& progress) {
  // From the store, or pulled (one pull shared by concurrent jobs). A failed pull is
  // FailedPrecondition (permanent) or Unavailable (retry) with "ImagePullFailed: ...".
  // Only a pull is slow enough to report (each report is a store commit on the start path).
  auto local = images_.Resolve(spec.image);
  bool pull = !local.ok();
  if (pull && progress) progress("pulling image " + spec.image);
  ASSIGN_OR_RETURN(Image image, pull ? images_.EnsureImage(spec.image) : std::move(local));
  if (pull && progress) progress("starting container");
  // A user name means the image's own /etc/passwd; never fall back to root.
  ASSIGN_OR_RETURN(image.config.user, ResolveImageUser(image.config.user, image.layer_dirs));
  // A config that cannot be built from this spec and image never can: permanent.
  Result<std::string> config = BuildOciConfig(id, spec, image.config, opts_.config);
  if (!config.ok()) return Permanent(config.status());
  JobFiles files(opts_.jobs_root, id);
  std::error_code ec;
  // Leftovers of an earlier failed start; the log stays, it keeps every attempt.
  for (const auto& p : {files.upper(), files.work(), files.rootfs()}) {
    std::filesystem::remove_all(p, ec);
  }
  for (const auto& p : {files.upper(), files.work(), files.rootfs()}) {
    RETURN_IF_ERROR(MakeDirs(p, 0755));
  }
  // No fsync: the bundle is rebuilt on every start, and nothing runs after a machine crash.
  RETURN_IF_ERROR(WriteFileReplace(files.config(), *config, 0600));
  std::string lower;
  for (auto it = image.layer_dirs.rbegin(); it != image.layer_dirs.rend(); ++it) {
    if (!lower.empty()) lower += ':';
    lower += it->string();
  }
  return WriteFileReplace(files.lower(), lower, 0600);
}

std::vector<std::string> OciRuntime::MonitorArgs(const std::string& id) const {
  JobFiles files(opts_.jobs_root, id);
  std::vector<std::string> args = {opts_.monitor_binary,
                                   "shim",
                                   "--id",
                                   id,
                                   "--job-dir",
                                   files.dir().string(),
                                   "--runtime",
                                   opts_.runtime_binary,
                                   "--runtime-root",
                                   opts_.state_root.string()};
  if (layout_.mode == CgroupMode::kHybrid) {
    for (const auto& m : layout_.v2_mounts) args.insert(args.end(), {"--hide-mount", m});
  }
  if (const IdRange& r = opts_.config.user_namespace; r.count > 0) {
    args.insert(args.end(), {"--userns", std::to_string(r.start) + ":" + std::to_string(r.count)});
  }
  // The cgroupsPath of oci_config.cc.
  if (std::string oom = OomEventsFile(layout_, "/berth-" + id); !oom.empty()) {
    args.insert(args.end(), {"--oom-events-file", oom});
  }
  if (opts_.log_max_bytes > 0) {
    args.insert(args.end(), {"--log-max-bytes", std::to_string(opts_.log_max_bytes)});
  }
  if (opts_.upper_max_bytes > 0) {
    args.insert(args.end(), {"--upper-max-bytes", std::to_string(opts_.upper_max_bytes)});
  }
  return args;
}

// The daemon's environment, with glibc's per-thread cache of freed blocks off: a monitor lives
// as long as its job, and that cache would keep its start-up's freed heap (about 50 KiB of a
// monitor's 130) for the whole run. The runtime it starts inherits it, the container does not
// (its environment is its config's).
namespace {
std::vector<std::string> MonitorEnvironment() {
  constexpr std::string_view kTunables = "GLIBC_TUNABLES=";
  constexpr std::string_view kNoTcache = "glibc.malloc.tcache_count=0";
  std::vector<std::string> env;
  bool tuned = false;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (entry.starts_with(kTunables)) {
      entry += (entry.size() > kTunables.size() ? ":" : "") + std::string(kNoTcache);
      tuned = true;
    }
    env.push_back(std::move(entry));
  }
  if (!tuned) env.push_back(std::string(kTunables) + std::string(kNoTcache));
  return env;
}
}  // namespace

Result<StartedContainer> OciRuntime::LaunchMonitor(const std::string& id, int claim_fd,
                                                   bool keep_environment) {
  JobFiles files(opts_.jobs_root, id);
  std::vector<std::string> args = MonitorArgs(id);
  args.insert(args.end(), {"--claim-fd", "4"});
  if (runtime_copy_) args.insert(args.end(), {"--runtime-fd", "5"});
  if (keep_environment) args.push_back("--keep-environment");
  if (opts_.batch_deletes) args.push_back("--leave-container");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
  UniqueFd sync_r(pipe_fds[0]);
  UniqueFd pipe_w(pipe_fds[1]);
  UniqueFd log_fd(
      ::open(files.monitor_log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  // Sources above 5, so that placing them at 3, 4 and 5 cannot overwrite one another.
  UniqueFd sync_w(::fcntl(pipe_w.get(), F_DUPFD_CLOEXEC, 6));
  pipe_w.Reset();  // its copy above 5 is what the monitor gets
  UniqueFd claim(::fcntl(claim_fd, F_DUPFD_CLOEXEC, 6));
  UniqueFd runtime_copy;
  if (runtime_copy_) runtime_copy.Reset(::fcntl(runtime_copy_.get(), F_DUPFD_CLOEXEC, 6));
  int out = log_fd ? log_fd.get() : null_fd.get();
  // posix_spawn (a vfork underneath): no copy of the daemon's page tables per job.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, null_fd.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, out, 2);
  posix_spawn_file_actions_adddup2(&actions, sync_w.get(), 3);
  posix_spawn_file_actions_adddup2(&actions, claim.get(), 4);
  if (runtime_copy) posix_spawn_file_actions_adddup2(&actions, runtime_copy.get(), 5);
  posix_spawn_file_actions_addclosefrom_np(&actions, runtime_copy ? 6 : 5);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> env = MonitorEnvironment();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int spawn_err = (!sync_w || !claim || (runtime_copy_ && !runtime_copy))
                      ? EMFILE
                      : ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  // Only the monitor may hold the write end: its report ends at EOF.
  for (UniqueFd* fd : {&sync_w, &claim, &runtime_copy, &log_fd, &null_fd}) fd->Reset();
  if (spawn_err != 0) return ErrnoStatus("start the monitor", spawn_err);
  auto report = ReadReport(sync_r.get(), opts_.start_timeout);
  sync_r.Reset();
  if (report.ok() && report->starts_with("OK ")) {
    return StartedContainer{pid, std::atoi(report->c_str() + 3)};
  }
  if (!report.ok()) ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  if (!report.ok()) {
    // Abandoned (we still hold the claim): nothing of this attempt may be adopted later. Delete
    // whatever container it may have created, then its monitor record.
    DeleteLeftoverContainer(id);
    ::unlink(files.monitor().c_str());
    return report.status();
  }
  if (report->starts_with("ERR ")) return Status::Unavailable(report->substr(4));
  // The runtime refused the container for a reason of its config or image: no retry helps.
  if (report->starts_with("REFUSED ")) return Status::FailedPrecondition(report->substr(8));
  DeleteLeftoverContainer(id);
  ::unlink(files.monitor().c_str());
  auto diag = ReadFileTail(files.monitor_log(), 1024);
  return Status::Internal("the monitor exited without reporting a start" +
                          (diag.ok() ? ": " + diag->data : std::string()));
}

void OciRuntime::StartsComing() {
  if (warmer_) warmer_->Poke();
}

Result<StartedContainer> OciRuntime::Start(const std::string& id, const JobSpec& spec,
                                           const StartProgress& progress) {
  auto started = StartClaimed(id, spec, progress);
  if (started.ok()) return started;
  return Redacted(started.status(), opts_.jobs_root.parent_path());
}

Result<StartedContainer> OciRuntime::StartClaimed(const std::string& id, const JobSpec& spec,
                                                  const StartProgress& progress) {
  // The runtime's cgroup move comes in a few milliseconds: its kernel wait begins now.
  if (warmer_) warmer_->Poke();
  JobFiles files(opts_.jobs_root, id);
  if (!job_dirs_.Make(files.dir()).ok()) RETURN_IF_ERROR(MakeDirs(files.dir(), 0700));
  RETURN_IF_ERROR(MakeDirs(opts_.state_root, 0700));
  // The node's claim on the job, taken before anything of the bundle is touched: an exclusive
  // flock that the monitor inherits and holds until it ends. Two starts of one job (threads or
  // processes) cannot both get past this line, and none while its monitor lives.
  UniqueFd claim(::open(files.claim().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!claim) return ErrnoStatus("open the claim of job " + id, errno);
  if (::flock(claim.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    claim.Reset();
    if (err != EWOULDBLOCK) return ErrnoStatus("lock the claim of job " + id, err);
    if (std::filesystem::exists(files.monitor())) {
      return Status::AlreadyExists("a monitor runs for job " + id);
    }
    return Status::Unavailable("another start of job " + id + " is in progress on this node");
  }
  if (std::filesystem::exists(files.monitor())) {
    return Status::AlreadyExists("a monitor was already started for job " + id);
  }
  RETURN_IF_ERROR(PrepareBundle(id, spec, progress));
  // Our copy of the claim closes on return: the monitor holds its own while it lives.
  auto started = LaunchMonitor(id, claim.get(), spec.env.empty() && spec.secure_env.empty());
  job_dirs_.Refill();  // the next start's directory, made once this one's container runs
  return started;
}

bool OciRuntime::HasImage(const std::string& image) { return images_.Resolve(image).ok(); }

Status OciRuntime::PullImage(const std::string& image, const StartProgress& progress) {
  if (HasImage(image)) return Status::Ok();
  if (progress) progress("pulling image " + image);
  // Bytes of the layers downloaded (each complete, verified layer once; layers arrive on
  // several threads at a time).
  std::atomic<int64_t> bytes{0};
  auto started = std::chrono::steady_clock::now();
  Result<Image> pulled = images_.EnsureImage(image, [&bytes](const PullEvent& e) {
    if (e.phase == PullPhase::kUnpacking) bytes += e.total;
  });
  if (opts_.metrics != nullptr) {
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string result = pulled.ok() ? "ok" : "error";
    opts_.metrics
        ->Counter("berth_image_pulls_total", "Image pulls for jobs, by result",
                  {{"result", result}})
        .Increment();
    opts_.metrics->Counter("berth_image_pull_bytes_total", "Layer bytes downloaded by image pulls")
        .Increment(static_cast<double>(bytes.load()));
    opts_.metrics
        ->Histogram("berth_image_pull_duration_seconds", "How long image pulls for jobs took",
                    LatencyBuckets(), {{"result", result}})
        .Observe(took);
  }
  if (!pulled.ok()) return Redacted(pulled.status(), opts_.jobs_root.parent_path());
  if (progress) progress("starting container");
  return Status::Ok();
}

Outcome OciRuntime::ReadOutcome(const std::string& id) {
  JobFiles files(opts_.jobs_root, id);
  // A container its monitor left (to the batch delete, which did not run or failed, or by
  // dying): nothing of the job's attempt outlives its outcome.
  DeleteLeftoverContainer(id);
  std::error_code ec;
  std::filesystem::remove_all(files.upper(), ec);
  std::filesystem::remove_all(files.work(), ec);
  auto text = ReadFile(files.exit());
  if (!text.ok()) return MonitorLost{"the monitor ended without recording an exit"};
  auto rec = ParseExitRecord(*text);
  if (!rec.ok()) return MonitorLost{rec.status().message()};
  return rec->outcome;
}

Status OciRuntime::Watch(const std::string& id, ExitCallback on_exit) {
  JobFiles files(opts_.jobs_root, id);
  auto text = ReadFile(files.monitor());
  if (!text.ok()) return Status::NotFound("no monitor was started for job " + id);
  pid_t pid = 0;
  uint64_t start_time = 0;
  try {
    auto j = nlohmann::json::parse(*text);
    pid = j.at("pid").get<pid_t>();
    start_time = j.at("startTime").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    return Status::Internal("malformed monitor record of job " + id + ": " + e.what());
  }
  int fd = OpenPidfdIfSame(pid, start_time);
  if (fd < 0) {
    // Ended already (maybe while no daemon was running).
    on_exit(id, ReadOutcome(id));
    return Status::Ok();
  }
  return watcher_.Add(fd, [this, id, on_exit] { ended_.push_back(Ended{id, on_exit}); });
}

namespace {
// `id` as a literal in a POSIX extended regular expression.
std::string RegexLiteral(const std::string& id) {
  std::string out;
  for (char ch : id) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') out += '\\';
    out += ch;
  }
  return out;
}
}  // namespace

void OciRuntime::SettleEnded() {
  std::vector<Ended> ended = std::exchange(ended_, {});
  // At most 200 ids per call: a pattern is one argument (the kernel takes up to 128 KiB).
  constexpr size_t kMaxPerCall = 200;
  std::string pattern;
  size_t in_pattern = 0;
  std::string first;
  auto flush = [&] {
    if (in_pattern > 0) RunDeleter(first, "^(" + pattern + ")$");
    pattern.clear();
    in_pattern = 0;
  };
  std::error_code ec;
  for (const Ended& e : ended) {
    if (!opts_.batch_deletes || !std::filesystem::exists(opts_.state_root / e.id, ec)) continue;
    if (in_pattern == 0) first = e.id;
    pattern += (in_pattern++ > 0 ? "|" : "") + RegexLiteral(e.id);
    if (in_pattern == kMaxPerCall) flush();
  }
  flush();
  for (Ended& e : ended) e.on_exit(e.id, ReadOutcome(e.id));
}

UniqueFd OciRuntime::OpenMonitor(const std::string& id) {
  auto text = ReadFile(JobFiles(opts_.jobs_root, id).monitor());
  if (!text.ok()) return UniqueFd();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("pid") || !j.contains("startTime")) return UniqueFd();
  return UniqueFd(OpenPidfdIfSame(j["pid"].get<pid_t>(), j["startTime"].get<uint64_t>()));
}

void OciRuntime::StopWatching() { watcher_.Stop(); }

Status OciRuntime::Stop(const std::string& id, bool force) {
  UniqueFd fd = OpenMonitor(id);
  if (!fd) return Status::NotFound("no live monitor for job " + id);
  // The monitor forwards SIGTERM to the job and turns SIGUSR1 into SIGKILL.
  int sig = force ? SIGUSR1 : SIGTERM;
  if (::syscall(SYS_pidfd_send_signal, fd.get(), sig, nullptr, 0) != 0) {
    return ErrnoStatus("signal the monitor of job " + id, errno);
  }
  return Status::Ok();
}

Status OciRuntime::PrepareRetry(const std::string& id, int finished_attempt,
                                const std::string& marker) {
  JobFiles files(opts_.jobs_root, id);
  if (OpenMonitor(id)) {
    return Status::FailedPrecondition("the monitor of job " + id + " still runs");
  }
  std::error_code ec;
  if (!std::filesystem::exists(files.exit(), ec) && !std::filesystem::exists(files.monitor(), ec)) {
    return Status::Ok();  // set aside already (a retry prepared before a crash)
  }
  std::string n = std::to_string(finished_attempt);
  // The marker first, then the records: the records' rename is what makes this step done.
  {
    UniqueFd log(::open(files.log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!log) return ErrnoStatus("open log of job " + id, errno);
    std::string line = marker + "\n";
    if (::write(log.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      return ErrnoStatus("write log of job " + id, errno);
    }
    ::fsync(log.get());
  }
  for (const auto& [from, to] :
       {std::pair{files.exit(), files.dir() / ("exit." + n + ".json")},
        std::pair{files.monitor(), files.dir() / ("monitor." + n + ".json")}}) {
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("set aside " + from.string(), errno);
    }
  }
  return SyncDir(files.dir());
}

void OciRuntime::DeleteLeftoverContainer(const std::string& id) {
  std::error_code ec;
  if (!std::filesystem::exists(opts_.state_root / id, ec)) return;
  // A monitor that died before deleting its container (which may even still run), or one that
  // left it to a batch delete that did not happen: delete it, and its cgroup, the way the
  // monitor would have.
  LogInfo("deleting the container its monitor left", {{"job", id}});
  RunDeleter(id, "");
}

void OciRuntime::RunDeleter(const std::string& id, const std::string& pattern) {
  std::vector<std::string> args = MonitorArgs(id);
  args.insert(args.end(), {"--delete-only", "--sync-fd", "-1"});
  if (!pattern.empty()) args.insert(args.end(), {"--delete-pattern", pattern});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    LogWarn("could not run the container delete: " + std::string(std::strerror(err)),
            {{"job", id}});
    return;
  }
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Status OciRuntime::Remove(const std::string& id) {
  JobFiles files(opts_.jobs_root, id);
  if (OpenMonitor(id)) {
    return Status::FailedPrecondition("the monitor of job " + id + " still runs");
  }
  DeleteLeftoverContainer(id);
  std::error_code ec;
  std::filesystem::remove_all(files.dir(), ec);
  if (ec) return Status::IoError("remove " + files.dir().string() + ": " + ec.message());
  return Status::Ok();
}

std::vector<std::string> OciRuntime::ListLocalJobs() {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(opts_.jobs_root, ec)) {
    std::string name = e.path().filename().string();
    if (e.is_directory() && !SpareDirectories::IsSpare(name)) ids.push_back(std::move(name));
  }
  return ids;
}

}  // namespace berth
