#!/usr/bin/env bash
# demo.sh - the README's demo command. Installs what it needs, builds, and
# runs the main job end to end on this machine. (Filled in by the sync issue:
# broker, hub and three agents, regional prices, an outage, offline sales.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
./build/agent/shoal-agent --version
./build/hub/shoal-hub --version
./build/agent/shoal-agent --help
