#include "tests/e2e/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

[[noreturn]] void Exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  for (const std::string& e : env) putenv(strdup(e.c_str()));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  _exit(127);
}

// Socket inodes the process holds open.
std::set<std::string> SocketInodes(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  std::filesystem::path fds = "/proc/" + std::to_string(pid) + "/fd";
  for (auto it = std::filesystem::directory_iterator(fds, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string target = std::filesystem::read_symlink(it->path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) {
      out.insert(target.substr(8, target.size() - 9));
    }
  }
  return out;
}

// The port of a listening socket (state 0A) among `inodes`, from /proc/net/tcp{,6}.
std::optional<int> ListeningPort(pid_t pid, const std::set<std::string>& inodes) {
  for (const char* table : {"tcp", "tcp6"}) {
    std::istringstream in(ReadAll("/proc/" + std::to_string(pid) + "/net/" + table));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state != "0A" || inodes.count(inode) == 0) continue;
      return std::stoi(local.substr(local.rfind(':') + 1), nullptr, 16);
    }
  }
  return std::nullopt;
}

}  // namespace

int RunProgram(const std::vector<std::string>& argv, const std::string& input, std::string* out,
               const std::vector<std::string>& env) {
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(out_pipe[1], 2);
    close(in_pipe[1]);
    close(out_pipe[0]);
    Exec(argv, env);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  std::thread writer([fd = in_pipe[1], &input] {
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(fd, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(fd);
  });
  char buf[4096];
  ssize_t n;
  while ((n = read(out_pipe[0], buf, sizeof buf)) > 0) out->append(buf, static_cast<size_t>(n));
  close(out_pipe[0]);
  writer.join();
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::filesystem::path& output_file,
                           const std::vector<std::string>& env)
    : output_file_(output_file) {
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    setpgid(0, 0);  // its own group, so that stopping it stops what it started
    Exec(argv, env);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || Exited()) return;
  kill(-pid_, SIGTERM);
  for (int i = 0; i < 100 && !Exited(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!Exited()) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::optional<int> ChildProcess::WaitListeningPort(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !Exited()) {
    if (auto port = ListeningPort(pid_, SocketInodes(pid_))) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

bool ChildProcess::Exited(int* code) {
  if (pid_ <= 0) return true;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return false;
  if (r == pid_ && code != nullptr) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return true;
}

std::string ChildProcess::Output() const { return ReadAll(output_file_); }

TempDir::TempDir() {
  char tmpl[] = "/tmp/berth-e2e-XXXXXX";
  if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

}  // namespace berth::e2e
