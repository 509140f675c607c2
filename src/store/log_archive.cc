#include "store/log_archive.h"

#include <algorithm>

#include "job/job_log.h"

namespace berth::log_archive {
namespace {

// The stored bytes [from, from + n) as far as they are contiguous from `from`.
Result<std::string> Slice(uint64_t from, uint64_t n, const RowReader& read) {
  std::string out;
  if (n == 0) return out;
  ASSIGN_OR_RETURN(Rows rows, read(from, n));
  uint64_t at = from;
  for (const auto& [offset, data] : rows) {
    uint64_t row_end = offset + data.size();
    if (offset > at) break;  // a hole: the reader's snapshot never shows one, stop short anyway
    if (row_end <= at) continue;
    uint64_t skip = at - offset;
    uint64_t take = std::min<uint64_t>(row_end - at, from + n - at);
    out.append(data, skip, take);
    at += take;
    if (at == from + n) break;
  }
  return out;
}

}  // namespace

AppendPlan PlanAppend(const std::optional<StoredRange>& stored, uint64_t last_offset,
                      uint64_t last_size, uint64_t offset, std::string_view data,
                      uint64_t keep_bytes) {
  AppendPlan plan;
  uint64_t end = stored ? stored->end : 0;
  if (data.empty() || (stored && offset + data.size() <= end)) {
    plan.nothing = true;
    return plan;
  }
  if (stored && offset < end) {
    data.remove_prefix(end - offset);
    offset = end;
  }
  // Output between the stored end and this chunk is gone from the node too: what is stored
  // is older than a hole, and a log is one run of output after its DroppedHeader.
  plan.drop_all = stored && offset > end;
  if (keep_bytes > 0 && data.size() > keep_bytes) {
    uint64_t cut = data.size() - keep_bytes;
    data.remove_prefix(cut);
    offset += cut;
    plan.drop_all = stored.has_value();
  }
  uint64_t grow_limit = std::min<uint64_t>(kCoalesceBytes, keep_bytes / 4);
  plan.grow_last = stored && !plan.drop_all && last_offset + last_size == offset &&
                   last_size + data.size() <= grow_limit;
  plan.offset = offset;
  plan.data = data;
  uint64_t new_end = offset + data.size();
  plan.drop_below = keep_bytes > 0 && new_end > keep_bytes ? new_end - keep_bytes : 0;
  return plan;
}

Result<LogChunk> ReadFrom(const std::optional<StoredRange>& stored, uint64_t offset,
                          size_t max_bytes, const RowReader& read) {
  if (!stored || (offset >= stored->end && offset >= stored->start)) return LogChunk{"", offset};
  uint64_t start = stored->start, end = stored->end;
  if (offset < start) {
    // Output the reader has not seen is gone: say so, then go on from the oldest output kept.
    std::string header = DroppedHeader(static_cast<int64_t>(start));
    uint64_t room = max_bytes > header.size() ? max_bytes - header.size() : 0;
    ASSIGN_OR_RETURN(std::string body, Slice(start, std::min(room, end - start), read));
    uint64_t next = start + body.size();
    return LogChunk{header + body, next};
  }
  ASSIGN_OR_RETURN(std::string body,
                   Slice(offset, std::min<uint64_t>(max_bytes, end - offset), read));
  uint64_t next = offset + body.size();
  return LogChunk{std::move(body), next};
}

Result<JobLog> ReadTail(const std::optional<StoredRange>& stored, size_t max_bytes,
                        const RowReader& read) {
  if (!stored) return JobLog{};
  uint64_t start = stored->start, end = stored->end, kept = end - start;
  std::string header = start > 0 ? DroppedHeader(static_cast<int64_t>(start)) : "";
  if (header.size() + kept <= max_bytes) {
    ASSIGN_OR_RETURN(std::string body, Slice(start, kept, read));
    return JobLog{header + body, start > 0};
  }
  if (kept >= max_bytes) {
    ASSIGN_OR_RETURN(std::string body, Slice(end - max_bytes, max_bytes, read));
    return JobLog{std::move(body), true};
  }
  ASSIGN_OR_RETURN(std::string body, Slice(start, kept, read));
  return JobLog{header.substr(header.size() - (max_bytes - kept)) + body, true};
}

}  // namespace berth::log_archive
