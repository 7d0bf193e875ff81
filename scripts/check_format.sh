#!/usr/bin/env bash
# check_format.sh - every C source and header in the repository is formatted
# by the repository's .clang-format (clang-format from Debian). Lists the
# files that are not and exits 1; `scripts/check_format.sh --fix` formats them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (scripts/deps.sh installs it)"; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  echo "check_format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not formatted (run scripts/check_format.sh --fix): %s\n' "${bad[@]}"
  exit 1
fi
echo "check_format: OK (${#files[@]} files, $(clang-format --version | grep -o 'version [0-9.]*'))"
