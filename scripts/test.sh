#!/usr/bin/env bash
# test.sh - the README's test command: installs dependencies, lints (normal
# pass: unchecked cJSON allocations, layers, format), configures and builds from scratch,
# checks `cmake --install` and the .deb packages (scripts/check_packages.sh),
# builds the fuzz targets with clang and runs each 5 s after its regression
# inputs, and runs the whole CTest suite.
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
# Lint, once, in the normal pass: every cJSON allocation checked (lists the
# unchecked calls), the layer rules of STYLE.md, the formatting.
if [ "$BUILD" = build ]; then
  python3 scripts/check_cjson_unchecked.py
  bash scripts/check_layers.sh
  bash scripts/check_format.sh
fi
cmake -S . -B "$BUILD" "${FLAGS[@]}"
cmake --build "$BUILD" -j "$(nproc)"
# Install rules and .deb packages (normal build only; ~10 s).
[ "$BUILD" = build ] && bash scripts/check_packages.sh "$BUILD"
# The libFuzzer targets (clang) must build, pass their regression inputs and
# survive a few seconds each: an API change cannot break one unnoticed.
[ "$BUILD" = build ] && FUZZ_SECONDS=${SHOAL_CI_FUZZ_SECONDS:-5} \
  FUZZ_REPORT=build-fuzz/ci-smoke.txt bash scripts/fuzz.sh
LABEL_ARGS=()
[ -n "${SHOAL_TEST_LABELS:-}" ] && LABEL_ARGS=(-L "$SHOAL_TEST_LABELS")
cd "$BUILD" && ctest --output-on-failure -j "$(nproc)" "${LABEL_ARGS[@]}"
