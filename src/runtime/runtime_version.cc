#include "runtime/runtime_version.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "common/unique_fd.h"

extern char** environ;

namespace berth {
namespace {

// Reads the leading decimal number of `text`, and drops it and one following '.'.
int TakeNumber(std::string_view& text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return 0;
  text.remove_prefix(end - text.data());
  if (!text.empty() && text.front() == '.') text.remove_prefix(1);
  return value;
}

}  // namespace

Result<RuntimeVersion> ParseRuntimeVersion(std::string_view text) {
  std::string_view line = text.substr(0, text.find('\n'));
  size_t space = line.find(' ');
  constexpr std::string_view kWord = " version ";
  if (space == 0 || space == std::string_view::npos || line.substr(space, kWord.size()) != kWord) {
    return Status::InvalidArgument("not a runtime's --version line: '" + std::string(line) + "'");
  }
  RuntimeVersion v;
  v.name = std::string(line.substr(0, space));
  std::string_view number = line.substr(space + kWord.size());
  v.major = TakeNumber(number);
  v.minor = TakeNumber(number);
  v.patch = TakeNumber(number);
  return v;
}

Result<RuntimeVersion> ProbeRuntimeVersion(const std::string& binary) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::string flag = "--version";
  char* argv[] = {const_cast<char*>(binary.c_str()), flag.data(), nullptr};
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return ErrnoStatus("run " + binary + " --version", err);
  write_end.Reset();

  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool timed_out = false;
  while (out.size() < 4096) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{read_end.get(), POLLIN, 0};
    int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      break;
    }
    char buf[512];
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return Status::IoError(binary + " --version did not answer within 5 s");
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return Status::IoError(binary + " --version failed");
  }
  return ParseRuntimeVersion(out);
}

bool LoadsPrecompiledSeccomp(const RuntimeVersion& runtime) {
  return runtime.name == "crun" && (runtime.major > 0 || runtime.minor >= 18);
}

bool DeletesByPattern(const RuntimeVersion& runtime) { return runtime.name == "crun"; }

bool RunsFromSealedCopy(const RuntimeVersion& runtime) { return runtime.name == "crun"; }

}  // namespace berth
