// RegistryClient: the read side of the OCI distribution API, over libcurl, for one repository
// of one registry: manifests by tag or digest, small blobs into memory, layer blobs streamed to
// disk.
//
// Everything fetched is verified against its digest before it is returned. A 401 answer is met
// with the challenge it carries (Bearer: a token from the realm, with Basic credentials when
// there are some; Basic: the credentials), once per request. A token realm is used only when it
// is https or on the registry's own host: credentials never travel to another host in clear.
// Transient failures (connection errors, 5xx, 429, a broken transfer) are retried with doubling
// backoff; a broken blob download resumes with a Range request. Errors: Unavailable (unreachable,
// 5xx after retries), PermissionDenied (401/403), NotFound (404, e.g. MANIFEST_UNKNOWN),
// InvalidArgument (digest or size mismatch), FailedPrecondition (unsupported manifest type, other
// 4xx); messages carry the registry's own. Thread-safe: layer downloads of one pull share one
// client.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/status.h"
#include "images/oci_image.h"
#include "images/registry_auth.h"
#include "images/registry_options.h"

namespace berth {

// Where a registry named in references (host[:port]) is spoken to.
struct RegistryEndpoint {
  std::string name;      // as in references: "docker.io", "127.0.0.1:5000"
  std::string base_url;  // "https://registry-1.docker.io", "http://127.0.0.1:5000"
};

// The endpoint for `registry`: plain HTTP when it is listed in `opts.insecure` or is a
// loopback address; Docker Hub is served by registry-1.docker.io.
RegistryEndpoint EndpointFor(std::string_view registry, const RegistryOptions& opts);

struct FetchedManifest {
  std::string media_type;  // from Content-Type, else from the document
  std::string digest;      // sha256 of the bytes, checked against what was asked for
  std::string body;
};

class RegistryClient {
 public:
  // Every request must end by `deadline` (the pull's): past it a request fails with
  // DeadlineExceeded and is not retried.
  RegistryClient(RegistryEndpoint endpoint, std::string repository, Credentials credentials,
                 const RegistryOptions& opts,
                 std::chrono::steady_clock::time_point deadline =
                     std::chrono::steady_clock::time_point::max());

  // The manifest or index `reference` (a tag or "sha256:...") names. A digest reference must
  // match the bytes; for a tag, so must the Docker-Content-Digest header when present.
  Result<FetchedManifest> GetManifest(std::string_view reference);

  // A small blob (a config), verified, at most `max_size` bytes.
  Result<std::string> GetBlob(const Descriptor& blob, int64_t max_size);

  // Streams a blob to `dest` (created or truncated), verifying size and digest; on a mismatch
  // `dest` is removed. `on_bytes` gets the running byte count; `on_retry` why it starts again.
  Status DownloadBlob(const Descriptor& blob, const std::filesystem::path& dest,
                      const std::function<void(int64_t)>& on_bytes,
                      const std::function<void(const std::string&)>& on_retry);

  const RegistryEndpoint& endpoint() const { return endpoint_; }

  // Internal: one HTTP exchange (defined in registry_client.cc).
  struct Transfer;
  struct Answer;

 private:
  Answer Perform(Transfer& t);
  Answer SendAuthorized(Transfer& t);
  Result<Answer> SendWithRetries(Transfer& t, const std::string& what);
  Status Authenticate(const Answer& challenge_answer);
  Status FetchToken(const AuthChallenge& challenge);
  Status ErrorOf(const Answer& a, const std::string& what) const;
  std::string BlobUrl(std::string_view digest) const;
  void Backoff(int attempt) const;

  RegistryEndpoint endpoint_;
  std::string repository_;
  Credentials credentials_;
  RegistryOptions opts_;
  std::chrono::steady_clock::time_point deadline_;
  Mutex mu_;
  std::string authorization_ GUARDED_BY(mu_);  // the Authorization header value, once known
};

}  // namespace berth
