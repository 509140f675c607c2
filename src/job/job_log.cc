#include "job/job_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include "common/unique_fd.h"

namespace berth {
namespace {

constexpr std::string_view kHeadStart = "--- berth: ";
constexpr std::string_view kHeadEnd = " bytes of older output dropped ---\n";
constexpr size_t kHeadMax = 96;  // longer than any header line

// pread until `want` bytes or the end of the file.
Result<std::string> ReadAt(int fd, uint64_t at, size_t want) {
  std::string out(want, '\0');
  size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd, out.data() + got, want - got, static_cast<off_t>(at + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read job log", errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace

std::string DroppedHeader(int64_t dropped_bytes) {
  return std::string(kHeadStart) + std::to_string(dropped_bytes) + std::string(kHeadEnd);
}

std::optional<DroppedPrefix> ParseDroppedHeader(std::string_view head) {
  if (head.substr(0, kHeadStart.size()) != kHeadStart) return std::nullopt;
  std::string_view rest = head.substr(kHeadStart.size());
  int64_t n = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc() || n < 0) return std::nullopt;
  rest = rest.substr(static_cast<size_t>(end - rest.data()));
  if (rest.substr(0, kHeadEnd.size()) != kHeadEnd) return std::nullopt;
  return DroppedPrefix{n, head.size() - rest.size() + kHeadEnd.size()};
}

Result<LogChunk> ReadLogChunk(const std::filesystem::path& path, uint64_t offset,
                              size_t max_bytes) {
  // One open file: its header and its body are from the same generation of the log even when
  // the monitor trims (renames a new file over it) meanwhile.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return LogChunk{"", offset};
    return ErrnoStatus("open job log", errno);
  }
  ASSIGN_OR_RETURN(std::string head, ReadAt(fd.get(), 0, kHeadMax));
  DroppedPrefix prefix = ParseDroppedHeader(head).value_or(DroppedPrefix{});
  auto dropped = static_cast<uint64_t>(prefix.dropped);
  LogChunk chunk;
  if (offset < dropped) {
    // Output the reader has not seen is gone: say so with the header, then go on from the
    // oldest output kept.
    std::string header = head.substr(0, prefix.header_bytes);
    size_t room = max_bytes > header.size() ? max_bytes - header.size() : 0;
    ASSIGN_OR_RETURN(std::string body, ReadAt(fd.get(), prefix.header_bytes, room));
    chunk.next_offset = dropped + body.size();
    chunk.text = header + body;
    return chunk;
  }
  ASSIGN_OR_RETURN(chunk.text,
                   ReadAt(fd.get(), prefix.header_bytes + (offset - dropped), max_bytes));
  chunk.next_offset = offset + chunk.text.size();
  return chunk;
}

}  // namespace berth
