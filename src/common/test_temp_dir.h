// TestTempDir: a fresh directory for one test, under the temp directory ($TMPDIR, else /tmp),
// removed with everything in it when the test is done. Header-only; for tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace berth {

class TestTempDir {
 public:
  // `tag` starts the directory's name (e.g. "berth-topdir"); empty path() when none was made.
  explicit TestTempDir(std::string_view tag = "berth-test") {
    std::error_code ec;
    std::string tmpl =
        (std::filesystem::temp_directory_path(ec) / (std::string(tag) + "-XXXXXX")).string();
    if (!ec && ::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TestTempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TestTempDir(const TestTempDir&) = delete;
  TestTempDir& operator=(const TestTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace berth
