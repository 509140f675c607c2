#include "shim/shim.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/clock.h"
#include "common/files.h"
#include "common/log_text.h"
#include "common/process.h"
#include "common/unique_fd.h"
#include "job/job_files.h"
#include "job/job_log.h"
#include "job/outcome.h"
#include "shim/create_failure.h"
#include "shim/log_escape.h"
#include "shim/oom_events.h"
#include "shim/wait_fds.h"

namespace berth {
namespace {

// How long the log is drained after the container's exit before the exit is recorded anyway.
constexpr int kDrainMillis = 2000;
constexpr int kOomPollMillis = 100;   // how often a running job's OOM kills are looked at
constexpr size_t kReadBytes = 65536;  // a default pipe's capacity: one read empties it
// How long a running job is quiet (no output, no signal) before the monitor hands its wait to
// berth-shim-wait.
constexpr int64_t kQuietMillis = 1000;

int64_t MonotonicMillis() {
  struct timespec now {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// `argv` without the flags a resumed monitor is given anew (and their values).
std::vector<std::string> ResumeArgs(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    bool skip = false;
    for (std::string_view flag : {"--sync-fd", "--runtime-fd", "--resume-pid", "--resume-escape"}) {
      if (argv[i] == flag) {
        skip = true;
        ++i;  // and its value
        break;
      }
      if (argv[i].starts_with(std::string(flag) + "=")) skip = true;
    }
    if (!skip) out.push_back(argv[i]);
  }
  return out;
}

// Gives the kernel back the stack pages below the caller's frame. The start's deep calls (flag
// parsing, the config's JSON, fork and exec) touched them once; the wait for the job's end,
// which lasts as long as the job, never goes that deep again. Nothing below this function's
// own frame is live: only the madvise call's, a few pages under the released range. (The
// monitor has one thread; on any other thread's stack this does nothing.)
[[gnu::noinline]] void ReleaseUnusedStack() {
  char here = 0;
  auto sp = reinterpret_cast<uintptr_t>(&here);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  uintptr_t low = 0;
  while (std::getline(maps, line)) {
    // "7ffd0990c000-7ffd09930000 rw-p 00000000 00:00 0    [stack]"
    uintptr_t start = 0, end = 0;
    size_t dash = line.find('-');
    size_t space = line.find(' ');
    if (dash == std::string::npos || space == std::string::npos || space < dash) continue;
    std::from_chars(line.data(), line.data() + dash, start, 16);
    std::from_chars(line.data() + dash + 1, line.data() + space, end, 16);
    if (start <= sp && sp < end) {
      // Only the main thread's own stack: another mapping may hold live data of its own.
      if (line.ends_with("[stack]")) low = start;
      break;
    }
  }
  auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t high = (sp & ~(page - 1)) - 4 * page;
  if (low == 0 || high <= low) return;
  ::madvise(reinterpret_cast<void*>(low), high - low, MADV_DONTNEED);
}

// The whole of a small file (a cgroup's OOM counters, ~100 bytes) with a small buffer: it is
// read ten times a second for the job's whole life, and a deep stack frame would keep its pages.
bool ReadSmallFile(const std::string& path, std::string& out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out.clear();
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(buf, static_cast<size_t>(n));
  }
}

class Monitor {
 public:
  explicit Monitor(const ShimOptions& opts)
      : opts_(opts),
        files_(opts.job_dir.parent_path(), opts.id),
        sync_fd_(opts.sync_fd),
        runtime_copy_(opts.runtime_fd) {}
  int Run();

 private:
  void Log(const std::string& msg) {
    // Messages carry the runtime's own text: escaped, one line each.
    fprintf(stderr, "berth-monitor %s: %s\n", opts_.id.c_str(), EscapeForLog(msg).c_str());
  }
  int Fail(const std::string& msg);
  // Fails as Fail does, reporting that no retry can succeed ("REFUSED <message>").
  int Refuse(const std::string& msg);
  // Enters a mount namespace of our own (private propagation, hide_mounts detached): where the
  // runtime runs and the job's rootfs is mounted.
  bool SetUpNamespace(std::string& error);
  // Once the container runs, its own mount namespace holds its root: ours (a copy of every host
  // mount, the idmapped layers, the bundle's tmpfs) is not needed for the job's whole run. The
  // monitor returns to the namespace it started in; later runtime verbs get a fresh private one
  // each (see Spawn). On failure it stays where it is, which works as before.
  void LeavePrivateNamespace();
  bool MountRootfs(std::string& error);
  // runc prepares the rootfs from inside the user namespace, as its root, which may not pass
  // through the data dir (0700, and it must stay so). In this monitor's mount namespace only,
  // a small tmpfs (0711) over /mnt (or another unused directory) holds a bind mount of the bundle:
  // `bundle` becomes that path, every directory above the rootfs is searchable, and nothing changes
  // on the host.
  bool ReachBundleFromNamespace(std::string& bundle, std::string& error);
  // The scratch tmpfs of ReachBundleFromNamespace, mounted once (scratch_ set): it also holds
  // the idmapped layers' mount points, so that none is made (and removed) on the data disk.
  // `lower`: the layers (':'-separated), which the tmpfs must not cover either.
  bool MountScratch(const std::string& lower, std::string& error);
  // Mounts each of `lower` (':'-separated) idmapped 0 -> the user namespace's start under
  // <scratch>/lowers/N, and returns the lowerdir= value of those mounts.
  bool IdmapLowers(std::string& lower, std::string& error);
  // A log over log_max_bytes is rewritten to its newest half behind a "dropped" line.
  void TrimLog();
  // Turns the outcome into OomKilled when the job cgroup saw an OOM kill.
  void CheckOom();
  // An OOM kill in the job's cgroup while it runs ends the whole job, as Kubernetes does since
  // 1.28 (memory.oom.group): a shell whose child was killed must not go on and succeed.
  void KillOnOom();
  pid_t Spawn(const std::vector<std::string>& args, int out_fd, int err_fd);
  int RunRuntime(const std::vector<std::string>& verb_args, int out_fd, int err_fd);
  // Waits for a runtime verb Spawn started; its exit code (or -1).
  static int WaitRuntime(pid_t pid);
  std::vector<std::string> RuntimeArgs(const std::vector<std::string>& verb_args) const;
  std::string RuntimeError() const;
  // Copies the job's output to its log until the job has exited and its output is drained.
  // Settling in (the namespace left, the start's memory given back) waits until the output
  // already there is in the log: the first line is not held up by it.
  void Supervise(int out_read, int sig_fd);
  // Appends what the job wrote to its log (one read); false once the pipe is closed.
  bool CopyOutput(int out_read);
  // Waits for the runtime verb at `pid` to exit, copying the job's output meanwhile: the
  // container may have written its first line before the runtime is done.
  int WaitRuntimeCopyingOutput(pid_t pid, int out_read);
  // What the monitor sheds once the job runs (its first output copied, or 100 ms on): the
  // start's files, LeavePrivateNamespace, and the start's freed stack and heap; the record
  // gains the container's pid.
  void SettleIn();
  // Removes the bundle's config and the runtime's pid file (once).
  void ShedStartFiles();
  // Rewrites the runtime's copy of the config once (ScrubRuntimeConfig).
  void ScrubRuntimeConfig(bool drop_env);
  // Where berth-shim-wait is, when the monitor can hand its wait over (argv known, program
  // present beside this one).
  void FindWaiter();
  // Execs berth-shim-wait, which waits for the next event of the quiet job and execs this
  // program again (--resume-pid). Returns only when the exec failed; the fds are then at
  // kSignalFd and kOutputFd and the log is reopened.
  void HandOffWait(int& out_read, int& sig_fd, int escape_state);
  // A monitor exec'd again by berth-shim-wait: the wait goes on, then the end is recorded.
  int Resume();
  // The job ended (or the wait was lost): the exit record, `delete`, the rootfs unmounted.
  int Finish();
  void Report(const std::string& line);
  // Publishes monitor.json: our pid and start time, and the container's pid once known;
  // `durable`: synced to disk.
  Status WriteMonitorRecord(bool durable = true);

  ShimOptions opts_;
  JobFiles files_;
  UniqueFd sync_fd_;               // where the start is reported; closed once it is
  UniqueFd runtime_copy_;          // the runtime's sealed copy, until the container runs
  std::filesystem::path scratch_;  // MountScratch's tmpfs (in the private namespace); "" = none
  UniqueFd home_ns_;         // the mount namespace the monitor started in, while it is elsewhere
  bool private_ns_ = false;  // in its own mount namespace (SetUpNamespace) now
  bool runtime_config_scrubbed_ = false;
  bool start_files_shed_ = false;
  std::string self_exe_;  // this program, to exec again after berth-shim-wait
  std::string waiter_;    // berth-shim-wait; "" = the monitor waits itself
  UniqueFd log_fd_;
  int64_t log_size_ = 0;
  int64_t log_dropped_ = 0;  // bytes dropped from the front of the log so far
  uint32_t userns_start_ = 0;
  uint32_t userns_count_ = 0;
  pid_t container_pid_ = -1;
  bool exited_ = false;
  bool oom_killed_ = false;          // an OOM kill was seen while the job ran; it was ended for it
  std::string oom_text_;             // the OOM counters as last read (its buffer is reused)
  LogEscaper escaper_;               // the job's output on its way to the log
  std::unique_ptr<char[]> out_buf_;  // CopyOutput's buffer, once the job writes output
  bool output_copied_ = false;       // some of the job's output is in the log
  Outcome outcome_ = Exited{0};
};

Status Monitor::WriteMonitorRecord(bool durable) {
  nlohmann::json mon = {{"pid", ::getpid()},
                        {"startTime", ProcessStartTime(::getpid()).value_or(0)},
                        {"containerPid", container_pid_ > 0 ? container_pid_ : 0}};
  return durable ? WriteFileAtomic(files_.monitor(), mon.dump())
                 : WriteFileReplace(files_.monitor(), mon.dump());
}

void Monitor::Report(const std::string& line) {
  if (!sync_fd_) return;
  std::string msg = line + "\n";
  ssize_t n = ::write(sync_fd_.get(), msg.data(), msg.size());
  (void)n;
  sync_fd_.Reset();
}

int Monitor::Fail(const std::string& msg) {
  Log(msg);
  // Nothing runs: a restarted daemon must not adopt this attempt.
  if (!opts_.delete_only) ::unlink(files_.monitor().c_str());
  Report("ERR " + msg);
  return 1;
}

// Rewrites the runtime's copy of the OCI config (at `path`) without what only the start needed:
// process.env when `drop_env` (kept until the container exists), and the precompiled seccomp
// program (12 KB of base64) once the runtime keeps the program beside it in its `seccomp.bpf`,
// which is what `crun exec` applies. `delete` needs neither. OK when there is no such file.
Status ScrubRuntimeConfig(const std::filesystem::path& path, bool drop_env) {
  // crun's annotation (runtime/seccomp_bpf.h, a layer the monitor does not link).
  constexpr char kSeccompBpfAnnotation[] = "run.oci.seccomp_bpf_data";
  auto text = ReadFile(path);
  if (!text.ok()) return text.status().IsNotFound() ? Status::Ok() : text.status();
  auto config = nlohmann::json::parse(*text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return Status::Ok();  // not ours to judge
  bool changed = false;
  auto process = config.find("process");
  if (drop_env && process != config.end() && process->is_object() && process->contains("env")) {
    process->erase("env");
    changed = true;
  }
  auto annotations = config.find("annotations");
  std::error_code ec;
  if (annotations != config.end() && annotations->is_object() &&
      annotations->contains(kSeccompBpfAnnotation) &&
      std::filesystem::file_size(path.parent_path() / "seccomp.bpf", ec) > 0 && !ec) {
    annotations->erase(kSeccompBpfAnnotation);
    changed = true;
  }
  if (!changed) return Status::Ok();
  // Not synced: a sync does not scrub the old file's blocks either, and the job's next run
  // writes its bundle anew.
  return WriteFileReplace(path, config.dump(), 0600);
}

int Monitor::Refuse(const std::string& msg) {
  Log(msg);
  if (!opts_.delete_only) ::unlink(files_.monitor().c_str());
  Report("REFUSED " + msg);
  return 1;
}

bool Monitor::SetUpNamespace(std::string& error) {
  if (::unshare(CLONE_NEWNS) != 0) {
    error = std::string("unshare mount namespace: ") + std::strerror(errno);
    return false;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    error = std::string("make / private: ") + std::strerror(errno);
    return false;
  }
  for (const auto& m : opts_.hide_mounts) {
    if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      error = "hide " + m + ": " + std::strerror(errno);
      return false;
    }
  }
  private_ns_ = true;
  return true;
}

void Monitor::LeavePrivateNamespace() {
  if (!private_ns_ || !home_ns_) return;
  if (::setns(home_ns_.get(), CLONE_NEWNS) != 0) {
    Log(std::string("return to the original mount namespace: ") + std::strerror(errno));
    return;
  }
  private_ns_ = false;
  home_ns_.Reset();
}

// fsyncs a file published with WriteFileReplace, and its directory: what WriteFileAtomic would
// have synced.
Status SyncRecord(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + path.string(), errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync " + path.string(), errno);
  return SyncDir(path.parent_path());
}

// The pid in a runtime's pid file; -1 when there is none.
pid_t ReadPidFile(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  pid_t pid = text.ok() ? std::atoi(text->c_str()) : -1;
  return pid > 0 ? pid : -1;
}

// A user namespace whose mapping is 0 -> start for count ids, as an fd; -1 with `error` set.
UniqueFd OpenUserNamespace(uint32_t start, uint32_t count, std::string& error) {
  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
    return UniqueFd();
  }
  UniqueFd gate_r(gate[0]);
  UniqueFd gate_w(gate[1]);
  // A child in a new user namespace that only waits: its namespace carries the mapping.
  pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) {
    gate_w.Reset();
    char c;
    ssize_t n = ::read(gate_r.get(), &c, 1);
    _exit(n < 0 ? 1 : 0);
  }
  gate_r.Reset();
  if (pid < 0) {
    error = std::string("clone a user namespace: ") + std::strerror(errno);
    return UniqueFd();
  }
  std::string map = "0 " + std::to_string(start) + " " + std::to_string(count) + "\n";
  std::string proc = "/proc/" + std::to_string(pid);
  auto write_map = [&map](const std::string& path) {
    UniqueFd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    return f && ::write(f.get(), map.data(), map.size()) == static_cast<ssize_t>(map.size());
  };
  UniqueFd fd;
  if (write_map(proc + "/uid_map") && write_map(proc + "/gid_map")) {
    fd.Reset(::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) error = std::string("open the user namespace: ") + std::strerror(errno);
  } else {
    error = std::string("write the id map: ") + std::strerror(errno);
  }
  gate_w.Reset();  // the child ends
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return fd;
}

bool Monitor::IdmapLowers(std::string& lower, std::string& error) {
  UniqueFd userns = OpenUserNamespace(userns_start_, userns_count_, error);
  if (!userns) return false;
  std::string mapped;
  std::istringstream dirs(lower);
  std::string dir;
  int n = 0;
  if (!MountScratch(lower, error)) return false;
  std::filesystem::path root = scratch_ / "lowers";
  ::mkdir(root.c_str(), 0755);
  bool ok = true;
  while (ok && std::getline(dirs, dir, ':')) {
    std::string target = (root / std::to_string(n++)).string();
    ::mkdir(target.c_str(), 0755);
    UniqueFd tree(::open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(userns.get());
    if (!tree || ::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0 ||
        ::move_mount(tree.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      error = "idmapped mount of " + dir + ": " + std::strerror(errno);
      ok = false;
    }
    if (!mapped.empty()) mapped += ':';
    mapped += target;
  }
  if (ok) lower = mapped;
  return ok;
}

bool Monitor::MountScratch(const std::string& lower, std::string& error) {
  if (!scratch_.empty()) return true;
  // A directory of the host that nothing here needs: not above the job's files, its layers, the
  // runtime's state or its binary (hidden from this namespace once the tmpfs covers it).
  std::vector<std::string> needed_paths = {files_.dir().string(), opts_.runtime_root.string(),
                                           opts_.runtime};
  std::istringstream layers(lower);
  for (std::string dir; std::getline(layers, dir, ':');) needed_paths.push_back(dir);
  std::string base;
  for (const char* candidate : {"/mnt", "/media", "/srv", "/opt"}) {
    std::string prefix = std::string(candidate) + "/";
    bool needed = false;
    for (const std::string& path : needed_paths) needed = needed || path.starts_with(prefix);
    struct stat st {};
    if (!needed && ::stat(candidate, &st) == 0 && S_ISDIR(st.st_mode)) {
      base = candidate;
      break;
    }
  }
  if (base.empty()) {
    error = "no directory (/mnt, /media, /srv, /opt) to reach the bundle through";
    return false;
  }
  if (::mount("berth-bundle", base.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0711,size=64k") != 0) {
    error = std::string("mount a tmpfs for the bundle: ") + std::strerror(errno);
    return false;
  }
  scratch_ = base;
  return true;
}

bool Monitor::ReachBundleFromNamespace(std::string& bundle, std::string& error) {
  // Mounted by IdmapLowers when the layers are idmapped; the layers are mounted by now.
  if (!MountScratch("", error)) return false;
  std::string target = (scratch_ / "bundle").string();
  if (::mkdir(target.c_str(), 0755) != 0 ||
      ::mount(bundle.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    error = "bind the bundle for the user namespace: " + std::string(std::strerror(errno));
    return false;
  }
  bundle = target;
  return true;
}

bool Monitor::MountRootfs(std::string& error) {
  auto lower = ReadFile(files_.lower());
  if (!lower.ok()) {
    error = lower.status().ToString();
    return false;
  }
  std::filesystem::path upper = files_.upper(), work = files_.work();
  if (opts_.upper_max_bytes > 0) {
    // A size-capped tmpfs in our private namespace holds the upper and work dirs.
    std::filesystem::path scratch = upper / "capped";
    std::string size = "size=" + std::to_string(opts_.upper_max_bytes) + ",mode=0755";
    if (::mkdir(scratch.c_str(), 0755) != 0 && errno != EEXIST) {
      error = "mkdir " + scratch.string() + ": " + std::strerror(errno);
      return false;
    }
    if (::mount("tmpfs", scratch.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, size.c_str()) != 0) {
      error = std::string("mount the upper dir's tmpfs: ") + std::strerror(errno);
      return false;
    }
    upper = scratch / "upper";
    work = scratch / "work";
    ::mkdir(upper.c_str(), 0755);
    ::mkdir(work.c_str(), 0755);
  }
  if (userns_count_ > 0) {
    if (!IdmapLowers(*lower, error)) return false;
    // The overlay's root and the files the job creates belong to the container's root.
    for (const auto& dir : {upper, work}) {
      if (::chown(dir.c_str(), userns_start_, userns_start_) != 0) {
        error = "chown " + dir.string() + ": " + std::strerror(errno);
        return false;
      }
    }
  }
  std::string data =
      "lowerdir=" + *lower + ",upperdir=" + upper.string() + ",workdir=" + work.string();
  // `volatile`: the upper dir is thrown away after the job, so the overlay need not sync it.
  // Without it the overlay's unmount at the job's end syncs the whole filesystem under the
  // upper dir (the data dir's), once per job. Kernels before 5.10 lack it: mount without.
  if (::mount("overlay", files_.rootfs().c_str(), "overlay", 0, (data + ",volatile").c_str()) ==
      0) {
    return true;
  }
  if (::mount("overlay", files_.rootfs().c_str(), "overlay", 0, data.c_str()) != 0) {
    error = std::string("mount overlay rootfs: ") + std::strerror(errno);
    return false;
  }
  return true;
}

pid_t Monitor::Spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  if (!private_ns_) {
    // Back in its original namespace (the container runs): the job's end. The runtime runs
    // from a private namespace again, which the monitor enters too, about to exit.
    std::string error;
    if (!SetUpNamespace(error)) {
      Log(error);
      return -1;
    }
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // posix_spawn (a vfork underneath): the runtime starts without a copy of our page tables,
  // twice per job (`run`, `delete`). The runtime gets no blocked signal: we block ours for the
  // signalfd, and a blocked SIGTERM would reach the container's init through the runtime.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0);
  for (auto [from, to] : {std::pair{out_fd, 1}, std::pair{err_fd, 2}}) {
    if (from >= 0) {
      posix_spawn_file_actions_adddup2(&actions, from, to);
    } else {
      posix_spawn_file_actions_adddup2(&actions, 0, to);
    }
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  // The sealed copy executes through its fd's path; argv[0] still names the runtime.
  std::string path =
      runtime_copy_ ? "/proc/self/fd/" + std::to_string(runtime_copy_.get()) : args[0];
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

std::vector<std::string> Monitor::RuntimeArgs(const std::vector<std::string>& verb_args) const {
  std::vector<std::string> args = {opts_.runtime, "--root", opts_.runtime_root.string()};
  bool is_runc = opts_.runtime.size() >= 4 && opts_.runtime.ends_with("runc");
  if (is_runc) {
    args.insert(args.end(), {"--log", files_.runtime_log().string(), "--log-format", "text"});
  } else {
    args.push_back("--log=file:" + files_.runtime_log().string());
  }
  args.insert(args.end(), verb_args.begin(), verb_args.end());
  return args;
}

// Runs a runtime verb to completion; its exit code (or -1 when it could not run).
int Monitor::RunRuntime(const std::vector<std::string>& verb_args, int out_fd, int err_fd) {
  return WaitRuntime(Spawn(RuntimeArgs(verb_args), out_fd, err_fd));
}

int Monitor::WaitRuntime(pid_t pid) {
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Monitor::RuntimeError() const {
  auto tail = ReadFileTail(files_.runtime_log(), 2048);
  if (!tail.ok() || tail->data.empty()) return "no message from the runtime";
  std::string s = tail->data;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

void Monitor::ScrubRuntimeConfig(bool drop_env) {
  if (runtime_config_scrubbed_) return;
  runtime_config_scrubbed_ = true;
  Status st = berth::ScrubRuntimeConfig(opts_.runtime_root / opts_.id / "config.json", drop_env);
  if (!st.ok()) Log("rewrite the runtime's config: " + st.ToString());
}

void Monitor::ShedStartFiles() {
  if (start_files_shed_) return;
  start_files_shed_ = true;
  // The bundle's config has served its purpose (a later run of the job writes a new bundle): it
  // goes, and its pages with it, often before they were ever written back. So does the runtime's
  // pid file: the monitor record holds the pid.
  for (const auto& done : {files_.config(), files_.pid_file()}) {
    if (::unlink(done.c_str()) != 0 && errno != ENOENT) {
      Log("remove " + done.filename().string() + ": " + std::strerror(errno));
    }
  }
}

void Monitor::SettleIn() {
  // Off the first output's path: the start's files, and what the runtime's copy of the config
  // kept for the start only. (A monitor resumed by berth-shim-wait settled in before its wait.)
  bool resumed = opts_.resume_pid > 0;
  if (!resumed) ShedStartFiles();
  // For the job's run only: the config goes with the container once it ended.
  if (!exited_) ScrubRuntimeConfig(/*drop_env=*/false);
  LeavePrivateNamespace();
  // Last, so that a record naming the container tells that the rest is done: the record gains
  // the container's pid while it runs (for operators; the daemon adopts the monitor by its own
  // pid). Not synced: a machine crash ends the container too, and the first record (synced)
  // already tells a restarted daemon this attempt ran.
  if (!exited_ && !resumed) {
    if (Status st = WriteMonitorRecord(/*durable=*/false); !st.ok()) {
      Log("write monitor record: " + st.ToString());
    }
  }
  // The start (flags, runtime argv, the config's JSON) is over: what it freed goes back to the
  // kernel before the wait, which lasts as long as the job.
  ReleaseUnusedStack();
  ::malloc_trim(0);
}

bool Monitor::CopyOutput(int out_read) {
  // Not allocated before the job writes output.
  if (!out_buf_) out_buf_.reset(new char[kReadBytes]);
  ssize_t r = ::read(out_read, out_buf_.get(), kReadBytes);
  if (r > 0) {
    output_copied_ = true;
    // The job's own lines never start like berth's markers (see log_escape.h).
    std::string out = escaper_.Feed(std::string_view(out_buf_.get(), static_cast<size_t>(r)));
    ssize_t w = out.empty() ? 0 : ::write(log_fd_.get(), out.data(), out.size());
    if (w > 0) log_size_ += w;
    if (opts_.log_max_bytes > 0 && log_size_ > opts_.log_max_bytes) TrimLog();
    return true;
  }
  return r < 0 && (errno == EINTR || errno == EAGAIN);
}

int Monitor::WaitRuntimeCopyingOutput(pid_t pid, int out_read) {
  if (pid < 0) return -1;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  bool open = true;
  while (pidfd && open) {
    struct pollfd fds[2] = {{pidfd.get(), POLLIN, 0}, {out_read, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) open = CopyOutput(out_read);
    if (fds[0].revents & POLLIN) break;  // the runtime exited
  }
  return WaitRuntime(pid);
}

void Monitor::Supervise(int out_read, int sig_fd) {
  // Settled once the job's first output is in the log and nothing more is waiting to be read,
  // or 100 ms on at the latest (a quiet job, or steady output): the first output does not wait
  // for it.
  bool settled = false;
  int64_t settle_by = MonotonicMillis() + 100;
  bool pipe_open = true;
  struct timespec deadline {};
  bool hand_off = !waiter_.empty();
  int64_t quiet_since = MonotonicMillis();
  while (!exited_ || pipe_open) {
    // While the job runs, its cgroup's OOM kills are looked at ten times a second.
    int timeout = opts_.oom_events_file.empty() ? -1 : kOomPollMillis;
    if (hand_off && settled && !exited_ && pipe_open && !oom_killed_) {
      int64_t left = kQuietMillis - (MonotonicMillis() - quiet_since);
      if (left <= 0) {
        HandOffWait(out_read, sig_fd, escaper_.State());
        hand_off = false;  // the exec failed: this monitor waits itself
        continue;
      }
      timeout = static_cast<int>(timeout < 0 ? left : std::min<int64_t>(timeout, left));
    }
    if (exited_) {
      struct timespec now {};
      clock_gettime(CLOCK_MONOTONIC, &now);
      long left =
          (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
      if (left <= 0) break;
      timeout = static_cast<int>(left);
    }
    if (!settled) {
      int64_t left = std::max<int64_t>(0, settle_by - MonotonicMillis());
      timeout = output_copied_
                    ? 0
                    : static_cast<int>(timeout < 0 ? left : std::min<int64_t>(timeout, left));
    }
    struct pollfd fds[2] = {{sig_fd, POLLIN, 0}, {pipe_open ? out_read : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) break;
    if (!settled && ((n == 0 && output_copied_) || MonotonicMillis() >= settle_by)) {
      SettleIn();
      settled = true;
      if (n == 0) continue;
    }
    if (n > 0) quiet_since = MonotonicMillis();
    if (!exited_) KillOnOom();
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) pipe_open = CopyOutput(out_read);
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si {};
      if (::read(sig_fd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo != SIGCHLD) {
        // Forward stop requests to the job (SIGUSR1 means SIGKILL); its exit ends the monitor.
        int sig = si.ssi_signo == SIGUSR1 ? SIGKILL : static_cast<int>(si.ssi_signo);
        if (!exited_ && container_pid_ > 0) ::kill(container_pid_, sig);
        continue;
      }
      int status = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != container_pid_ || exited_) continue;
        exited_ = true;
        outcome_ = WIFEXITED(status) ? Outcome(Exited{WEXITSTATUS(status)})
                                     : Outcome(Signaled{WTERMSIG(status)});
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += kDrainMillis / 1000;
      }
    }
  }
  if (std::string rest = escaper_.Flush(); !rest.empty()) {
    ssize_t w = ::write(log_fd_.get(), rest.data(), rest.size());
    if (w > 0) log_size_ += w;
  }
  // A job that ended before the monitor settled in (a short one): only what its end needs.
  if (!settled) {
    if (opts_.resume_pid == 0) ShedStartFiles();
    LeavePrivateNamespace();
  }
}

void Monitor::TrimLog() {
  std::string old_header = log_dropped_ > 0 ? DroppedHeader(log_dropped_) : "";
  off_t size = ::lseek(log_fd_.get(), 0, SEEK_END);
  UniqueFd in(::open(files_.log().c_str(), O_RDONLY | O_CLOEXEC));
  if (size <= 0 || !in) return;
  // Keep the newest half, from the start of a line when one begins near the cut.
  off_t from = size - opts_.log_max_bytes / 2;
  char probe[4096];
  ssize_t got = ::pread(in.get(), probe, sizeof probe, from);
  if (got > 0) {
    const void* nl = std::memchr(probe, '\n', static_cast<size_t>(got));
    if (nl) from += static_cast<const char*>(nl) - probe + 1;
  }
  int64_t dropped_now = from - std::min<int64_t>(from, static_cast<int64_t>(old_header.size()));
  int64_t dropped = log_dropped_ + dropped_now;
  std::string header = DroppedHeader(dropped);
  std::string tmp = files_.log().string() + ".trim";
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  bool ok = out &&
            ::write(out.get(), header.data(), header.size()) == static_cast<ssize_t>(header.size());
  loff_t off = from;
  while (ok && off < size) {
    ssize_t c =
        ::copy_file_range(in.get(), &off, out.get(), nullptr, static_cast<size_t>(size - off), 0);
    if (c <= 0) ok = false;
  }
  in.Reset();
  if (ok) ok = ::fsync(out.get()) == 0 && ::rename(tmp.c_str(), files_.log().c_str()) == 0;
  out.Reset();
  if (!ok) {
    Log(std::string("trim the log: ") + std::strerror(errno));
    ::unlink(tmp.c_str());
    return;
  }
  UniqueFd fd(::open(files_.log().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd) return;
  log_fd_ = std::move(fd);
  log_size_ = static_cast<int64_t>(header.size()) + (size - from);
  log_dropped_ = dropped;
  Status st = WriteFileAtomic(files_.dir() / "log.dropped", std::to_string(dropped));
  if (!st.ok()) Log("write log.dropped: " + st.ToString());
}

void Monitor::KillOnOom() {
  if (opts_.oom_events_file.empty() || oom_killed_ || container_pid_ <= 0) return;
  if (!ReadSmallFile(opts_.oom_events_file, oom_text_) || ParseOomKillCount(oom_text_) == 0) return;
  oom_killed_ = true;
  ::kill(container_pid_, SIGKILL);  // its init: the kernel ends the whole pid namespace
}

void Monitor::CheckOom() {
  if (opts_.oom_events_file.empty() || !exited_) return;
  // Any OOM kill in the job's cgroup ends it OOMKilled, even when its main process exited 0
  // before the kill above reached it.
  auto text = ReadFile(opts_.oom_events_file);
  if (!oom_killed_ && (!text.ok() || ParseOomKillCount(*text) == 0)) return;
  if (const auto* e = std::get_if<Exited>(&outcome_)) outcome_ = OomKilled{e->code};
  if (const auto* s = std::get_if<Signaled>(&outcome_)) outcome_ = OomKilled{128 + s->signal};
}

void Monitor::FindWaiter() {
  if (opts_.argv.empty() || opts_.delete_only) return;
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec || self.string().ends_with(" (deleted)")) return;
  std::filesystem::path waiter = self.parent_path() / "berth-shim-wait";
  if (::access(waiter.c_str(), X_OK) != 0) return;
  self_exe_ = self.string();
  waiter_ = waiter.string();
}

void Monitor::HandOffWait(int& out_read, int& sig_fd, int escape_state) {
  // The signalfd and the pipe at the fds berth-shim-wait watches (sources moved above them
  // first, so that placing one cannot close the other), without close-on-exec; the claim is
  // held across the execs (berth-shim sets its close-on-exec again when it resumes).
  UniqueFd sig(::fcntl(sig_fd, F_DUPFD_CLOEXEC, 10));
  UniqueFd out(::fcntl(out_read, F_DUPFD_CLOEXEC, 10));
  if (!sig || !out || ::dup2(sig.get(), kSignalFd) < 0 || ::dup2(out.get(), kOutputFd) < 0) {
    Log(std::string("hand the wait over: ") + std::strerror(errno));
    return;
  }
  sig_fd = kSignalFd;
  out_read = kOutputFd;
  if (opts_.claim_fd >= 0) ::fcntl(opts_.claim_fd, F_SETFD, 0);
  std::vector<std::string> args = {waiter_, opts_.oom_events_file, self_exe_};
  for (std::string& a : ResumeArgs(opts_.argv)) args.push_back(std::move(a));
  args.insert(args.end(), {"--sync-fd", "-1", "--resume-pid", std::to_string(container_pid_),
                           "--resume-escape", std::to_string(escape_state)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execve(waiter_.c_str(), argv.data(), environ);
  Log(std::string("exec ") + waiter_ + ": " + std::strerror(errno));
  if (opts_.claim_fd >= 0) ::fcntl(opts_.claim_fd, F_SETFD, FD_CLOEXEC);
  for (int fd : {kSignalFd, kOutputFd}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  // The log's fd may have been one of those two.
  log_fd_.Reset(::open(files_.log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
}

int Monitor::Resume() {
  FindWaiter();
  container_pid_ = opts_.resume_pid;
  for (int fd : {kSignalFd, kOutputFd}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  UniqueFd sig_fd(kSignalFd);
  UniqueFd out_read(kOutputFd);
  log_fd_.Reset(::open(files_.log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log_fd_) Log("open log: " + std::string(std::strerror(errno)));
  log_size_ = log_fd_ ? ::lseek(log_fd_.get(), 0, SEEK_END) : 0;
  if (auto d = ReadFile(files_.dir() / "log.dropped"); d.ok())
    log_dropped_ = std::atoll(d->c_str());
  escaper_ = LogEscaper::FromState(opts_.resume_escape);
  Supervise(out_read.get(), sig_fd.get());
  return Finish();
}

int Monitor::Run() {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);  // the daemon may die before reading our report
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  // Exec'd again by berth-shim-wait: the signalfd (and the mask) came along.
  if (opts_.resume_pid > 0) return Resume();
  UniqueFd sig_fd(::signalfd(-1, &mask, SFD_CLOEXEC));
  if (!sig_fd) return Fail(std::string("signalfd: ") + std::strerror(errno));

  FindWaiter();
  std::string error;
  // Where the monitor returns once the container runs (see LeavePrivateNamespace).
  if (!opts_.delete_only) home_ns_.Reset(::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  if (!SetUpNamespace(error)) return Fail(error);
  if (opts_.delete_only) {
    int rc = opts_.delete_pattern.empty()
                 ? RunRuntime({"delete", "--force", opts_.id}, -1, 2)
                 : RunRuntime({"delete", "--force", "--regex", opts_.delete_pattern}, -1, 2);
    return rc == 0 ? 0 : Fail("runtime delete failed: " + RuntimeError());
  }
  // Claim the job before anything else: from here a restarted daemon adopts this monitor
  // instead of starting a second one. The record reaches the disk while the runtime starts the
  // container (see below), not before.
  if (Status st = WriteMonitorRecord(/*durable=*/false); !st.ok())
    return Fail("write monitor record: " + st.ToString());
  if (!opts_.user_namespace.empty()) {
    const std::string& r = opts_.user_namespace;
    size_t colon = r.find(':');
    if (colon == std::string::npos ||
        std::from_chars(r.data(), r.data() + colon, userns_start_).ec != std::errc() ||
        std::from_chars(r.data() + colon + 1, r.data() + r.size(), userns_count_).ec !=
            std::errc()) {
      return Fail("malformed user namespace range '" + r + "'");
    }
  }
  if (!MountRootfs(error)) return Fail(error);
  std::string bundle = files_.bundle().string();
  if (!opts_.user_namespace.empty() && !ReachBundleFromNamespace(bundle, error)) {
    return Fail(error);
  }
  log_fd_.Reset(::open(files_.log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log_fd_) return Fail("open log: " + std::string(std::strerror(errno)));
  log_size_ = ::lseek(log_fd_.get(), 0, SEEK_END);
  if (auto d = ReadFile(files_.dir() / "log.dropped"); d.ok())
    log_dropped_ = std::atoll(d->c_str());
  int out_fds[2];
  if (::pipe2(out_fds, O_CLOEXEC) != 0) return Fail("pipe: " + std::string(std::strerror(errno)));
  UniqueFd out_read(out_fds[0]);
  UniqueFd out_write(out_fds[1]);

  // One runtime exec creates and starts the container (`run --detach`): a `create` and a
  // `start` cost a second exec of the runtime on every start. The container's init is ours
  // once the runtime exits (we are the subreaper), so its exit reaches Supervise either way.
  pid_t runtime = Spawn(RuntimeArgs({"run", "--detach", "--bundle", bundle, "--pid-file",
                                     files_.pid_file().string(), opts_.id}),
                        out_write.get(), out_write.get());
  // The record is synced (file and directory) while the runtime works, off the start's path.
  // It is on disk before the start is reported: after a machine crash, it tells the restarted
  // daemon that this attempt ran. (A crash before this sync ends the container too; the job is
  // then started again without counting an attempt.)
  Status synced = SyncRecord(files_.monitor());
  // A job with variables of its own gets no output read before they left the disk (below).
  int rc = opts_.keep_environment ? WaitRuntimeCopyingOutput(runtime, out_read.get())
                                  : WaitRuntime(runtime);
  runtime_copy_.Reset();  // later verbs run the runtime by its path
  out_write.Reset();      // the container holds the write end: EOF once it and its children end
  if (rc == 0 && !synced.ok()) {
    if (pid_t pid = ReadPidFile(files_.pid_file()); pid > 0) ::kill(pid, SIGKILL);
    RunRuntime({"delete", "--force", opts_.id}, -1, -1);
    return Fail("sync monitor record: " + synced.ToString());
  }
  if (rc != 0) {
    std::string why = RuntimeError();
    RunRuntime({"delete", "--force", opts_.id}, -1, -1);
    if (!CreateFailureIsTransient(why)) return Refuse("runtime run failed: " + why);
    return Fail("runtime run failed: " + why);
  }
  container_pid_ = ReadPidFile(files_.pid_file());
  if (container_pid_ <= 0) {
    RunRuntime({"delete", "--force", opts_.id}, -1, -1);
    return Fail("runtime run left no pid file");
  }
  Report("OK " + std::to_string(container_pid_));
  // The container's process holds its environment now: its values (secureEnvironmentVariables
  // among them) leave the disk before any of the job's output is read. The runtime keeps its own
  // copy of the config for `delete`; that one loses the variables. A job that set none of its
  // own has nothing to hide: its start files go when the monitor settles in, after its first
  // output.
  if (!opts_.keep_environment) {
    ShedStartFiles();
    ScrubRuntimeConfig(/*drop_env=*/true);
  }
  Supervise(out_read.get(), sig_fd.get());
  return Finish();
}

int Monitor::Finish() {
  ::fsync(log_fd_.get());
  log_fd_.Reset();
  if (!exited_) outcome_ = MonitorLost{"the monitor stopped before the container exited"};
  CheckOom();  // before `delete` removes the cgroup
  Status st =
      WriteFileAtomic(files_.exit(), ExitRecordToJson(outcome_, ToUnixMillis(SystemClock().Now())));
  if (!st.ok()) Log("write exit record: " + st.ToString());
  // Left to the daemon, an ended container goes with the others that ended meanwhile, in one
  // runtime call; one that may still run, or whose exit is not on record, goes now.
  if (!opts_.leave_container || !exited_ || !st.ok()) {
    RunRuntime({"delete", "--force", opts_.id}, -1, -1);
  }
  ::umount2(files_.rootfs().c_str(), MNT_DETACH);
  return st.ok() ? 0 : 1;
}

}  // namespace

int RunShim(const ShimOptions& opts) {
  // Held, not inherited: the runtime and the container must not keep the job's claim alive.
  if (opts.claim_fd >= 0) ::fcntl(opts.claim_fd, F_SETFD, FD_CLOEXEC);
  // Nor the runtime's copy: the runtime's exec opens it by its path, and the container must not
  // hold it.
  if (opts.runtime_fd >= 0) ::fcntl(opts.runtime_fd, F_SETFD, FD_CLOEXEC);
  return Monitor(opts).Run();
}

}  // namespace berth
