// NodeApi: the nodes route of the HTTP API (many machines sharing one store, issue 11).
//
//   GET /api/nodes   {"nodes": [{"id", "role", "version", "lastHeartbeat", "leaseUntil",
//                                "state": "live" | "lost", "jobsRunning", "capacity"}, ...]}
//
// A node is lost once its lease passed without a heartbeat (whether or not another node has
// handled its loss yet). The API sees nodes only through NodeDirectory, which the daemon
// implements over the store (the api layer never includes store headers). Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/router.h"
#include "common/clock.h"
#include "common/status.h"

namespace berth {

// One node as its last heartbeat described it.
struct NodeSummary {
  std::string id;
  std::string role;  // all, api, worker
  std::string version;
  TimePoint last_heartbeat;
  TimePoint lease_until;
  bool loss_recorded = false;  // another node handled its loss (and it has not come back)
  int jobs_running = 0;
  int capacity = 0;
};

// What the nodes route needs from the node.
class NodeDirectory {
 public:
  virtual ~NodeDirectory() = default;
  // Every node that ever heartbeated, by id.
  virtual Result<std::vector<NodeSummary>> ListNodes() = 0;
};

struct NodeApiOptions {
  // Whether a request may list nodes; null = anyone may.
  std::function<bool(const HttpRequest&)> authorize;
};

class NodeApi {
 public:
  NodeApi(NodeDirectory& nodes, Clock& clock, NodeApiOptions opts);

  // Adds the route to `router`; `this` must outlive it.
  void Register(Router& router);

  // The answer to GET /api/nodes (exposed for tests).
  HttpResponse List(const HttpRequest& req);

 private:
  NodeDirectory& nodes_;
  Clock& clock_;
  NodeApiOptions opts_;
};

}  // namespace berth
