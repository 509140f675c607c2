#include "tests/e2e/node_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace berth::e2e {

NodeRuntime::NodeRuntime(std::string node, bool hang_marked) : node_(std::move(node)) {
  char tmpl[] = "/tmp/berth-noderuntime-XXXXXX";
  dir_ = mkdtemp(tmpl);
  script_ = dir_ / "crun-wrapper";
  log_ = dir_ / "creates.log";
  std::ofstream out(script_);
  // The verb is the first argument that names one; the container name is the last argument;
  // the bundle follows --bundle (or -b).
  out << "#!/bin/sh\n"
         "verb=; bundle=; prev=\n"
         "for a in \"$@\"; do\n"
         "  case \"$a\" in create|start|delete|kill|state|run|exec)\n"
         "    [ -z \"$verb\" ] && verb=$a;;\n"
         "  esac\n"
         "  case \"$prev\" in --bundle|-b) bundle=$a;; esac\n"
         "  case \"$a\" in --bundle=*) bundle=${a#--bundle=};; esac\n"
         "  prev=$a; last=$a\n"
         "done\n"
         "if [ \"$verb\" = create ] || [ \"$verb\" = run ]; then\n"
         "  echo \"$(date +%s%N) "
      << node_ << " $last\" >> \"" << log_.string() << "\"\n";
  if (hang_marked) {
    out << "  if [ -n \"$bundle\" ] && grep -q HANG_CREATE \"$bundle/config.json\"; then\n"
           "    sleep 600; exit 1\n"
           "  fi\n";
  }
  out << "fi\n"
         "exec /usr/bin/crun \"$@\"\n";
  out.close();
  std::filesystem::permissions(script_, std::filesystem::perms::owner_all);
}

NodeRuntime::~NodeRuntime() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<CreateCall> NodeRuntime::Creates() const {
  std::vector<CreateCall> out;
  std::ifstream in(log_);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    CreateCall c;
    if (fields >> c.at_ns >> c.node >> c.job) out.push_back(c);
  }
  return out;
}

std::vector<CreateCall> AllCreates(const std::vector<const NodeRuntime*>& runtimes) {
  std::vector<CreateCall> all;
  for (const NodeRuntime* r : runtimes) {
    auto some = r->Creates();
    all.insert(all.end(), some.begin(), some.end());
  }
  std::sort(all.begin(), all.end(),
            [](const CreateCall& a, const CreateCall& b) { return a.at_ns < b.at_ns; });
  return all;
}

struct TcpForwarder::State {
  int listener = -1;
  int wake[2] = {-1, -1};
  std::thread pump;
};

namespace {

// Copies what `from` has to `to`; false when either side is done.
bool Copy(int from, int to) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, n - off);
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

TcpForwarder::TcpForwarder(const std::string& listen_host, int target_port) : state_(new State) {
  state_->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(state_->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, listen_host.c_str(), &addr.sin_addr);
  if (bind(state_->listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(state_->listener, 64) != 0) {
    return;
  }
  socklen_t len = sizeof addr;
  getsockname(state_->listener, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (pipe2(state_->wake, O_CLOEXEC) != 0) return;
  state_->pump = std::thread([s = state_, target_port] {
    std::map<int, int> peer;  // each side's other side
    for (;;) {
      std::vector<pollfd> fds = {{s->wake[0], POLLIN, 0}, {s->listener, POLLIN, 0}};
      for (const auto& [fd, other] : peer) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) break;
      if (fds[1].revents & POLLIN) {
        int in = accept4(s->listener, nullptr, nullptr, SOCK_CLOEXEC);
        int out = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(static_cast<uint16_t>(target_port));
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (in >= 0 && connect(out, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
          peer[in] = out;
          peer[out] = in;
        } else {
          if (in >= 0) close(in);
          close(out);
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        int fd = fds[i].fd;
        auto it = peer.find(fd);
        if (it == peer.end()) continue;  // closed earlier in this round
        if (!Copy(fd, it->second)) {
          int other = it->second;
          peer.erase(fd);
          peer.erase(other);
          close(fd);
          close(other);
        }
      }
    }
    for (const auto& [fd, other] : peer) close(fd);
  });
}

TcpForwarder::~TcpForwarder() {
  if (state_->pump.joinable()) {
    char c = 1;
    (void)!write(state_->wake[1], &c, 1);
    state_->pump.join();
  }
  for (int fd : {state_->listener, state_->wake[0], state_->wake[1]}) {
    if (fd >= 0) close(fd);
  }
  delete state_;
}

}  // namespace berth::e2e
