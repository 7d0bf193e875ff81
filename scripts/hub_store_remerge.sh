#!/usr/bin/env bash
# hub_store_remerge.sh - after a `git merge` that conflicts in hub C files
# because one side uses the sqlite3 API and the other the hub storage
# interface (hub/store.h): for each such file, merges the base and "theirs"
# CONVERTED by scripts/hub_store_convert.sh into "ours", so the mechanical
# conversion never conflicts; only real overlapping edits remain. Run it in
# the worktree with the merge in progress, from the side that has store.h.
# Then run scripts/hub_store_convert.sh over hub/*.c hub/*.h and the hub
# tests (new code that merged cleanly), and scripts/hub_migrations_pg.sh.
set -uo pipefail
cd "$(git rev-parse --show-toplevel)"
conv="$PWD/scripts/hub_store_convert.sh"
t=$(mktemp -d)
for f in $(git diff --name-only --diff-filter=U); do
  case "$f" in
    hub/store*) continue ;;
    hub/*.c | hub/*.h | tests/unit/test_hub*.c | tests/unit/test_settle.c | tests/unit/test_ticket.c) ;;
    *) echo "MANUAL: $f"; continue ;;
  esac
  git show ":1:$f" > "$t/base" 2>/dev/null || : > "$t/base"
  git show ":2:$f" > "$t/ours"
  git show ":3:$f" > "$t/theirs"
  "$conv" "$t/base" "$t/theirs" > /dev/null
  cp "$t/ours" "$f"
  if git merge-file -L ours -L base -L theirs "$f" "$t/base" "$t/theirs"; then
    git add "$f"; echo "resolved: $f"
  else
    echo "CONFLICT LEFT: $f"
  fi
done
rm -rf "$t"
