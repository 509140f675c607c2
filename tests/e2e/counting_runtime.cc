#include "tests/e2e/counting_runtime.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>

namespace berth::e2e {

CountingRuntime::CountingRuntime(bool hang_first_create) {
  char tmpl[] = "/tmp/berth-runtime-XXXXXX";
  dir_ = mkdtemp(tmpl);
  script_ = dir_ / "counting-crun";
  log_ = dir_ / "creates.log";
  deletes_ = dir_ / "deletes.log";
  std::ofstream out(script_);
  // The verb is the first argument that names one; the container name is the last argument.
  out << "#!/bin/sh\n"
         "verb=\n"
         "for a in \"$@\"; do\n"
         "  case \"$a\" in create|start|delete|kill|state|run|exec)\n"
         "    [ -z \"$verb\" ] && verb=$a;;\n"
         "  esac\n"
         "  last=$a\n"
         "done\n"
         "if [ \"$verb\" = create ] || [ \"$verb\" = run ]; then\n";
  if (hang_first_create) {
    out << "  if mkdir \"" << dir_.string()
        << "/hung-$last\" 2>/dev/null; then sleep 30; exit 1; fi\n";
  }
  out << "  echo \"$last\" >> \"" << log_.string()
      << "\"\n"
         "fi\n"
         "[ \"$verb\" = delete ] && echo \"$last\" >> \""
      << deletes_.string()
      << "\"\n"
         "exec /usr/bin/crun \"$@\"\n";
  out.close();
  std::filesystem::permissions(script_, std::filesystem::perms::owner_all |
                                            std::filesystem::perms::group_read |
                                            std::filesystem::perms::group_exec);
}

CountingRuntime::~CountingRuntime() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::map<std::string, int> CountingRuntime::Creates() const {
  std::map<std::string, int> n;
  std::ifstream in(log_);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) ++n[line];
  }
  return n;
}

std::vector<std::string> CountingRuntime::Deletes() const {
  std::vector<std::string> calls;
  std::ifstream in(deletes_);
  std::string line;
  while (std::getline(in, line)) calls.push_back(line);
  return calls;
}

int CountingRuntime::CreatesOf(const std::string& id) const {
  auto all = Creates();
  auto it = all.find(id);
  return it == all.end() ? 0 : it->second;
}

}  // namespace berth::e2e
