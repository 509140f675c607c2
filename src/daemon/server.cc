#include "daemon/server.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "api/access_log.h"
#include "api/aci_api.h"
#include "api/callback_api.h"
#include "api/events_api.h"
#include "api/http_metrics.h"
#include "api/http_server.h"
#include "api/image_api.h"
#include "api/job_api.h"
#include "api/job_json.h"
#include "api/key_api.h"
#include "api/metrics_api.h"
#include "api/node_api.h"
#include "api/prometheus_metrics.h"
#include "api/schedule_api.h"
#include "api/web_api.h"
#include "azure/azure_queue_store.h"
#include "azure/connection_string.h"
#include "azure/queue_client.h"
#include "common/files.h"
#include "common/log.h"
#include "common/random.h"
#include "common/version.h"
#include "daemon/data_dir_lock.h"
#include "daemon/job_log.h"
#include "daemon/key_store.h"
#include "daemon/observed_store.h"
#include "daemon/process_metrics.h"
#include "daemon/self_signed_cert.h"
#include "daemon/settings.h"
#include "daemon/store_key_store.h"
#include "dispatch/dispatcher.h"
#include "dispatch/local_job_service.h"
#include "dispatch/log_shipper.h"
#include "dispatch/node_keeper.h"
#include "dispatch/retention.h"
#include "images/image_store.h"
#include "runtime/oci_runtime.h"
#include "runtime/runtime_version.h"
#include "runtime/seccomp.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "triggers/array_job_service.h"
#include "triggers/callback_deliverer.h"
#include "triggers/schedule_runner.h"

#ifndef BERTH_DEFAULT_BUNDLED_IMAGES
#define BERTH_DEFAULT_BUNDLED_IMAGES "/usr/share/berth/images"
#endif

namespace berth {
namespace {

int Die(Logger& log, const std::string& msg) {
  log.Error(msg);
  return 1;
}

// HOST:PORT, [V6]:PORT, :PORT or PORT (these two keep the default host, loopback: listening
// on every interface is asked for by name, 0.0.0.0:PORT). HOST may be a name (localhost).
bool SplitHostPort(const std::string& s, std::string& host, uint16_t& port) {
  size_t colon = s.rfind(':');
  host = colon == std::string::npos ? "" : s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  std::string p = colon == std::string::npos ? s : s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned long n = std::stoul(p);
  if (n > 65535) return false;
  port = static_cast<uint16_t>(n);
  return true;
}

std::string FindRuntimeBinary(const std::string& name) {
  if (name.starts_with("/")) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/usr/sbin/", "/bin/"}) {
    std::string p = std::string(dir) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// The small monitor binary beside ours when it is there (it starts faster and keeps less
// memory per job), else this binary (`berth shim`).
std::string MonitorBinary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto shim = self.parent_path() / "berth-shim";
    if (::access(shim.c_str(), X_OK) == 0) return shim.string();
  }
  return "/proc/self/exe";
}

Status EnsureBundledImage(ImageStore& images, const std::filesystem::path& bundled) {
  auto have = images.Resolve("busybox");
  if (have.ok()) return Status::Ok();
  // Missing, or damaged (a layer dir gone): import it again.
  if (!have.status().IsNotFound() && have.status().code() != StatusCode::kFailedPrecondition) {
    return have.status();
  }
  auto imported = images.ImportLayout(bundled / "busybox", "busybox");
  if (!imported.ok()) return imported.status().WithContext("import the bundled busybox image");
  return Status::Ok();
}

// The image store as the API's ImageCatalog.
class StoreImageCatalog : public ImageCatalog {
 public:
  explicit StoreImageCatalog(ImageStore& images) : images_(images) {}
  Result<std::vector<ImageSummary>> ListImages() override {
    ASSIGN_OR_RETURN(std::vector<Image> images, images_.List());
    std::vector<ImageSummary> out;
    for (const Image& i : images) {
      out.push_back(
          {i.reference, i.manifest_digest, i.size_bytes, static_cast<int>(i.layer_dirs.size())});
    }
    return out;
  }

 private:
  ImageStore& images_;
};

// The store's nodes as the API's NodeDirectory.
class StoreNodeDirectory : public NodeDirectory {
 public:
  explicit StoreNodeDirectory(Store& store) : store_(store) {}
  Result<std::vector<NodeSummary>> ListNodes() override {
    ASSIGN_OR_RETURN(std::vector<NodeRecord> nodes, store_.ListNodes());
    std::vector<NodeSummary> out;
    for (const NodeRecord& n : nodes) {
      out.push_back({n.id, n.role, n.version, n.heartbeat_at, n.lease_until, n.lost_at.has_value(),
                     n.jobs_running, n.capacity});
    }
    return out;
  }

 private:
  Store& store_;
};

}  // namespace

int Serve(const ServeOptions& opts) {
  // Signals are taken by one thread with sigwait; every thread started later inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Room for many HTTP connections (the server caps them at HttpServerOptions::max_connections).
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  SystemClock clock;
  // Lines before the settings are read take --log-format (else text); then the setting counts.
  Result<LogFormat> format = ParseLogFormat(opts.log_format.empty() ? "text" : opts.log_format);
  if (!format.ok()) {
    Logger early(LogFormat::kText, clock);
    return Die(early, "--log-format: " + format.status().message());
  }
  auto settings = LoadSettings(opts.settings_file, [](const char* n) { return std::getenv(n); });
  if (!settings.ok()) {
    Logger early(*format, clock);
    return Die(early, settings.status().message());
  }
  if (opts.log_format.empty()) format = ParseLogFormat(settings->log_format);
  Logger log(format.ok() ? *format : LogFormat::kText, clock);
  if (!opts.role.empty()) settings->role = opts.role;  // --role wins over the Role setting
  if (Status st = ValidateRole(*settings); !st.ok()) return Die(log, st.message());
  const std::string role = settings->role;
  const bool runs_jobs = role != "api";  // all and worker run a dispatcher and containers
  const std::string node_id = EffectiveNodeId(*settings);
  ScopedProcessLogger process_log(log);  // the dispatcher's, runtime's and sweeper's lines too
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(opts.listen, host, port)) {
    return Die(log, "--listen must be HOST:PORT, :PORT or PORT, got '" + opts.listen + "'");
  }
  std::error_code ec;
  std::filesystem::path data = std::filesystem::absolute(opts.data_dir, ec);
  for (const auto& d : {data, data / "jobs", data / "images", data / "runtime"}) {
    if (Status st = MakeDirs(d, 0700); !st.ok()) return Die(log, st.ToString());
  }
  // One daemon per data dir, held until this function returns (the process's life).
  auto data_lock = DataDirLock::Acquire(data);
  if (!data_lock.ok()) return Die(log, data_lock.status().message());
  // An api node starts no container: it needs no OCI runtime (nor seccomp profile, nor images).
  std::string runtime_binary = runs_jobs ? FindRuntimeBinary(settings->runtime) : "";
  if (runs_jobs && runtime_binary.empty()) {
    if (settings->runtime.starts_with("/")) {
      return Die(log, "Runtime: '" + settings->runtime + "' is missing or not executable");
    }
    return Die(log,
               "OCI runtime '" + settings->runtime +
                   "' not found in /usr/bin, /usr/local/bin, /usr/sbin or /bin (apt-get install " +
                   settings->runtime + ", or give its absolute path)");
  }

  // The store: embedded SQLite in the data dir, or the PostgreSQL of StoreConnection. Both
  // engines are a Store and a TriggerStore.
  std::unique_ptr<Store> engine;
  TriggerStore* trigger_store = nullptr;
  PostgresStore* postgres = nullptr;
  if (settings->store_connection.empty()) {
    auto opened = SqliteStore::Open(data / "berth.db", clock);
    if (!opened.ok()) return Die(log, opened.status().ToString());
    trigger_store = opened->get();
    engine = std::move(opened).value();
  } else {
    PostgresStoreOptions pg_opts;
    pg_opts.connections = settings->store_pool_size;
    auto opened = PostgresStore::Open(settings->store_connection, clock, pg_opts);
    if (!opened.ok()) return Die(log, "StoreConnection: " + opened.status().ToString());
    trigger_store = postgres = opened->get();
    engine = std::move(opened).value();
    log.Info("store: PostgreSQL (StoreConnection)");
  }
  // Keys: files in the data dir on a single node; with PostgreSQL, rows every node shares
  // (mirrored into the data dir's key files for the CLI on this machine).
  std::shared_ptr<KeyStore> keys;
  if (postgres == nullptr) {
    FileKeyStoreOptions kopts;
    kopts.data_dir = data;
    kopts.pinned_default_key = settings->function_key;
    auto opened_keys = FileKeyStore::Open(kopts);
    if (!opened_keys.ok()) return Die(log, "keys: " + opened_keys.status().ToString());
    keys = std::move(opened_keys).value();
  } else {
    StoreKeyStoreOptions kopts;
    kopts.pinned_default_key = settings->function_key;
    kopts.mirror_dir = data;
    auto opened_keys = StoreKeyStore::Open(*postgres, kopts);
    if (!opened_keys.ok()) return Die(log, "keys: " + opened_keys.status().ToString());
    keys = std::move(opened_keys).value();
  }
  // Every part uses the store through the observer, which feeds the metrics and live events.
  PrometheusMetrics metrics;
  JobEventHub events;
  ObservedStore store(*engine, clock, metrics, events);
  store.AddGauges({settings->job_queue_name, settings->job_queue_name + "-poison"});
  AddProcessMetrics(metrics);
  ImageStore images(data / "images");
  if (Status st = images.Init(); !st.ok()) return Die(log, st.ToString());
  images.ConfigureRegistries(settings->Registries());
  std::filesystem::path bundled = settings->bundled_images_dir.empty()
                                      ? std::filesystem::path(BERTH_DEFAULT_BUNDLED_IMAGES)
                                      : settings->bundled_images_dir;
  if (runs_jobs) {
    if (Status st = EnsureBundledImage(images, bundled); !st.ok()) return Die(log, st.ToString());
  }

  OciRuntimeOptions ropts;
  ropts.jobs_root = data / "jobs";
  ropts.state_root = data / "runtime" / std::filesystem::path(runtime_binary).filename();
  ropts.start_timeout = milliseconds(int64_t{settings->job_start_timeout_seconds} * 1000);
  ropts.runtime_binary = runs_jobs ? runtime_binary : "/nonexistent/no-runtime-on-an-api-node";
  ropts.monitor_binary = MonitorBinary();
  ropts.metrics = &metrics;
  ropts.config.pids_limit = settings->job_pids_limit;
  ropts.config.default_cpu = settings->default_job_cpu;
  ropts.config.default_memory_gb = settings->default_job_memory_gb;
  ropts.config.tmp_size_bytes = settings->job_tmp_size_bytes;
  auto userns = ParseIdRange(settings->user_namespace_range);
  if (!userns.ok()) return Die(log, "UserNamespaceRange: " + userns.status().message());
  ropts.config.user_namespace = *userns;
  if (runs_jobs) {
    // A runtime that cannot be asked still runs jobs: their configs carry the seccomp rules.
    Result<RuntimeVersion> version = ProbeRuntimeVersion(runtime_binary);
    if (!version.ok()) log.Warn("runtime: " + version.status().message());
    ropts.config.seccomp_program_only = version.ok() && LoadsPrecompiledSeccomp(*version);
    ropts.batch_deletes = version.ok() && DeletesByPattern(*version);
    ropts.run_from_sealed_copy = version.ok() && RunsFromSealedCopy(*version);
  }
  if (!runs_jobs) {
    // No container runs here: the profile is not needed.
  } else if (auto profile = ReadFile(settings->seccomp_profile); profile.ok()) {
    ropts.config.seccomp_profile = std::move(*profile);
  } else if (!settings->allow_no_seccomp) {
    return Die(log, "no seccomp profile at " + settings->seccomp_profile.string() +
                        " (apt-get install golang-github-containers-common); refusing to run jobs "
                        "without a seccomp filter (set AllowNoSeccomp=true to allow it)");
  } else {
    log.Warn("no seccomp profile at " + settings->seccomp_profile.string() +
             "; jobs run WITHOUT a seccomp filter (AllowNoSeccomp is on)");
  }
  ropts.log_max_bytes = settings->job_log_max_bytes;
  ropts.upper_max_bytes = settings->job_upper_dir_max_bytes;
  OciRuntime runtime(ropts, images);

  DispatcherOptions dopts;
  dopts.queue = settings->job_queue_name;
  dopts.max_concurrent = settings->max_concurrent_jobs;
  dopts.max_dequeue_count = settings->max_dequeue_count;
  dopts.lease = milliseconds(int64_t{settings->queue_lease_seconds} * 1000);
  dopts.retry_delay = milliseconds(settings->queue_retry_delay_ms);
  dopts.start_backoff = milliseconds(settings->start_backoff_ms);
  dopts.start_backoff_max = milliseconds(settings->start_backoff_max_ms);
  dopts.paused = settings->dispatch_paused;
  dopts.cancel_grace = milliseconds(int64_t{settings->cancel_grace_seconds} * 1000);
  dopts.max_retries = settings->max_retries;
  dopts.retry_backoff = milliseconds(settings->retry_backoff_ms);
  dopts.retry_backoff_max = milliseconds(settings->retry_backoff_max_ms);
  dopts.node = node_id;
  // Other nodes may share a PostgreSQL store: ownership is checked on every write, and fencing
  // runs. On SQLite this node is the only one.
  dopts.shared_store = !settings->store_connection.empty();
  // The API serves while the jobs the last daemon left running are adopted (a thousand take a
  // moment); each adopted one is named once they all are.
  dopts.reconcile_in_background = true;
  dopts.on_reconciled = [&log](const std::vector<std::string>& adopted) {
    for (const std::string& id : adopted) log.Info("job adopted", {{"job", id}});
  };
  // With AzureWebJobsStorage the job queue lives in that Storage account: the dispatcher and
  // the submit path see the store through the Azure queue decorator (the local queue becomes
  // its outbox).
  std::unique_ptr<QueueClient> azure_client;
  std::unique_ptr<AzureQueueStore> azure_store;
  if (!settings->azure_web_jobs_storage.empty()) {
    auto account = ParseConnectionString(settings->azure_web_jobs_storage);
    if (!account.ok()) return Die(log, "AzureWebJobsStorage: " + account.status().message());
    azure_client = std::make_unique<QueueClient>(*account);
    AzureQueueStoreOptions qopts;
    qopts.queue = settings->job_queue_name;
    qopts.encoding = *ParseMessageEncoding(settings->queue_message_encoding);
    qopts.check_spec = [allow_host = settings->allow_host_network,
                        policy = CallbackPolicy{SplitHostList(settings->callback_allowed_hosts),
                                                settings->allow_loopback_callbacks}](
                           const JobSpec& spec) -> Status {
      if (spec.network == NetworkMode::kHost && !allow_host) {
        return Status::InvalidArgument("field 'network': host is not allowed (AllowHostNetwork)");
      }
      if (spec.callback_url.empty()) return Status::Ok();
      ASSIGN_OR_RETURN(CallbackUrl url, ParseCallbackUrl(spec.callback_url));
      return CheckCallbackUrl(policy, url);
    };
    azure_store = std::make_unique<AzureQueueStore>(qopts, store, *azure_client, clock);
    log.Info("job queue '" + settings->job_queue_name + "' is an Azure Storage queue",
             {{"account", account->name}, {"endpoint", account->queue_endpoint}});
  }
  Store& queue_store = azure_store ? static_cast<Store&>(*azure_store) : store;
  // On a shared store (PostgreSQL) any node serves any job's log: a node that runs jobs ships
  // their logs to the store, and a job's end is recorded only once its whole log is there.
  std::unique_ptr<LogShipper> shipper;
  std::unique_ptr<ShipOnExitRuntime> shipping_runtime;
  if (postgres != nullptr && runs_jobs) {
    LogShipperOptions ship_opts;
    ship_opts.jobs_root = data / "jobs";
    ship_opts.keep_bytes = static_cast<uint64_t>(settings->job_log_max_bytes);
    shipper = std::make_unique<LogShipper>(ship_opts, *postgres, clock,
                                           [&runtime] { return runtime.ListLocalJobs(); });
    shipping_runtime = std::make_unique<ShipOnExitRuntime>(runtime, *shipper);
  }
  Runtime& job_runtime = shipping_runtime ? static_cast<Runtime&>(*shipping_runtime) : runtime;
  // An api node runs no dispatcher: workers claim what it queues.
  std::unique_ptr<Dispatcher> dispatcher;
  if (runs_jobs) {
    dispatcher =
        std::make_unique<Dispatcher>(dopts, queue_store, job_runtime, clock, opts.crash_points);
  }
  // Heartbeats, lapse and fencing, cancels made through other nodes, other nodes' loss.
  NodeKeeperOptions keeper_opts;
  keeper_opts.node = node_id;
  keeper_opts.role = role;
  keeper_opts.version = BerthVersion();
  keeper_opts.capacity = runs_jobs ? settings->max_concurrent_jobs : 0;
  keeper_opts.lease = milliseconds(int64_t{settings->node_lease_seconds} * 1000);
  keeper_opts.queue = settings->job_queue_name;
  keeper_opts.max_retries = settings->max_retries;
  keeper_opts.retry_backoff = dopts.retry_backoff;
  keeper_opts.retry_backoff_max = dopts.retry_backoff_max;
  NodeKeeper keeper(keeper_opts, store, clock, dispatcher.get());
  // On PostgreSQL a job queued by any node (another API node, a schedule elsewhere) wakes this
  // dispatcher at once. Cleared before the dispatcher goes (declared after it).
  struct ClearOnQueued {
    PostgresStore* store;
    ~ClearOnQueued() {
      if (store != nullptr) store->SetOnQueued(nullptr);
    }
  } clear_on_queued{postgres};
  if (postgres != nullptr && dispatcher) {
    postgres->SetOnQueued([d = dispatcher.get(), queue = dopts.queue](const std::string& q) {
      if (q == queue) d->Wake();
    });
  }
  RetentionOptions retention_opts;
  retention_opts.retention =
      milliseconds(static_cast<int64_t>(settings->job_retention_hours * 3600 * 1000));
  RetentionSweeper sweeper(retention_opts, store, runtime, clock);
  sweeper.RemoveOrphans();
  LocalJobService local_service(
      queue_store, dispatcher.get(), clock, settings->job_queue_name, data / "jobs",
      [&runtime](const std::string& id) { return runtime.Remove(id); }, postgres);
  ArrayJobService service(local_service, *trigger_store);
  ScheduleRunnerOptions schedule_opts;
  schedule_opts.queue = settings->job_queue_name;
  schedule_opts.wake = [d = dispatcher.get()] {
    if (d != nullptr) d->Wake();
  };
  schedule_opts.cancel = [&service](const std::string& id) { return service.Cancel(id).status(); };
  ScheduleRunner schedules(schedule_opts, *trigger_store, store, clock);
  auto callback_secret = LoadOrCreateCallbackSecret(data / "callback-secret");
  if (!callback_secret.ok()) return Die(log, callback_secret.status().ToString());
  CallbackDelivererOptions callback_opts;
  callback_opts.max_attempts = settings->callback_max_attempts;
  callback_opts.backoff = milliseconds(settings->callback_backoff_ms);
  callback_opts.timeout = milliseconds(int64_t{settings->callback_timeout_seconds} * 1000);
  callback_opts.policy.allowed_hosts = SplitHostList(settings->callback_allowed_hosts);
  callback_opts.policy.allow_loopback = settings->allow_loopback_callbacks;
  callback_opts.secret = *callback_secret;
  CurlCallbackSender callback_sender;
  CallbackDeliverer callbacks(callback_opts, *trigger_store, store, clock, callback_sender,
                              ResolveWithGetaddrinfo);

  JobApiOptions aopts;
  aopts.keys = keys;
  aopts.status_requires_key = settings->status_requires_key;
  aopts.default_job = settings->DefaultJob();
  aopts.allow_host_network = settings->allow_host_network;
  aopts.follow_poll = std::chrono::milliseconds(settings->log_follow_poll_ms);
  if (settings->allow_host_network) {
    log.Warn("AllowHostNetwork is on: a job that asks for it shares the host's network");
  }
  aopts.check_spec = [policy = callback_opts.policy](const JobSpec& spec) -> Status {
    if (spec.callback_url.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(CallbackUrl url, ParseCallbackUrl(spec.callback_url));
    return CheckCallbackUrl(policy, url);
  };
  // A job's reason never shows where the data dir is on the host (it may name its temp paths).
  aopts.hidden_paths = {data.string()};
  if (auto real = std::filesystem::weakly_canonical(data, ec); !ec && real != data) {
    aopts.hidden_paths.push_back(real.string());
  }
  JobApi api(service, aopts);
  Router router;
  router.SetObserver(
      BothObservers(HttpMetricsObserver(metrics, clock), AccessLogObserver(log, clock)));
  // A worker serves no public API: its health and metrics only.
  const bool serves_api = role != "worker";
  if (serves_api) {
    api.Register(router);
  } else {
    router.Add("GET", "/healthz",
               [](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
                 respond(JsonResponse(200, {{"status", "ok"}}));
               });
  }
  KeyApi key_api(keys);
  if (serves_api) key_api.Register(router);
  StoreImageCatalog image_catalog(images);
  ImageApiOptions image_api_opts;
  image_api_opts.authorize = [keys](const HttpRequest& req) {
    return keys->Check("jobs", PresentedKey(req)) != KeyAccess::kNone;
  };
  ImageApi image_api(image_catalog, image_api_opts);
  if (serves_api) image_api.Register(router);
  MetricsApiOptions metrics_api_opts;
  if (settings->metrics_require_key) metrics_api_opts.authorize = image_api_opts.authorize;
  MetricsApi metrics_api(metrics, metrics_api_opts);
  metrics_api.Register(router);
  StoreNodeDirectory node_directory(store);
  NodeApiOptions node_api_opts;
  node_api_opts.authorize = image_api_opts.authorize;
  NodeApi node_api(node_directory, clock, node_api_opts);
  if (serves_api) node_api.Register(router);
  EventsApiOptions events_api_opts;
  events_api_opts.authorize = image_api_opts.authorize;
  EventsApi events_api(events, clock, events_api_opts);
  if (serves_api) events_api.Register(router);
  ScheduleApiOptions schedule_api_opts;
  schedule_api_opts.authorize = image_api_opts.authorize;
  schedule_api_opts.allow_host_network = settings->allow_host_network;
  ScheduleApi schedule_api(schedules, schedule_api_opts);
  if (serves_api) schedule_api.Register(router);
  CallbackApiOptions callback_api_opts;
  callback_api_opts.is_master = [keys](const HttpRequest& req) {
    return keys->Check("jobs", PresentedKey(req)) == KeyAccess::kMaster;
  };
  callback_api_opts.secret_for_host = [secret = *callback_secret](std::string_view host) {
    return HostSecret(secret, host);
  };
  CallbackApi callback_api(callback_api_opts);
  if (serves_api) callback_api.Register(router);
  if (serves_api) WebApi::Register(router);
  HttpServerOptions hopts;
  hopts.host = host;
  hopts.port = port;
  hopts.tls_cert_file = settings->tls_cert_file;
  hopts.tls_key_file = settings->tls_key_file;
  HttpServer server(hopts, router);
  auto bound = server.Listen();
  if (!bound.ok()) return Die(log, bound.status().message());
  // The ACI-compatible API: a second, HTTPS-only listener over the same job service.
  Router arm_router;
  arm_router.SetObserver(
      BothObservers(HttpMetricsObserver(metrics, clock), AccessLogObserver(log, clock)));
  std::unique_ptr<AciApi> aci_api;
  std::unique_ptr<HttpServer> arm_server;
  if (!settings->arm_listen.empty()) {
    std::string arm_host;
    uint16_t arm_port = 0;
    if (!SplitHostPort(settings->arm_listen, arm_host, arm_port)) {
      return Die(log,
                 "ArmListen must be HOST:PORT, :PORT or PORT, got '" + settings->arm_listen + "'");
    }
    HttpServerOptions arm_opts;
    arm_opts.host = arm_host;
    arm_opts.port = arm_port;
    arm_opts.tls_cert_file = settings->arm_tls_cert_file;
    arm_opts.tls_key_file = settings->arm_tls_key_file;
    if (arm_opts.tls_cert_file.empty()) {
      std::vector<std::string> extra_hosts;
      if (arm_host != "127.0.0.1" && arm_host != "::1" && arm_host != "localhost" &&
          arm_host != "0.0.0.0" && arm_host != "::") {
        extra_hosts.push_back(arm_host);
      }
      auto pair = EnsureSelfSignedCertificate(data, "arm-tls", extra_hosts);
      if (!pair.ok()) return Die(log, "ArmListen certificate: " + pair.status().ToString());
      arm_opts.tls_cert_file = pair->cert_file.string();
      arm_opts.tls_key_file = pair->key_file.string();
      log.Info(std::string(pair->created ? "made a self-signed certificate"
                                         : "self-signed certificate") +
               " for the ACI API in " + arm_opts.tls_cert_file +
               " (clients trust it with NODE_EXTRA_CA_CERTS=" + arm_opts.tls_cert_file +
               " or curl --cacert)");
    }
    AciApiOptions aci_opts;
    aci_opts.keys = keys;
    aci_opts.hidden_paths = aopts.hidden_paths;
    aci_opts.stop_wait = milliseconds(int64_t{settings->cancel_grace_seconds} * 1000 + 30'000);
    aci_api = std::make_unique<AciApi>(service, aci_opts);
    aci_api->Register(arm_router);
    arm_server = std::make_unique<HttpServer>(arm_opts, arm_router);
    auto arm_bound = arm_server->Listen();
    if (!arm_bound.ok()) return Die(log, "ArmListen: " + arm_bound.status().message());
    std::string shown = arm_host.find(':') != std::string::npos ? "[" + arm_host + "]" : arm_host;
    std::string arm_url = "https://" + shown + ":" + std::to_string(*arm_bound);
    aci_api->SetBaseUrl(arm_url);
    log.Info("ACI-compatible API on " + arm_url +
             " (Authorization: Bearer <a host key or the master key>)");
  }
  // Every job change the store accepts is a log line; the jobs whose containers outlived the
  // last daemon are named as this one adopts them.
  uint64_t job_lines = events.Subscribe(JobEventLogger(log));
  if (azure_store) {
    azure_store->SetOnRelayed([d = dispatcher.get()] {
      if (d != nullptr) d->Wake();
    });
    azure_store->Start();
  }
  if (Status st = keeper.Start(); !st.ok()) log.Warn(st.message());
  if (dispatcher) {
    if (Status st = dispatcher->Start(); !st.ok()) return Die(log, st.ToString());
  }
  if (shipper) shipper->Start();
  sweeper.Start();
  schedules.Start();
  callbacks.Start();

  std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string url = std::string(settings->tls_cert_file.empty() ? "http" : "https") + "://" +
                    shown_host + ":" + std::to_string(*bound);
  log.Info("serving on " + url, {{"data", data.string()},
                                 {"role", role},
                                 {"node", node_id},
                                 {"runtime", runtime_binary},
                                 {"cgroups", std::string(ToString(runtime.cgroup_layout().mode))},
                                 {"version", BerthVersion()}});
  // Keys are never printed (they would land in the journal): only where they are.
  std::string key_file = (data / "function-key").string();
  if (settings->function_key.empty()) {
    log.Info("function key in " + key_file + " (mode 0600; 'berth keys list' shows every key)");
  } else {
    log.Info("function key pinned by the FunctionKey setting");
  }
  log.Info("master key in " + (data / "master-key").string() + " (mode 0600)");
  if (settings->function_key.empty()) {
    log.Info(
        "try: curl -i -X POST" +
        std::string(settings->tls_cert_file.empty() ? "" : " --cacert " + settings->tls_cert_file) +
        " \"" + url + "/api/jobs?code=$(cat " + key_file + ")\"");
  }

  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log.Info(std::string(strsignal(sig)) + ": stopping (running jobs keep running)");
    server.Stop();
    if (arm_server) arm_server->Stop();
  });
  std::thread arm_thread;
  if (arm_server) arm_thread = std::thread([&] { arm_server->Run(); });
  server.Run();
  if (arm_thread.joinable()) arm_thread.join();
  schedules.Stop();
  callbacks.Stop();
  keeper.Stop();
  if (dispatcher) dispatcher->Stop();
  if (shipper) shipper->Stop();
  if (azure_store) azure_store->Stop();
  signal_waiter.join();
  events.Unsubscribe(job_lines);
  return 0;
}

}  // namespace berth
