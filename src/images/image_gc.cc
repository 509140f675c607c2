#include "images/image_gc.h"

#include <string>
#include <system_error>

#include "common/files.h"
#include "job/job_files.h"

namespace berth {

std::vector<std::filesystem::path> LayersInUseByJobs(const std::filesystem::path& jobs_root) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(jobs_root, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    JobFiles files(jobs_root, it->path().filename().string());
    std::error_code exists_ec;
    if (std::filesystem::exists(files.exit(), exists_ec)) continue;
    Result<std::string> lower = ReadFile(files.lower());
    if (!lower.ok()) continue;
    size_t start = 0;
    while (start < lower->size()) {
      size_t colon = lower->find(':', start);
      if (colon == std::string::npos) colon = lower->size();
      if (colon > start) out.emplace_back(lower->substr(start, colon - start));
      start = colon + 1;
    }
  }
  return out;
}

}  // namespace berth
