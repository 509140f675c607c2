// File helpers that return Status: crash-safe publishing, whole-file and tail reads.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace berth {

// Publishes `content` at `path` crash-safely: writes a temp file beside it, fsyncs it,
// renames it over `path`, and fsyncs the directory. Readers see the old or the new file whole.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content,
                       mode_t mode = 0644);

// WriteFileAtomic without the fsyncs: readers still see the old or the new file whole, but
// after a machine crash the file may be missing. For files rebuilt whenever they are needed.
Status WriteFileReplace(const std::filesystem::path& path, std::string_view content,
                        mode_t mode = 0644);

// Reads a whole file. NotFound when it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path);

// Reads at most the last `max_bytes` of a file; `truncated` tells whether earlier bytes exist.
struct FileTail {
  std::string data;
  bool truncated = false;
};
Result<FileTail> ReadFileTail(const std::filesystem::path& path, size_t max_bytes);

// mkdir -p with `mode` for the directories it creates.
Status MakeDirs(const std::filesystem::path& path, mode_t mode = 0755);

// fsyncs a directory so that entries created or renamed in it survive a crash.
Status SyncDir(const std::filesystem::path& dir);

}  // namespace berth
