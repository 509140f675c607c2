// Process-wide SQLite settings, made once before SQLite initializes. Internal to the store layer.
#pragma once

#include <sqlite3.h>

#include <mutex>

namespace berth::sqlite {

// Call before anything that initializes SQLite (an open, a VFS lookup); once SQLite is
// initialized its settings cannot change and this does nothing.
//
// Memory statistics off: with them on, every allocation of every connection takes one global
// mutex, and this SQLite (Debian's, built without lookaside memory) allocates for nearly every
// value a statement binds or reads, on the writer and on every reader thread alike.
inline void ConfigureLibrary() {
  static std::once_flag once;
  std::call_once(once, [] {
    int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)rc;  // SQLITE_MISUSE: initialized already (by a test's own handle): the default stays
  });
}

}  // namespace berth::sqlite
