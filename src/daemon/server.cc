#include "daemon/server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "api/http_server.h"
#include "api/job_api.h"
#include "common/files.h"
#include "common/random.h"
#include "daemon/settings.h"
#include "dispatch/dispatcher.h"
#include "dispatch/local_job_service.h"
#include "images/image_store.h"
#include "runtime/oci_runtime.h"
#include "store/sqlite_store.h"

#ifndef BERTH_DEFAULT_BUNDLED_IMAGES
#define BERTH_DEFAULT_BUNDLED_IMAGES "/usr/share/berth/images"
#endif

namespace berth {
namespace {

int Die(const std::string& msg) {
  fprintf(stderr, "berth: %s\n", msg.c_str());
  return 1;
}

bool SplitHostPort(const std::string& s, std::string& host, uint16_t& port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string p = s.substr(colon + 1);
  if (host.empty() || p.empty() || p.size() > 5 ||
      p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned long n = std::stoul(p);
  if (n > 65535) return false;
  port = static_cast<uint16_t>(n);
  return true;
}

std::string FindRuntimeBinary(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/usr/sbin/", "/bin/"}) {
    std::string p = std::string(dir) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
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

}  // namespace

std::string LoadOrCreateFunctionKey(const std::filesystem::path& data_dir,
                                    const std::string& pinned, std::string* error) {
  if (!pinned.empty()) return pinned;
  auto path = data_dir / "function-key";
  auto existing = ReadFile(path);
  if (existing.ok()) {
    std::string key = *existing;
    while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();
    if (!key.empty()) return key;
  }
  std::string key = RandomUrlSafeToken(32);
  Status st = WriteFileAtomic(path, key + "\n", 0600);
  if (!st.ok()) {
    *error = st.ToString();
    return "";
  }
  return key;
}

int Serve(const ServeOptions& opts) {
  // Signals are taken by one thread with sigwait; every thread started later inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto settings = LoadSettings(opts.settings_file, [](const char* n) { return std::getenv(n); });
  if (!settings.ok()) return Die(settings.status().message());
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(opts.listen, host, port)) {
    return Die("--listen must be HOST:PORT, got '" + opts.listen + "'");
  }
  std::error_code ec;
  std::filesystem::path data = std::filesystem::absolute(opts.data_dir, ec);
  for (const auto& d : {data, data / "jobs", data / "images", data / "runtime"}) {
    if (Status st = MakeDirs(d, 0700); !st.ok()) return Die(st.ToString());
  }
  std::string key_error;
  std::string key = LoadOrCreateFunctionKey(data, settings->function_key, &key_error);
  if (key.empty()) return Die("function key: " + key_error);
  std::string runtime_binary = FindRuntimeBinary(settings->runtime);
  if (runtime_binary.empty()) {
    return Die("OCI runtime '" + settings->runtime + "' not found (apt-get install " +
               settings->runtime + ")");
  }

  SystemClock clock;
  auto store = SqliteStore::Open(data / "berth.db", clock);
  if (!store.ok()) return Die(store.status().ToString());
  ImageStore images(data / "images");
  if (Status st = images.Init(); !st.ok()) return Die(st.ToString());
  std::filesystem::path bundled = settings->bundled_images_dir.empty()
                                      ? std::filesystem::path(BERTH_DEFAULT_BUNDLED_IMAGES)
                                      : settings->bundled_images_dir;
  if (Status st = EnsureBundledImage(images, bundled); !st.ok()) return Die(st.ToString());

  OciRuntimeOptions ropts;
  ropts.jobs_root = data / "jobs";
  ropts.state_root = data / "runtime" / settings->runtime;
  ropts.runtime_binary = runtime_binary;
  ropts.config.pids_limit = settings->job_pids_limit;
  OciRuntime runtime(ropts, images);

  DispatcherOptions dopts;
  dopts.queue = settings->job_queue_name;
  dopts.max_concurrent = settings->max_concurrent_jobs;
  dopts.max_dequeue_count = settings->max_dequeue_count;
  dopts.lease = milliseconds(int64_t{settings->queue_lease_seconds} * 1000);
  dopts.retry_delay = milliseconds(settings->queue_retry_delay_ms);
  Dispatcher dispatcher(dopts, **store, runtime, clock);
  LocalJobService service(**store, &dispatcher, clock, settings->job_queue_name, data / "jobs");

  JobApiOptions aopts;
  aopts.function_keys = {key};
  aopts.status_requires_key = settings->status_requires_key;
  aopts.default_job = settings->DefaultJob();
  JobApi api(service, aopts);
  Router router;
  api.Register(router);
  HttpServerOptions hopts;
  hopts.host = host;
  hopts.port = port;
  HttpServer server(hopts, router);
  auto bound = server.Listen();
  if (!bound.ok()) return Die(bound.status().message());
  if (Status st = dispatcher.Start(); !st.ok()) return Die(st.ToString());

  std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string url = "http://" + shown_host + ":" + std::to_string(*bound);
  printf("berth: serving on %s (data %s, runtime %s, cgroups %s)\n", url.c_str(), data.c_str(),
         runtime_binary.c_str(), std::string(ToString(runtime.cgroup_layout().mode)).c_str());
  printf("berth: function key: %s\n", key.c_str());
  printf("berth: try: curl -i -X POST '%s/api/jobs?code=%s'\n", url.c_str(), key.c_str());
  fflush(stdout);

  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "berth: %s: stopping (running jobs keep running)\n", strsignal(sig));
    server.Stop();
  });
  server.Run();
  dispatcher.Stop();
  signal_waiter.join();
  return 0;
}

}  // namespace berth
