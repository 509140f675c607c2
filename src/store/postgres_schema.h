// The PostgreSQL schema of PostgresStore and its migrations: numbered SQL scripts, run in
// order at open under an advisory lock so that nodes starting together migrate once.
#pragma once

#include "common/status.h"
#include "store/pg_connection.h"

namespace berth {

// The schema version this build writes; a database at a higher one is refused.
inline constexpr int kPostgresSchemaVersion = 2;

// The version recorded in the database (0 when berth never ran there).
Result<int> ReadPostgresSchemaVersion(PgConnection& conn);

// Brings the database to kPostgresSchemaVersion, in one transaction. FailedPrecondition, naming
// both versions, when it is newer (a newer berth migrated it: this node must be upgraded).
Status MigratePostgresSchema(PgConnection& conn);

}  // namespace berth
