// KeyRows: the API keys as rows of the store's `keys` table, so that every node sharing a store
// sees the same keys (issue 11). A row is (scope, name, value): scope "" holds the host keys and
// the master key (named "_master"), any other scope is a function's name. The key model (what a
// key grants, which names are valid) lives above, in api/keys.h; daemon/store_key_store.h builds
// the KeyStore on these rows. SqliteStore (sqlite_keys.cc) and PostgresStore (postgres_keys.cc)
// implement it.
//
// Every write is committed before it returns. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace berth {

struct KeyRow {
  std::string scope;  // "" = host (and "_master"), else the function
  std::string name;
  std::string value;
  TimePoint updated_at;
};

class KeyRows {
 public:
  virtual ~KeyRows() = default;

  // Every key row, by scope, then name.
  virtual Result<std::vector<KeyRow>> ListKeyRows() = 0;

  // Creates or replaces row (scope, name). Returns true when it created the row.
  virtual Result<bool> PutKeyRow(std::string_view scope, std::string_view name,
                                 std::string_view value) = 0;

  // Creates row (scope, name) with `value` only when there is none, and returns the value the
  // row holds afterwards: `value`, or the one already there. A compare-and-set: of nodes that
  // race to create the same row, the first commit wins and every one of them learns its value.
  virtual Result<std::string> InsertKeyRowIfAbsent(std::string_view scope, std::string_view name,
                                                   std::string_view value) = 0;

  // Removes row (scope, name). NotFound when there is none.
  virtual Status DeleteKeyRow(std::string_view scope, std::string_view name) = 0;
};

}  // namespace berth
