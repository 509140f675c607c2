#include "store/wal_coalescing_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "store/sqlite_library.h"

namespace berth::sqlite {
namespace {

// A write that would make the gathered run longer than this goes out with the run before it.
constexpr size_t kMaxRun = size_t{4} << 20;

// What SQLite holds for an open file: ours first, then the base VFS's own file object.
struct File {
  sqlite3_file base;  // first: SQLite sees a File* as a sqlite3_file*
  sqlite3_file* real;
  bool wal;
  sqlite3_int64 run_start;  // the file offset of run[0]
  std::vector<char>* run;   // the writes gathered since the last sync (WAL files only)
  // Where the page of the commit frame whose header was written last begins (-1: none
  // pending). The run goes out once that page is in it: a commit that is not synced
  // (synchronous=NORMAL) still reaches the file system before SQLite publishes it.
  sqlite3_int64 commit_page_at;
  // Where the last commit frame's header was written (-1: none since the WAL began again). A
  // transaction that wrote one of its frames twice rewrites the checksums of its frames after
  // its commit frame, that header last: written there again once its page is out, it ends the
  // commit as well.
  sqlite3_int64 commit_header_at;
};

// A WAL frame header is 24 bytes; bytes 4..7 hold the database's size in pages after a commit,
// and are zero in every frame but a transaction's last.
constexpr int kFrameHeaderSize = 24;

bool IsCommitFrameHeader(const char* bytes, int n) {
  return n == kFrameHeaderSize && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods& Real(File* file) { return *file->real->pMethods; }

// Writes the gathered run, if any, in pieces of at most kMaxWrite: SQLite's unix VFS takes no
// more than 128 KiB - 1 in one write (it masks the length with 0x1ffff; a page is at most
// 64 KiB), so a longer write would be cut short and end as SQLITE_FULL.
int WriteRun(File* file) {
  if (file->run == nullptr || file->run->empty()) return SQLITE_OK;
  constexpr size_t kMaxWrite = size_t{120} << 10;
  const std::vector<char>& run = *file->run;
  int rc = SQLITE_OK;
  for (size_t done = 0; rc == SQLITE_OK && done < run.size(); done += kMaxWrite) {
    size_t n = std::min(kMaxWrite, run.size() - done);
    rc = Real(file).xWrite(file->real, run.data() + done, static_cast<int>(n),
                           file->run_start + static_cast<sqlite3_int64>(done));
  }
  file->run->clear();
  return rc;
}

// Gathers a WAL write into the run (see Write).
int Gather(File* file, const char* bytes, int n, sqlite3_int64 off) {
  std::vector<char>& run = *file->run;
  sqlite3_int64 end = file->run_start + static_cast<sqlite3_int64>(run.size());
  if (!run.empty() && off >= file->run_start && off + n <= end) {
    // A frame of this transaction written again: changed in place.
    std::memcpy(run.data() + (off - file->run_start), bytes, static_cast<size_t>(n));
    return SQLITE_OK;
  }
  if (!run.empty() && off == end && run.size() + static_cast<size_t>(n) <= kMaxRun) {
    run.insert(run.end(), bytes, bytes + n);
    return SQLITE_OK;
  }
  if (int rc = WriteRun(file); rc != SQLITE_OK) return rc;
  if (static_cast<size_t>(n) > kMaxRun) {
    return Real(file).xWrite(file->real, bytes, n, off);
  }
  file->run_start = off;
  run.assign(bytes, bytes + n);
  return SQLITE_OK;
}

int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  File* file = AsFile(f);
  if (!file->wal) return Real(file).xWrite(file->real, buf, n, off);
  const char* bytes = static_cast<const char*>(buf);
  if (off == 0) file->commit_header_at = -1;  // the WAL's header: it begins again
  if (int rc = Gather(file, bytes, n, off); rc != SQLITE_OK) return rc;
  if (IsCommitFrameHeader(bytes, n)) {
    if (off == file->commit_header_at && file->commit_page_at < 0) return WriteRun(file);
    file->commit_header_at = off;
    file->commit_page_at = off + kFrameHeaderSize;
  } else if (file->commit_page_at >= 0 && off + n > file->commit_page_at) {
    // The commit frame's page: the transaction is whole.
    file->commit_page_at = -1;
    return WriteRun(file);
  }
  return SQLITE_OK;
}

int Close(sqlite3_file* f) {
  File* file = AsFile(f);
  int written = WriteRun(file);
  int rc = Real(file).xClose(file->real);
  delete file->run;
  file->run = nullptr;
  return written != SQLITE_OK ? written : rc;
}

int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  File* file = AsFile(f);
  if (int rc = WriteRun(file); rc != SQLITE_OK) return rc;
  return Real(file).xRead(file->real, buf, n, off);
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  File* file = AsFile(f);
  if (int rc = WriteRun(file); rc != SQLITE_OK) return rc;
  file->commit_header_at = -1;
  file->commit_page_at = -1;
  return Real(file).xTruncate(file->real, size);
}

int Sync(sqlite3_file* f, int flags) {
  File* file = AsFile(f);
  if (int rc = WriteRun(file); rc != SQLITE_OK) return rc;
  return Real(file).xSync(file->real, flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  File* file = AsFile(f);
  if (int rc = WriteRun(file); rc != SQLITE_OK) return rc;
  return Real(file).xFileSize(file->real, size);
}

int FileControl(sqlite3_file* f, int op, void* arg) {
  File* file = AsFile(f);
  if (int rc = WriteRun(file); rc != SQLITE_OK) return rc;
  return Real(file).xFileControl(file->real, op, arg);
}

constexpr sqlite3_io_methods kIoMethods = {
    2,  // iVersion: shared memory (WAL), no memory-mapped reads
    &Close,
    &Read,
    &Write,
    &Truncate,
    &Sync,
    &FileSize,
    [](sqlite3_file* f, int lock) { return Real(AsFile(f)).xLock(AsFile(f)->real, lock); },
    [](sqlite3_file* f, int lock) { return Real(AsFile(f)).xUnlock(AsFile(f)->real, lock); },
    [](sqlite3_file* f, int* out) {
      return Real(AsFile(f)).xCheckReservedLock(AsFile(f)->real, out);
    },
    &FileControl,
    [](sqlite3_file* f) { return Real(AsFile(f)).xSectorSize(AsFile(f)->real); },
    [](sqlite3_file* f) { return Real(AsFile(f)).xDeviceCharacteristics(AsFile(f)->real); },
    [](sqlite3_file* f, int page, int size, int extend, void volatile** p) {
      return Real(AsFile(f)).xShmMap(AsFile(f)->real, page, size, extend, p);
    },
    [](sqlite3_file* f, int offset, int n, int flags) {
      return Real(AsFile(f)).xShmLock(AsFile(f)->real, offset, n, flags);
    },
    [](sqlite3_file* f) { Real(AsFile(f)).xShmBarrier(AsFile(f)->real); },
    [](sqlite3_file* f, int delete_flag) {
      return Real(AsFile(f)).xShmUnmap(AsFile(f)->real, delete_flag);
    },
    nullptr,  // xFetch
    nullptr,  // xUnfetch
};

sqlite3_vfs* Base(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  File* file = AsFile(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->run = nullptr;
  int rc = Base(vfs)->xOpen(Base(vfs), name, file->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    f->pMethods = nullptr;
    return rc;
  }
  file->wal = (flags & SQLITE_OPEN_WAL) != 0;
  file->run_start = 0;
  file->commit_page_at = -1;
  file->commit_header_at = -1;
  file->run = new std::vector<char>();
  f->pMethods = &kIoMethods;
  return SQLITE_OK;
}

// The VFS's other calls go to the base with the base's own pointer (a VFS may keep its state in
// pAppData, which here points at the base).
sqlite3_vfs MakeVfs(sqlite3_vfs* base, const std::string& name) {
  sqlite3_vfs vfs{};
  vfs.iVersion = std::min(base->iVersion, 2);
  vfs.szOsFile = static_cast<int>(sizeof(File)) + base->szOsFile;
  vfs.mxPathname = base->mxPathname;
  vfs.zName = name.c_str();
  vfs.pAppData = base;
  vfs.xOpen = &Open;
  vfs.xDelete = [](sqlite3_vfs* v, const char* path, int sync_dir) {
    return Base(v)->xDelete(Base(v), path, sync_dir);
  };
  vfs.xAccess = [](sqlite3_vfs* v, const char* path, int flags, int* out) {
    return Base(v)->xAccess(Base(v), path, flags, out);
  };
  vfs.xFullPathname = [](sqlite3_vfs* v, const char* path, int n, char* out) {
    return Base(v)->xFullPathname(Base(v), path, n, out);
  };
  vfs.xDlOpen = [](sqlite3_vfs* v, const char* path) { return Base(v)->xDlOpen(Base(v), path); };
  vfs.xDlError = [](sqlite3_vfs* v, int n, char* out) { Base(v)->xDlError(Base(v), n, out); };
  vfs.xDlSym = [](sqlite3_vfs* v, void* handle, const char* symbol) {
    return Base(v)->xDlSym(Base(v), handle, symbol);
  };
  vfs.xDlClose = [](sqlite3_vfs* v, void* handle) { Base(v)->xDlClose(Base(v), handle); };
  vfs.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
    return Base(v)->xRandomness(Base(v), n, out);
  };
  vfs.xSleep = [](sqlite3_vfs* v, int us) { return Base(v)->xSleep(Base(v), us); };
  vfs.xCurrentTime = [](sqlite3_vfs* v, double* out) {
    return Base(v)->xCurrentTime(Base(v), out);
  };
  vfs.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
    return Base(v)->xGetLastError(Base(v), n, out);
  };
  if (vfs.iVersion >= 2) {
    vfs.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
      return Base(v)->xCurrentTimeInt64(Base(v), out);
    };
  }
  return vfs;
}

struct Registered {
  std::string name;
  sqlite3_vfs vfs;
};

}  // namespace

Result<std::string> WalCoalescingVfs(std::string_view base_name) {
  static std::mutex mu;
  static auto* registered = new std::map<std::string, std::unique_ptr<Registered>, std::less<>>();
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = registered->find(base_name); it != registered->end()) return it->second->name;
  std::string base_str(base_name);
  ConfigureLibrary();  // before the lookup below initializes SQLite
  sqlite3_vfs* base = sqlite3_vfs_find(base_name.empty() ? nullptr : base_str.c_str());
  if (base == nullptr) return Status::InvalidArgument("sqlite: no VFS named '" + base_str + "'");
  auto entry = std::make_unique<Registered>();
  entry->name = "berth-wal-coalescing" + (base_name.empty() ? "" : "+" + base_str);
  entry->vfs = MakeVfs(base, entry->name);
  if (int rc = sqlite3_vfs_register(&entry->vfs, /*makeDflt=*/0); rc != SQLITE_OK) {
    return Status::Internal("sqlite: register the WAL-coalescing VFS: " +
                            std::string(sqlite3_errstr(rc)));
  }
  std::string name = entry->name;
  registered->emplace(base_str, std::move(entry));
  return name;
}

}  // namespace berth::sqlite
