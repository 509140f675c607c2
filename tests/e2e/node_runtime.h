// NodeRuntime: an OCI runtime wrapper for many-node end-to-end tests. Each worker gets its own;
// it records every `create` or `run` (either makes a container), with the node's name and the
// time in ns since the epoch, before handing the call to the real crun, so a test sees which
// node made which container and when, independently of berth's own files. A wrapper made with
// `hang_marked` lets a `create`/`run` whose bundle's config.json mentions HANG_CREATE hang (as a
// stuck start would) after recording it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::e2e {

struct CreateCall {
  std::string node;
  std::string job;
  int64_t at_ns = 0;
};

class NodeRuntime {
 public:
  NodeRuntime(std::string node, bool hang_marked = false);
  ~NodeRuntime();
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  const std::filesystem::path& path() const { return script_; }
  std::vector<CreateCall> Creates() const;

 private:
  std::string node_;
  std::filesystem::path dir_;
  std::filesystem::path script_;
  std::filesystem::path log_;
};

// Every create of `runtimes` together, oldest first.
std::vector<CreateCall> AllCreates(const std::vector<const NodeRuntime*>& runtimes);

// A TCP forwarder: accepts on `listen_host` (port chosen by the kernel) and copies bytes both
// ways to 127.0.0.1:`target_port`. Lets a process in a test's network namespace reach a server
// that listens on loopback only. Stops (closing every connection) on destruction.
class TcpForwarder {
 public:
  TcpForwarder(const std::string& listen_host, int target_port);
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  int port() const { return port_; }

 private:
  struct State;
  State* state_;
  int port_ = 0;
};

}  // namespace berth::e2e
