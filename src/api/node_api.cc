#include "api/node_api.h"

#include <nlohmann/json.hpp>

#include "api/job_api.h"

namespace berth {

NodeApi::NodeApi(NodeDirectory& nodes, Clock& clock, NodeApiOptions opts)
    : nodes_(nodes), clock_(clock), opts_(std::move(opts)) {}

void NodeApi::Register(Router& router) {
  router.Add("GET", "/api/nodes",
             [this](const HttpRequest& req, const std::vector<std::string>&, Respond respond) {
               respond(List(req));
             });
}

HttpResponse NodeApi::List(const HttpRequest& req) {
  if (opts_.authorize && !opts_.authorize(req)) {
    return JsonError(401, "a valid function key is required (?code= or x-functions-key)");
  }
  Result<std::vector<NodeSummary>> nodes = nodes_.ListNodes();
  if (!nodes.ok()) return JsonError(HttpCodeFor(nodes.status()), nodes.status().message());
  TimePoint now = clock_.Now();
  nlohmann::json list = nlohmann::json::array();
  for (const NodeSummary& n : *nodes) {
    bool lost = n.loss_recorded || n.lease_until < now;
    list.push_back({{"id", n.id},
                    {"role", n.role},
                    {"version", n.version},
                    {"lastHeartbeat", FormatRfc3339(n.last_heartbeat)},
                    {"leaseUntil", FormatRfc3339(n.lease_until)},
                    {"state", lost ? "lost" : "live"},
                    {"jobsRunning", n.jobs_running},
                    {"capacity", n.capacity}});
  }
  HttpResponse r;
  r.body = nlohmann::json{{"nodes", list}}.dump();
  return r;
}

}  // namespace berth
