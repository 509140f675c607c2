// Test fixtures for image pulls: Debian's docker-registry on a loopback port (open, htpasswd
// Basic auth, or token auth against TokenIssuer), a small Bearer token issuer written for the
// tests, and TestImage, which builds OCI or Docker schema 2 images (layers made with
// libarchive) and pushes them with the distribution API's upload calls.
// Everything binds 127.0.0.1 only. Needs /usr/bin/docker-registry, htpasswd and openssl.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace berth::e2e {

// One entry of a test layer.
struct LayerEntry {
  LayerEntry(std::string p, char t = 'f', std::string c = "", std::string l = "")
      : path(std::move(p)), type(t), content(std::move(c)), target(std::move(l)) {}
  std::string path;
  char type = 'f';  // 'f' file, 'd' dir, 'l' symlink
  std::string content;
  std::string target;  // symlink target
  int mode = 0644;
};

enum class LayerCompression { kNone, kGzip, kZstd };

// A tar layer of `entries`, compressed as asked.
std::string MakeLayer(const std::vector<LayerEntry>& entries, LayerCompression compression);

// The bundled busybox image's (gzip) layer: a base that runs /bin/sh.
std::string BusyboxLayer();

std::string DigestOf(const std::string& bytes);

// A Bearer token issuer on 127.0.0.1: GET /token?service=&scope= with Basic user:pass answers
// {"token": <RS256 JWT with an x5c header>} granting pull and push on the scope's repository.
class TokenIssuer {
 public:
  TokenIssuer(std::filesystem::path dir, std::string user, std::string password);
  ~TokenIssuer();
  std::string realm() const;
  const std::filesystem::path& cert() const { return cert_; }
  // A token for `repository` with pull and push, as the issuer would hand out.
  std::string Mint(const std::string& repository) const;
  int requests() const { return requests_.load(); }

 private:
  void Serve();
  std::string Handle(const std::string& request);

  std::filesystem::path key_, cert_;
  std::string user_, password_;
  std::string x5c_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// A scripted HTTP/1.1 server on a loopback address ("127.0.0.1", or "127.0.0.2" to play
// another host), port 0, one request per connection: `handler` answers each; a body may be
// trickled. For what docker-registry cannot be made to do (foreign token realms, slow blobs).
class ScriptedServer {
 public:
  struct Answer {
    int status = 200;
    std::vector<std::string> headers;  // "Name: value"
    std::string body;
    int bytes_per_second = 0;  // 0: all at once; else sent in small pieces at this rate
  };
  // Gets the request line's target ("/v2/app/manifests/v1") and the whole request head.
  using Handler = std::function<Answer(const std::string& target, const std::string& request)>;

  ScriptedServer(const std::string& address, Handler handler);
  ~ScriptedServer();
  // "127.0.0.2:PORT".
  std::string host() const;
  // The request heads received so far.
  std::vector<std::string> Requests() const;

 private:
  void Serve();
  void Respond(int fd);

  Handler handler_;
  std::string address_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;     // GUARDED_BY(mu_)
  std::vector<std::thread> connections_;  // GUARDED_BY(mu_)
  std::thread thread_;
};

struct RegistryAuth {
  enum class Mode { kNone, kBasic, kToken } mode = Mode::kNone;
  std::string user, password;           // kBasic
  const TokenIssuer* issuer = nullptr;  // kToken
};

class LocalRegistry {
 public:
  explicit LocalRegistry(RegistryAuth auth = {});
  ~LocalRegistry();

  bool ok() const { return pid_ > 0; }
  // "127.0.0.1:PORT", the registry part of references.
  const std::string& host() const { return host_; }
  // Uploads a blob; false on failure.
  bool PushBlob(const std::string& repository, const std::string& bytes);
  // Puts a manifest under `tag` (or a digest); false on failure.
  bool PushManifest(const std::string& repository, const std::string& tag,
                    const std::string& media_type, const std::string& bytes);
  // Where the registry keeps a blob's bytes (to corrupt it behind its back).
  std::filesystem::path BlobDataPath(const std::string& digest) const;
  // How many GET requests for manifests of `repository` the access log shows.
  int ManifestGets(const std::string& repository) const;
  std::string Log() const;

 private:
  std::vector<std::string> AuthHeaders(const std::string& repository) const;

  RegistryAuth auth_;
  std::filesystem::path dir_;
  std::string host_;
  pid_t pid_ = -1;
};

// An image under construction: layers, a config, pushed as an OCI or Docker schema 2 manifest.
class TestImage {
 public:
  enum class Format { kOci, kDocker };
  explicit TestImage(Format format = Format::kOci) : format_(format) {}

  TestImage& Layer(std::string bytes, LayerCompression compression);
  // The config's "config" object (Entrypoint, Cmd, Env, WorkingDir, User).
  TestImage& Config(nlohmann::json run_config, std::string architecture = "");

  // Pushes blobs and the manifest under `tag`; returns the manifest digest ("" on failure).
  std::string Push(LocalRegistry& registry, const std::string& repository,
                   const std::string& tag) const;
  // The manifest and its media type, for building indexes.
  std::pair<std::string, std::string> Manifest() const;
  bool PushBlobs(LocalRegistry& registry, const std::string& repository) const;
  const std::vector<std::string>& layers() const { return layers_; }

 private:
  std::string ConfigBytes() const;

  Format format_;
  std::vector<std::string> layers_;
  std::vector<LayerCompression> compressions_;
  std::vector<std::string> diff_ids_;
  nlohmann::json run_config_ = nlohmann::json::object();
  std::string architecture_;
};

// Pushes an OCI index of `images` (each for its architecture) under `tag`; returns its digest.
std::string PushIndex(LocalRegistry& registry, const std::string& repository,
                      const std::string& tag,
                      const std::vector<std::pair<const TestImage*, std::string>>& images);

// Runs a shell command; returns its exit code, output in `out` when given.
int Shell(const std::string& command, std::string* out = nullptr);

// How many entries a directory has (0 when absent).
size_t CountEntries(const std::filesystem::path& dir);

}  // namespace berth::e2e
