#!/usr/bin/env bash
# hub_store_convert.sh - converts hub C code from the sqlite3 API (and
# include/shoal/db.h helpers) to the hub storage interface (hub/store.h), in place.
# Usage: scripts/hub_store_convert.sh FILE...   (idempotent; review the diff:
# SQL that only SQLite speaks must still be rewritten by hand, see store.h)
set -euo pipefail
for f in "$@"; do
  case "$(basename "$f")" in store.c | store.h | store_*.c | store_*.h) continue ;; esac
  sed -i -E \
    -e 's/\bsqlite3_stmt\b/hub_stmt/g' \
    -e 's/\bsqlite3_int64\b/int64_t/g' \
    -e 's/\bsqlite3 \*/hub_store */g' \
    -e 's/\bsqlite3_(bind_[a-z0-9]+|column_[a-z0-9]+|step|reset|finalize|clear_bindings|changes|errmsg|bind_parameter_count)\b/hub_store_\1/g' \
    -e 's/\bshoal_db_open\(([^,]+), hub_migrations, hub_migrations_count, /hub_store_open(\1, /g' \
    -e 's/\bsqlite3_last_insert_rowid\b/hub_store_last_insert_id/g' \
    -e 's/\bsqlite3_db_filename\(([^,]+), "main"\)/hub_store_name(\1)/g' \
    -e 's/\bsqlite3_get_autocommit\(([^)]+)\)/!hub_store_in_tx(\1)/g' \
    -e 's/\bSQLITE_(ROW|DONE|OK|NULL|STATIC|TRANSIENT|INTEGER|TEXT|BLOB|FLOAT|CONSTRAINT|BUSY|FULL)\b/HUB_STORE_\1/g' \
    -e 's/\bshoal_db_(prepare|exec|begin|commit|rollback|query_int|fail|json_add_text|json_add_time|json_rows|close)\b/hub_store_\1/g' \
    -e 's/^#include "db.h"$/#include "store.h"/' \
    -e 's/^#include <sqlite3.h>$/#include "store.h"/' \
    "$f"
done
grep -nE 'sqlite3|SQLITE_|shoal_db_|OR REPLACE|IFNULL|rowid|sqlite_master|json_each|json_extract|julianday|strftime|PRAGMA' "$@" | grep -v '/store[._]' || true
for f in "$@"; do  # not in the store backends, which define the SQLite migrations' users
  case "$(basename "$f")" in store.c | store.h | store_*.c | store_*.h) continue ;; esac
  sed -i -E '/^extern const (struct shoal_migration hub_migrations\[\]|size_t hub_migrations_count);$/d' "$f"
done
