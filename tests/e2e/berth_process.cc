#include "tests/e2e/berth_process.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "tests/e2e/child_process.h"

namespace berth::e2e {
namespace {

size_t OnBody(char* d, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(d, s * n);
  return s * n;
}

size_t OnHeader(char* d, size_t s, size_t n, void* out) {
  std::string line(d, s * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = v;
  }
  return s * n;
}

}  // namespace

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t ContainerPid(const BerthProcess& berth, const std::string& job) {
  // The monitor adds the container's pid to its record as it settles in: just after the job's
  // first output is in its log, or at most 100 ms after the start.
  auto path = berth.data_dir() / "jobs" / job / "monitor.json";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    auto mon = nlohmann::json::parse(ReadAll(path), nullptr, false);
    pid_t pid = mon.is_discarded() ? 0 : mon.value("containerPid", 0);
    if (pid > 0 || mon.is_discarded() || std::chrono::steady_clock::now() > deadline) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

nlohmann::json Reply::Json() const { return nlohmann::json::parse(body, nullptr, false); }

Reply Http(const std::string& method, const std::string& url, const std::string& body,
           const std::vector<std::string>& headers) {
  Reply r;
  CURL* c = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  if (method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

BerthProcess::BerthProcess(const nlohmann::json& values) : BerthProcess(values, "", 1) {}

BerthProcess::BerthProcess(const nlohmann::json& values, const std::string& crash_at, int nth)
    : crash_at_(crash_at), crash_nth_(nth) {
  char tmpl[] = "/tmp/berth-e2e-XXXXXX";
  data_dir_ = mkdtemp(tmpl);
  out_file_ = data_dir_.string() + ".out";
  Launch(values);
}

BerthProcess::BerthProcess(const nlohmann::json& values, LaunchOptions launch)
    : launch_(std::move(launch)) {
  char tmpl[] = "/tmp/berth-e2e-XXXXXX";
  data_dir_ = mkdtemp(tmpl);
  out_file_ = data_dir_.string() + ".out";
  Launch(values);
}

bool BerthProcess::Restart(const nlohmann::json& values, const std::string& crash_at, int nth) {
  Stop(/*hard=*/true);
  url_.clear();
  crash_at_ = crash_at;
  crash_nth_ = nth;
  return Launch(values);
}

bool BerthProcess::Launch(const nlohmann::json& values) {
  auto settings = data_dir_.string() + ".settings.json";
  // Tests never reach outside hosts: names without a registry go to a loopback port that
  // refuses connections, unless the test's own values say otherwise (they win).
  nlohmann::json merged = {{"DefaultRegistry", "127.0.0.1:9"},
                           {"InsecureRegistries", "127.0.0.1:9"}};
  for (const auto& [name, value] : values.items()) merged[name] = value;
  std::ofstream(settings) << nlohmann::json{{"IsEncrypted", false}, {"Values", merged}}.dump();
  size_t seen = ReadAll(out_file_).size();  // a restart appends: look past the old output
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(out_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    const char* binary = BERTH_BINARY;
    if (!crash_at_.empty()) {
      binary = BERTH_FAULTY_BINARY;
      setenv("BERTH_CRASH_AT", crash_at_.c_str(), 1);
      setenv("BERTH_CRASH_NTH", std::to_string(crash_nth_).c_str(), 1);
    }
    std::vector<std::string> argv = launch_.prefix;
    for (const char* a : {binary, "serve", "--listen", launch_.listen.c_str(), "--data-dir",
                          data_dir_.c_str(), "--settings", settings.c_str()}) {
      argv.emplace_back(a);
    }
    argv.insert(argv.end(), launch_.args.begin(), launch_.args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = ReadAll(out_file_).substr(seen);
    // The daemon never prints a key: it names the file (or the FunctionKey setting pins it).
    size_t u = out.find("serving on ");
    if (u != std::string::npos &&
        (values.contains("FunctionKey") || out.find("master key in ", u) != std::string::npos)) {
      url_ = out.substr(u + 11, out.find_first_of(" \"\n", u + 11) - (u + 11));
      if (values.contains("FunctionKey")) {
        key_ = values["FunctionKey"].get<std::string>();
      } else {
        key_ = ReadAll(data_dir_ / "function-key");
        while (!key_.empty() && (key_.back() == '\n' || key_.back() == ' ')) key_.pop_back();
      }
      return true;
    }
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "berth serve did not come up:\n" << ReadAll(out_file_);
  return false;
}

bool BerthProcess::Exited(int* status) {
  if (pid_ <= 0) return true;
  if (waitpid(pid_, status, WNOHANG) != pid_) return false;
  pid_ = -1;
  return true;
}

BerthProcess::~BerthProcess() {
  Stop();
  Cleanup();
}

std::string BerthProcess::ServerOutput() const { return ReadAll(out_file_); }

void BerthProcess::Stop(bool hard) {
  if (pid_ <= 0) return;
  kill(pid_, hard ? SIGKILL : SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void BerthProcess::Cleanup() {
  // Monitors and containers a test left running (e.g. after a failure).
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator(data_dir_ / "jobs", ec)) {
    auto mon = nlohmann::json::parse(ReadAll(entry.path() / "monitor.json"), nullptr, false);
    if (mon.is_discarded() || std::filesystem::exists(entry.path() / "exit.json")) continue;
    pid_t container = mon.value("containerPid", 0);
    if (container > 0) kill(container, SIGKILL);  // never 0 or -1: that would hit us
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ProcessesMentioning(data_dir_.string()).empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (pid_t p : ProcessesMentioning(data_dir_.string())) kill(p, SIGKILL);
  // Containers whose jobs ended while no daemon ran are left for the daemon to delete when it
  // adopts them (their monitors leave them): deleted here, else their cgroups outlive the test.
  for (auto& runtime : std::filesystem::directory_iterator(data_dir_ / "runtime", ec)) {
    std::string name = runtime.path().filename().string();
    std::string binary = name == "runc" || name == "youki" ? name : "crun";
    for (auto& state : std::filesystem::directory_iterator(runtime.path(), ec)) {
      if (!state.is_directory(ec)) continue;
      std::string out;
      RunProgram({binary, "--root", runtime.path().string(), "delete", "--force",
                  state.path().filename().string()},
                 "", &out);
    }
  }
  for (const auto& m : MountsUnder(data_dir_)) umount2(m.c_str(), MNT_DETACH);
  std::filesystem::remove_all(data_dir_, ec);
  std::filesystem::remove(out_file_, ec);
  std::filesystem::remove(data_dir_.string() + ".settings.json", ec);
}

Reply BerthProcess::Submit(const std::string& spec) {
  return Http("POST", url_ + "/api/jobs", spec, {"x-functions-key: " + key_});
}

std::string BerthProcess::SubmitOk(const std::string& spec) {
  Reply r = Submit(spec);
  EXPECT_EQ(r.status, 202) << r.body;
  return r.Json().value("id", "");
}

Reply BerthProcess::Status(const std::string& id) { return Http("GET", url_ + "/api/jobs/" + id); }

Reply BerthProcess::WaitTerminal(const std::string& id, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Reply r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = Status(id);
    if (r.status != 202) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r;
}

int BerthProcess::RunCli(const std::vector<std::string>& args, std::string* out) {
  std::string cmd = std::string(BERTH_BINARY);
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> MountsUnder(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::istringstream in(ReadAll("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b, c, d, mount_point;
    f >> a >> b >> c >> d >> mount_point;
    if (mount_point.rfind(dir.string(), 0) == 0) out.push_back(mount_point);
  }
  return out;
}

std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  while (struct dirent* e = readdir(d)) {
    pid_t pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::string cmdline = ReadAll("/proc/" + std::string(e->d_name) + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find(needle) != std::string::npos) out.push_back(pid);
  }
  closedir(d);
  return out;
}

int64_t Rfc3339Millis(const std::string& t) {
  struct tm tm {};
  int ms = 0;
  sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
         &tm.tm_min, &tm.tm_sec, &ms);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

}  // namespace berth::e2e
