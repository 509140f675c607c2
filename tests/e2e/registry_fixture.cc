#include "tests/e2e/registry_fixture.h"

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>

#include "images/digest.h"
#include "images/registry_auth.h"
#include "tests/e2e/berth_process.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

la_ssize_t AppendToString(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A listening TCP socket on `address` (a loopback address), port 0; its port in `port`.
int ListenOnLoopback(const std::string& address, int& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << address;
  listen(fd, 64);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// Reads an HTTP request up to the end of its head.
std::string ReadRequestHead(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    request.append(buf, static_cast<size_t>(n));
  }
  return request;
}

fs::path TempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  return mkdtemp(tmpl.data());
}

std::string Base64Url(std::string_view data) {
  std::string s = Base64Encode(data);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

}  // namespace

int Shell(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  std::string text;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int status = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t CountEntries(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

std::string DigestOf(const std::string& bytes) { return "sha256:" + Sha256Hex(bytes); }

std::string MakeLayer(const std::vector<LayerEntry>& entries, LayerCompression compression) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                            &archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (compression == LayerCompression::kGzip) archive_write_add_filter_gzip(a.get());
  if (compression == LayerCompression::kZstd) archive_write_add_filter_zstd(a.get());
  std::string out;
  archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr);
  for (const LayerEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_filetype(entry, e.type == 'd'   ? AE_IFDIR
                                      : e.type == 'l' ? AE_IFLNK
                                                      : AE_IFREG);
    archive_entry_set_perm(entry, e.type == 'd' ? 0755 : e.mode);
    archive_entry_set_mtime(entry, 1000, 0);
    if (e.type == 'l') archive_entry_set_symlink(entry, e.target.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(e.type == 'f' ? e.content.size() : 0));
    archive_write_header(a.get(), entry);
    if (e.type == 'f' && !e.content.empty()) {
      archive_write_data(a.get(), e.content.data(), e.content.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a.get());
  return out;
}

std::string BusyboxLayer() {
  fs::path layout = fs::path(BERTH_BINARY).parent_path() / "images" / "busybox";
  Json index = Json::parse(ReadAll(layout / "index.json"));
  std::string manifest_digest = index["manifests"][0]["digest"];
  Json manifest = Json::parse(ReadAll(layout / "blobs" / "sha256" / manifest_digest.substr(7)));
  std::string layer = manifest["layers"][0]["digest"];
  return ReadAll(layout / "blobs" / "sha256" / layer.substr(7));
}

// --- TokenIssuer ---

TokenIssuer::TokenIssuer(fs::path dir, std::string user, std::string password)
    : key_(dir / "token.key"), cert_(dir / "token.pem"), user_(user), password_(password) {
  std::string out;
  int rc = Shell(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-token "
      "-keyout " +
          key_.string() + " -out " + cert_.string(),
      &out);
  EXPECT_EQ(rc, 0) << out;
  std::string pem = ReadAll(cert_), body;
  std::istringstream lines(pem);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("-----") == std::string::npos) body += line;
  }
  x5c_ = body;
  listen_fd_ = ListenOnLoopback("127.0.0.1", port_);
  thread_ = std::thread([this] { Serve(); });
}

TokenIssuer::~TokenIssuer() {
  stop_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  thread_.join();
}

std::string TokenIssuer::realm() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/token";
}

std::string TokenIssuer::Mint(const std::string& repository) const {
  Json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {x5c_}}};
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Json claims = {
      {"iss", "berth-test-issuer"},
      {"sub", user_},
      {"aud", "berth-test-registry"},
      {"exp", now + 600},
      {"nbf", now - 60},
      {"iat", now},
      {"jti", std::to_string(now) + "-" + std::to_string(random())},
      {"access", {{{"type", "repository"}, {"name", repository}, {"actions", {"pull", "push"}}}}}};
  std::string signing_input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  FILE* f = fopen(key_.c_str(), "r");
  EVP_PKEY* pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  fclose(f);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t sig_len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey);
  EVP_DigestSign(ctx, nullptr, &sig_len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string sig(sig_len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  sig.resize(sig_len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return signing_input + "." + Base64Url(sig);
}

std::string TokenIssuer::Handle(const std::string& request) {
  ++requests_;
  auto reply = [](int code, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(code) + (code == 200 ? " OK" : " Unauthorized") +
           "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  std::string want = "authorization: basic " + Base64Encode(user_ + ":" + password_);
  std::string lower = request;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string expected_lower = want;
  for (char& c : expected_lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find(expected_lower + "\r\n") == std::string::npos) {
    return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]})");
  }
  // scope=repository:<name>:pull
  size_t scope = request.find("scope=repository%3A");
  std::string repository;
  if (scope != std::string::npos) {
    size_t start = scope + 19;
    size_t end = request.find("%3A", start);
    repository = request.substr(start, end - start);
    size_t slash;
    while ((slash = repository.find("%2F")) != std::string::npos) {
      repository.replace(slash, 3, "/");
    }
  }
  return reply(200, Json{{"token", Mint(repository)}}.dump());
}

void TokenIssuer::Serve() {
  while (!stop_) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string answer = Handle(ReadRequestHead(fd));
    (void)!write(fd, answer.data(), answer.size());
    close(fd);
  }
}

// --- ScriptedServer ---

ScriptedServer::ScriptedServer(const std::string& address, Handler handler)
    : handler_(std::move(handler)), address_(address) {
  listen_fd_ = ListenOnLoopback(address, port_);
  thread_ = std::thread([this] { Serve(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  thread_.join();
  std::vector<std::thread> connections;
  {
    std::lock_guard<std::mutex> guard(mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
}

std::string ScriptedServer::host() const { return address_ + ":" + std::to_string(port_); }

std::vector<std::string> ScriptedServer::Requests() const {
  std::lock_guard<std::mutex> guard(mu_);
  return requests_;
}

void ScriptedServer::Serve() {
  while (!stop_) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> guard(mu_);
    connections_.emplace_back([this, fd] { Respond(fd); });
  }
}

void ScriptedServer::Respond(int fd) {
  std::string request = ReadRequestHead(fd);
  {
    std::lock_guard<std::mutex> guard(mu_);
    requests_.push_back(request);
  }
  size_t sp1 = request.find(' ');
  size_t sp2 = request.find(' ', sp1 + 1);
  std::string target = sp1 == std::string::npos ? "" : request.substr(sp1 + 1, sp2 - sp1 - 1);
  Answer a = handler_(target, request);
  std::string head = "HTTP/1.1 " + std::to_string(a.status) + " X\r\nConnection: close\r\n" +
                     "Content-Length: " + std::to_string(a.body.size()) + "\r\n";
  for (const std::string& h : a.headers) head += h + "\r\n";
  head += "\r\n";
  auto send_all = [&](const char* data, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  bool ok = send_all(head.data(), head.size());
  if (a.bytes_per_second <= 0) {
    if (ok) send_all(a.body.data(), a.body.size());
  } else {
    const size_t piece = std::max<size_t>(1, static_cast<size_t>(a.bytes_per_second) / 10);
    for (size_t at = 0; ok && !stop_ && at < a.body.size(); at += piece) {
      ok = send_all(a.body.data() + at, std::min(piece, a.body.size() - at));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  close(fd);
}

// --- LocalRegistry ---

LocalRegistry::LocalRegistry(RegistryAuth auth) : auth_(auth), dir_(TempDir("berth-registry")) {
  int port = FreePort();
  host_ = "127.0.0.1:" + std::to_string(port);
  std::string auth_yaml;
  if (auth.mode == RegistryAuth::Mode::kBasic) {
    std::string out;
    int rc = Shell("htpasswd -Bbn '" + auth.user + "' '" + auth.password + "' > " +
                       (dir_ / "htpasswd").string(),
                   &out);
    EXPECT_EQ(rc, 0) << out;
    auth_yaml =
        "auth:\n  htpasswd:\n    realm: berth-test\n    path: " + (dir_ / "htpasswd").string() +
        "\n";
  } else if (auth.mode == RegistryAuth::Mode::kToken) {
    auth_yaml = "auth:\n  token:\n    realm: " + auth.issuer->realm() +
                "\n    service: berth-test-registry\n    issuer: berth-test-issuer\n"
                "    rootcertbundle: " +
                auth.issuer->cert().string() + "\n";
  }
  std::ofstream(dir_ / "config.yml")
      << "version: 0.1\nlog:\n  level: info\n"
      << "storage:\n  filesystem:\n    rootdirectory: " << (dir_ / "storage").string()
      << "\n  delete:\n    enabled: true\nhttp:\n  addr: " << host_ << "\n"
      << auth_yaml;
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open((dir_ / "registry.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/usr/bin/docker-registry", "docker-registry", "serve", (dir_ / "config.yml").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    Reply r = Http("GET", "http://" + host_ + "/v2/");
    if (r.status == 200 || r.status == 401) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "docker-registry did not come up:\n" << Log();
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

LocalRegistry::~LocalRegistry() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string LocalRegistry::Log() const { return ReadAll(dir_ / "registry.log"); }

std::vector<std::string> LocalRegistry::AuthHeaders(const std::string& repository) const {
  if (auth_.mode == RegistryAuth::Mode::kBasic) {
    return {"Authorization: Basic " + Base64Encode(auth_.user + ":" + auth_.password)};
  }
  if (auth_.mode == RegistryAuth::Mode::kToken) {
    return {"Authorization: Bearer " + auth_.issuer->Mint(repository)};
  }
  return {};
}

bool LocalRegistry::PushBlob(const std::string& repository, const std::string& bytes) {
  std::vector<std::string> headers = AuthHeaders(repository);
  Reply start =
      Http("POST", "http://" + host_ + "/v2/" + repository + "/blobs/uploads/", "", headers);
  if (start.status != 202) {
    ADD_FAILURE() << "upload start: " << start.status << " " << start.body;
    return false;
  }
  std::string location = start.headers["location"];
  if (location.rfind("http", 0) != 0) location = "http://" + host_ + location;
  location += (location.find('?') == std::string::npos ? "?" : "&");
  location += "digest=" + DigestOf(bytes);
  headers.push_back("Content-Type: application/octet-stream");
  Reply put = Http("PUT", location, bytes, headers);
  if (put.status != 201) ADD_FAILURE() << "upload: " << put.status << " " << put.body;
  return put.status == 201;
}

bool LocalRegistry::PushManifest(const std::string& repository, const std::string& tag,
                                 const std::string& media_type, const std::string& bytes) {
  std::vector<std::string> headers = AuthHeaders(repository);
  headers.push_back("Content-Type: " + media_type);
  Reply put =
      Http("PUT", "http://" + host_ + "/v2/" + repository + "/manifests/" + tag, bytes, headers);
  if (put.status != 201) ADD_FAILURE() << "manifest: " << put.status << " " << put.body;
  return put.status == 201;
}

fs::path LocalRegistry::BlobDataPath(const std::string& digest) const {
  std::string hex = digest.substr(7);
  return dir_ / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex.substr(0, 2) /
         hex / "data";
}

int LocalRegistry::ManifestGets(const std::string& repository) const {
  std::string log = Log();
  std::string needle = "\"GET /v2/" + repository + "/manifests/";
  int n = 0;
  for (size_t pos = log.find(needle); pos != std::string::npos; pos = log.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// --- TestImage ---

TestImage& TestImage::Layer(std::string bytes, LayerCompression compression) {
  diff_ids_.push_back(DigestOf(bytes));  // only their number matters to berth
  layers_.push_back(std::move(bytes));
  compressions_.push_back(compression);
  return *this;
}

TestImage& TestImage::Config(Json run_config, std::string architecture) {
  run_config_ = std::move(run_config);
  architecture_ = std::move(architecture);
  return *this;
}

std::string TestImage::ConfigBytes() const {
  return Json{{"architecture", architecture_.empty() ? "amd64" : architecture_},
              {"os", "linux"},
              {"config", run_config_},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids_}}}}
      .dump();
}

std::pair<std::string, std::string> TestImage::Manifest() const {
  bool oci = format_ == Format::kOci;
  const char* layer_types_oci[] = {"application/vnd.oci.image.layer.v1.tar",
                                   "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "application/vnd.oci.image.layer.v1.tar+zstd"};
  std::string config = ConfigBytes();
  Json layers = Json::array();
  for (size_t i = 0; i < layers_.size(); ++i) {
    std::string type = oci ? layer_types_oci[static_cast<int>(compressions_[i])]
                           : "application/vnd.docker.image.rootfs.diff.tar.gzip";
    layers.push_back(
        {{"mediaType", type}, {"digest", DigestOf(layers_[i])}, {"size", layers_[i].size()}});
  }
  std::string media_type = oci ? "application/vnd.oci.image.manifest.v1+json"
                               : "application/vnd.docker.distribution.manifest.v2+json";
  Json manifest = {{"schemaVersion", 2},
                   {"mediaType", media_type},
                   {"config",
                    {{"mediaType", oci ? "application/vnd.oci.image.config.v1+json"
                                       : "application/vnd.docker.container.image.v1+json"},
                     {"digest", DigestOf(config)},
                     {"size", config.size()}}},
                   {"layers", layers}};
  return {manifest.dump(), media_type};
}

bool TestImage::PushBlobs(LocalRegistry& registry, const std::string& repository) const {
  for (const std::string& layer : layers_) {
    if (!registry.PushBlob(repository, layer)) return false;
  }
  return registry.PushBlob(repository, ConfigBytes());
}

std::string TestImage::Push(LocalRegistry& registry, const std::string& repository,
                            const std::string& tag) const {
  if (!PushBlobs(registry, repository)) return "";
  auto [manifest, media_type] = Manifest();
  if (!registry.PushManifest(repository, tag, media_type, manifest)) return "";
  return DigestOf(manifest);
}

std::string PushIndex(LocalRegistry& registry, const std::string& repository,
                      const std::string& tag,
                      const std::vector<std::pair<const TestImage*, std::string>>& images) {
  Json manifests = Json::array();
  for (const auto& [image, arch] : images) {
    if (!image->PushBlobs(registry, repository)) return "";
    auto [manifest, media_type] = image->Manifest();
    if (!registry.PushManifest(repository, DigestOf(manifest), media_type, manifest)) return "";
    manifests.push_back({{"mediaType", media_type},
                         {"digest", DigestOf(manifest)},
                         {"size", manifest.size()},
                         {"platform", {{"architecture", arch}, {"os", "linux"}}}});
  }
  std::string index = Json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests",
       manifests}}.dump();
  if (!registry.PushManifest(repository, tag, "application/vnd.oci.image.index.v1+json", index)) {
    return "";
  }
  return DigestOf(index);
}

}  // namespace berth::e2e
