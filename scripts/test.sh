#!/usr/bin/env bash
# test.sh - the README's test command: installs dependencies, configures and
# builds from scratch, checks `cmake --install` and the .deb packages
# (scripts/check_packages.sh), and runs the whole CTest suite.
#   scripts/test.sh            normal build in build/
#   scripts/test.sh --sanitize ASan+UBSan build in build-asan/
#   SHOAL_TEST_LABELS=unit scripts/test.sh   run only one label
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
BUILD=build
FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_BUILD_TESTS=ON)
if [ "${1:-}" = "--sanitize" ]; then
  BUILD=build-asan
  FLAGS=(-DCMAKE_BUILD_TYPE=Debug -DSHOAL_BUILD_TESTS=ON -DSHOAL_SANITIZE=ON)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
# Lint in the normal pass: the layer rules of STYLE.md and the formatting.
if [ "$BUILD" = build ]; then
  bash scripts/check_layers.sh
  bash scripts/check_format.sh
fi
cmake -S . -B "$BUILD" "${FLAGS[@]}"
cmake --build "$BUILD" -j "$(nproc)"
# Install rules and .deb packages (normal build only; ~10 s).
[ "$BUILD" = build ] && bash scripts/check_packages.sh "$BUILD"
LABEL_ARGS=()
[ -n "${SHOAL_TEST_LABELS:-}" ] && LABEL_ARGS=(-L "$SHOAL_TEST_LABELS")
cd "$BUILD" && ctest --output-on-failure -j "$(nproc)" "${LABEL_ARGS[@]}"
