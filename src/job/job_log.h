// A job's log file as the monitor writes it, read from a position in the job's output stream.
//
// When a log grows past JobLogMaxBytes the monitor keeps its newest half and starts the file
// with one header line, "--- berth: N bytes of older output dropped ---", N counting every byte
// of output no longer in the file. Readers that follow a log address it by *stream offset*
// (bytes since the job's first output), not by file offset, so a follower neither repeats nor
// silently skips output when the file is trimmed under it: stream offset S lives at file offset
// header + (S - N). A job cannot forge the header: the monitor escapes job lines that start
// like berth's markers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "job/job_service.h"

namespace berth {

// The header line that starts a trimmed log.
std::string DroppedHeader(int64_t dropped_bytes);

// The dropped-bytes count and header length when `head` (the first bytes of a log file)
// starts with a DroppedHeader; nullopt otherwise.
struct DroppedPrefix {
  int64_t dropped = 0;      // N in the header
  size_t header_bytes = 0;  // length of the header line, newline included
};
std::optional<DroppedPrefix> ParseDroppedHeader(std::string_view head);

// At most `max_bytes` of the log at `path` from stream offset `offset`. When `offset` names
// output that was dropped, the chunk starts with the header line (which says how much was
// lost) followed by the oldest output kept. `next_offset` always grows (by the output bytes
// returned); a missing file is an empty chunk.
Result<LogChunk> ReadLogChunk(const std::filesystem::path& path, uint64_t offset, size_t max_bytes);

}  // namespace berth
