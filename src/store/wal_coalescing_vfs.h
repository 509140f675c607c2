// A SQLite VFS over another one that gathers what a connection writes to its WAL between two
// commits and hands it to the file system in one write at the commit.
//
// SQLite writes each WAL frame as two writes (its 24-byte header, then the page), so a commit of
// n pages made 2n pwrite calls, each paying the system call and the page cache's per-write work
// for pages it then shares with the next. The frames of a commit are contiguous: gathered, they
// are one pwrite of the whole run.
//
// Nothing becomes durable or visible later than before: the gathered frames reach the file
// system when the write of a commit frame's page completes them (SQLite publishes a commit, the
// WAL index's header, only after that), and at every sync. So a commit made with
// synchronous=NORMAL (no sync of its own) is in the file system, visible to other connections
// and safe from a crash of the process, when SQLite says it is done, as without this VFS.
// Any other use of the file (a read, its size, a truncation, a file control, its close) writes
// the gathered frames first; an error of that write is the error of that call.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace berth::sqlite {

// Registers (once per base, process-wide) the coalescing VFS over the VFS named `base` (empty:
// SQLite's default at the first call) and returns its name, for sqlite3_open_v2.
Result<std::string> WalCoalescingVfs(std::string_view base);

}  // namespace berth::sqlite
