// Settings: what an operator configures, read from a JSON settings file in the shape of a
// function app's local.settings.json ({"IsEncrypted": false, "Values": {...}}) and overridden
// by environment variables of the same names. Every field documents its default.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "images/registry_options.h"
#include "job/job_spec.h"

namespace berth {

struct Settings {
  std::string job_queue_name = "jobs";          // JobQueueName: the queue jobs go through
  std::string resource_group_name = "default";  // ResourceGroupName: the group jobs belong to
  // AzureWebJobsStorage: "" = the embedded store's queue; a Storage connection string
  // (UseDevelopmentStorage=true, AccountName=...;AccountKey=..., or SharedAccessSignature=...)
  // = the job queue lives in that account (azure/azure_queue_store.h).
  std::string azure_web_jobs_storage;
  // QueueMessageEncoding: how messages on an Azure queue carry a job id or spec: "base64" (what
  // the Functions runtime expects) or "none" (plain text).
  std::string queue_message_encoding = "base64";
  // StoreConnection: where jobs are stored. "" (the default) = embedded SQLite, berth.db in the
  // data dir; a libpq URI ("postgresql://user@host:5432/berth") or key=value conninfo string
  // ("host=db dbname=berth") = that PostgreSQL database, which several nodes may share.
  // Passwords the libpq ways: in the string, PGPASSWORD or PGPASSFILE.
  std::string store_connection;
  // Role: what this node does. "all" (the default) = everything in one process, as one machine
  // runs it; "api" = the HTTP API only (no dispatcher, no containers: needs no OCI runtime,
  // seccomp profile or images); "worker" = claims and runs jobs, and serves only GET /healthz
  // and GET /metrics on --listen. api and worker need a shared store (StoreConnection).
  // `berth serve --role` overrides it.
  std::string role = "all";
  // NodeId: this node's name among the nodes sharing the store (unique per node); 1 to 64 of
  // A-Z a-z 0-9 . _ -. Empty (the default) = the host name.
  std::string node_id;
  // NodeLeaseSeconds: a node that has not heartbeated for this long is lost: its claimed jobs
  // go to other workers, its running jobs end NodeLost (or run again under OnFailure). It
  // heartbeats every third of it. Default 30; at least 2.
  int node_lease_seconds = 30;
  // StorePoolSize: PostgreSQL connections a node keeps for reads and single writes (it also
  // keeps one per submitter, two, and one for LISTEN). Default 8; 1 to 64. Mind the server's
  // max_connections (100 by default) across every node.
  int store_pool_size = 8;
  std::string function_key;      // FunctionKey: pins the key; "" = generated, kept in data dir
  int max_concurrent_jobs = 16;  // MaxConcurrentJobs: jobs starting or running at once
  int max_dequeue_count = 5;     // MaxDequeueCount: start attempts before the poison queue
  int queue_lease_seconds = 60;  // QueueLeaseSeconds: visibility timeout of a claimed message
  int queue_retry_delay_ms = 0;  // QueueRetryDelayMs: a failed start is retried after this
  // Runtime: the OCI runtime, a name looked up in /usr/bin, /usr/local/bin, /usr/sbin, /bin
  // ("crun", "runc", "youki", "runsc") or an absolute path to any OCI runtime binary.
  std::string runtime = "crun";
  // StartBackoffMs / StartBackoffMaxMs: the pause after a failed start attempt doubles from
  // StartBackoffMs up to StartBackoffMaxMs (an unreachable registry backs off, Kubernetes'
  // ImagePullBackOff). Defaults 1000 and 60000.
  int64_t start_backoff_ms = 1000;
  int64_t start_backoff_max_ms = 60000;
  // JobStartTimeoutSeconds: how long a container start may take (image pull excluded) before it
  // is abandoned, its leftovers removed, and the start retried. Default 60.
  int job_start_timeout_seconds = 60;
  bool status_requires_key = false;  // StatusRequiresKey: GET routes need a function key too
  bool metrics_require_key = false;  // MetricsRequireKey: GET /metrics needs a function key
  int64_t job_pids_limit = 1024;     // JobPidsLimit: processes per job; 0 = unlimited
  std::string default_job_image = "busybox";  // DefaultJobImage: what an empty POST runs
  // DefaultJobCommand: a string (run with /bin/sh -c) or an array of strings.
  std::vector<std::string> default_job_command = {
      "/bin/sh", "-c", "for i in $(seq 1 30); do sleep 1; echo $i; done"};
  std::filesystem::path bundled_images_dir;  // BundledImagesDir: images a new data dir gets

  // Lifecycle.
  bool dispatch_paused = false;      // DispatchPaused: accept jobs but start none (benchmarks)
  int cancel_grace_seconds = 10;     // CancelGraceSeconds: SIGTERM, then SIGKILL after this
  double job_retention_hours = 72;   // JobRetentionHours: finished jobs are removed after this
  int max_retries = 3;               // MaxRetries: OnFailure re-runs after the first attempt
  int retry_backoff_ms = 1000;       // RetryBackoffMs: first OnFailure delay; doubles each time
  int retry_backoff_max_ms = 60000;  // RetryBackoffMaxMs: the delay never exceeds this

  // Isolation and limits.
  bool allow_host_network = false;       // AllowHostNetwork: jobs may ask for the host network
  int64_t job_log_max_bytes = 64 << 20;  // JobLogMaxBytes: a job's log keeps its newest part
  // LogFollowPollMs: how often a follower (`logs?follow=true`) looks at a log it cannot watch
  // (a job on another node); a log on this node wakes its followers as it grows.
  int log_follow_poll_ms = 25;
  // JobUpperDirMaxBytes: cap on what a job writes to its root filesystem (the overlay's upper
  // dir then lives on a tmpfs of this size, charged to the job's memory); 0 = no cap, on disk.
  int64_t job_upper_dir_max_bytes = 0;
  double default_job_cpu = 0;  // DefaultJobCpu: cores for jobs that give none; 0 = none
  // DefaultJobMemoryInGB: memory for jobs that give none (a cap, so one job cannot take the
  // host); 0 = no limit.
  double default_job_memory_gb = 2;
  // JobTmpSizeBytes: size of a job's /tmp tmpfs (charged to its memory); 0 = kernel default.
  int64_t job_tmp_size_bytes = int64_t{256} << 20;
  // AllowNoSeccomp: start even when the seccomp profile is missing (jobs then run without a
  // seccomp filter). Off: a missing profile stops start-up.
  bool allow_no_seccomp = false;
  // SeccompProfile: the containers/common seccomp profile jobs are filtered with.
  std::filesystem::path seccomp_profile = "/usr/share/containers/seccomp.json";
  std::string user_namespace_range =
      "100000:65536";  // UserNamespaceRange: host uid/gid start:count

  // Completion callbacks (a job spec's callbackUrl).
  int callback_max_attempts = 10;  // CallbackMaxAttempts: POSTs before a delivery is Failed
  // CallbackAllowedHosts: comma-separated host names ("*.example.com" for subdomains) callbacks
  // may go to; empty = any host (loopback only with AllowLoopbackCallbacks).
  std::string callback_allowed_hosts;
  bool allow_loopback_callbacks = false;  // AllowLoopbackCallbacks: 127.0.0.0/8, ::1, localhost
  int64_t callback_backoff_ms = 1000;     // CallbackBackoffMs: first retry delay; doubles
  int callback_timeout_seconds = 10;      // CallbackTimeoutSeconds: one POST's deadline

  // Registries.
  std::string default_registry = "docker.io";  // DefaultRegistry: for names without a registry
  std::string registry_mirrors;     // RegistryMirrors: comma-separated mirror hosts for Docker Hub
  std::string insecure_registries;  // InsecureRegistries: comma-separated host:port, plain HTTP
  std::string registry_auth_file;   // RegistryAuthFile: Docker config.json with "auths"
  std::string allowed_registries;   // AllowedRegistries: comma-separated; empty = any registry
  int64_t image_pull_max_bytes = int64_t{16} << 30;  // ImagePullMaxBytes: layers, each way
  int image_pull_timeout_seconds = 1800;  // ImagePullTimeoutSeconds: a whole pull's deadline

  // The daemon's log.
  std::string log_format = "text";  // LogFormat: "text" for people, "json" for log shippers

  // HTTPS on the main listener: TlsCertFile (PEM certificate, chain after it) and TlsKeyFile
  // (its PEM private key). Both empty (the default) = plain HTTP; one without the other is an
  // error. Keys travel in `?code=`: anything past loopback wants TLS.
  std::string tls_cert_file;
  std::string tls_key_file;

  // The ACI-compatible API (api/aci_api.h): ArmListen is its HTTPS listener's HOST:PORT
  // ("127.0.0.1:7443"; empty, the default, = off). ArmTlsCertFile/ArmTlsKeyFile are its
  // certificate and key; both empty = a self-signed pair made on first start in the data dir
  // (arm-tls.crt, arm-tls.key), its path logged so clients can trust it. One without the other
  // is an error.
  std::string arm_listen;
  std::string arm_tls_cert_file;
  std::string arm_tls_key_file;

  // The job an empty POST runs.
  JobSpec DefaultJob() const;

  // The registry settings as the image store takes them.
  RegistryOptions Registries() const;
};

// Checks Role (all, api or worker; api and worker need StoreConnection): for LoadSettings, and
// again after `berth serve --role` overrode it.
Status ValidateRole(const Settings& s);

// NodeId, or the host name when it is empty.
std::string EffectiveNodeId(const Settings& s);

// Names of every setting, for --help and error messages.
const std::vector<std::string>& SettingNames();

// Each setting berth uses with its default as JSON text ("16", "\"jobs\"", "[...]"), in the
// table's order: what `berth help settings` prints.
std::vector<std::pair<std::string, std::string>> SettingDefaults();

// Reads `file` (when given) then applies environment overrides through `getenv`. Unknown
// setting names, malformed values and malformed JSON are InvalidArgument naming the setting
// (malformed JSON: the file's line and column).
Result<Settings> LoadSettings(const std::optional<std::filesystem::path>& file,
                              const std::function<const char*(const char*)>& getenv);

}  // namespace berth
