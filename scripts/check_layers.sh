#!/usr/bin/env bash
# check_layers.sh - keeps the dependency rules of STYLE.md true:
#   - shoal_core (shared/ minus the platform and cli files named in
#     shared/CMakeLists.txt, and their headers in include/shoal/) includes
#     no platform header: no SQLite, MQTT,
#     HTTP server, curl, libpq or threads, and none of the platform modules;
#   - shared/ includes nothing from agent/ or hub/;
#   - agent/ and hub/ never include each other's headers.
# Prints every violation (file: header) and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

names() { # the list a CMake set(VAR a b c) in shared/CMakeLists.txt gives
  sed -n "s/^set($1 \(.*\))$/\1/p" shared/CMakeLists.txt
}
platform=$(names SHOAL_PLATFORM_NAMES)
cli=$(names SHOAL_CLI_NAMES)
[ -n "$platform" ] && [ -n "$cli" ] || { echo "check_layers: cannot read the layer lists"; exit 1; }

bad=0
violation() { echo "layer violation: $1 includes $2"; bad=1; }

forbidden_sys='sqlite3\.h|mosquitto\.h|microhttpd\.h|curl/[a-z_]+\.h|libpq-fe\.h|pthread\.h'
forbidden_mod=$(echo $platform $cli | sed 's/ /|/g')
core_rule="#include [<\"]($forbidden_sys|(shoal/)?($forbidden_mod)\.h)[>\"]"
# Canary: the rule must catch each kind of include it names (a pattern
# that can never match would let every violation through).
for canary in '#include <sqlite3.h>' '#include <mosquitto.h>' '#include <microhttpd.h>' \
  '#include <curl/curl.h>' '#include <libpq-fe.h>' '#include <pthread.h>' \
  '#include "shoal/db.h"' '#include "shoal/cli.h"'; do
  echo "$canary" | grep -qE "$core_rule" || { echo "check_layers: the core rule misses $canary"; exit 1; }
done
for f in shared/*.c shared/*.h include/shoal/*.h; do
  stem=$(basename "${f%.*}")
  if echo " $platform $cli " | grep -q " $stem "; then continue; fi
  while IFS= read -r inc; do
    violation "$f (shoal_core)" "$inc"
  done < <(grep -oE "$core_rule" "$f" || true)
done
for f in shared/*.[ch] include/shoal/*.h; do
  while IFS= read -r inc; do violation "$f" "$inc"; done \
    < <(grep -oE '#include "(agent_[a-z_]+|hub_[a-z_]+|store)\.h"' "$f" || true)
done
for f in agent/*.[ch]; do
  while IFS= read -r inc; do violation "$f" "$inc"; done \
    < <(grep -oE '#include "(hub_[a-z_]+|store)\.h"' "$f" || true)
done
for f in hub/*.[ch]; do
  while IFS= read -r inc; do violation "$f" "$inc"; done \
    < <(grep -oE '#include "agent_[a-z_]+\.h"' "$f" || true)
done
[ "$bad" -eq 0 ] && echo "check_layers: OK (core, platform, cli; agent and hub apart)"
exit "$bad"
