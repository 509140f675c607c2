#include "cli/store_commands.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/http_client.h"
#include "common/clock.h"
#include "daemon/store_copy.h"

namespace berth {
namespace {

struct StoreCopyCommandOptions {
  std::string from;
  std::string to;
  std::string queue;
  bool merge = false;
};

int RunCopy(const StoreCopyCommandOptions& o) {
  SystemClock clock;
  StoreCopyOptions opts;
  opts.merge = o.merge;
  opts.queues = {o.queue};
  // A line a second at most, and the last one.
  auto last = std::chrono::steady_clock::now();
  opts.progress = [&last](int64_t done, int64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done != total && now - last < std::chrono::seconds(1)) return;
    last = now;
    fprintf(stderr, "berth: copied %lld of %lld jobs\n", static_cast<long long>(done),
            static_cast<long long>(total));
  };
  Result<StoreCopyReport> r = RunStoreCopy(o.from, o.to, opts, clock);
  if (!r.ok()) {
    fprintf(stderr, "berth: store copy: %s\n", r.status().message().c_str());
    return 1;
  }
  for (const std::string& w : r->warnings) fprintf(stderr, "berth: warning: %s\n", w.c_str());
  printf("jobs: %lld copied, %lld already there (of %lld); queue messages: %lld\n",
         static_cast<long long>(r->jobs_copied), static_cast<long long>(r->jobs_present),
         static_cast<long long>(r->jobs), static_cast<long long>(r->messages));
  printf("schedules: %lld copied, %lld already there\n",
         static_cast<long long>(r->schedules_copied), static_cast<long long>(r->schedules_present));
  printf("keys: %lld copied, %lld kept as the destination had them\n",
         static_cast<long long>(r->keys_copied), static_cast<long long>(r->keys_kept));
  if (r->logs_skipped) {
    printf("logs: not copied (this berth keeps no logs in the destination store)\n");
  } else {
    printf("logs: %lld jobs, %lld bytes\n", static_cast<long long>(r->logs),
           static_cast<long long>(r->log_bytes));
  }
  return 0;
}

}  // namespace

void AddStoreCommands(CLI::App& app, std::function<int()>& chosen) {
  auto opts = std::make_shared<StoreCopyCommandOptions>();
  opts->queue = EnvOr("JobQueueName", "jobs");
  auto* store = app.add_subcommand("store", "Move a node's history into PostgreSQL");
  store->require_subcommand(1);
  auto* copy = store->add_subcommand(
      "copy", "Copy jobs (with queue messages and logs), schedules and keys into PostgreSQL");
  copy->add_option("--from", opts->from,
                   "A stopped node's data dir (berth.db, keys, logs) or a PostgreSQL connection")
      ->required();
  copy->add_option("--to", opts->to,
                   "The PostgreSQL connection (postgresql://user@host:5432/berth) to copy into")
      ->required();
  copy->add_flag("--merge", opts->merge,
                 "Copy into a store that holds jobs already (jobs and schedules there are kept; "
                 "finishes a copy that stopped half-way)");
  copy->add_option("--queue", opts->queue,
                   "The job queue whose messages move, with its poison queue (env JobQueueName)")
      ->capture_default_str();
  copy->footer(
      "Stop the node first (the copy refuses a data dir whose daemon runs). Then start "
      "'berth serve' with StoreConnection=<the --to connection>.");
  copy->callback([opts, &chosen] { chosen = [opts] { return RunCopy(*opts); }; });
}

}  // namespace berth
