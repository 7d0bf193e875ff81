#!/usr/bin/env bash
# deps.sh - installs every package Shoal needs to build, test and run its
# demo on Debian 12. Idempotent: packages already present are left alone.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git python3 dpkg-dev
  libmosquitto-dev mosquitto mosquitto-clients
  libsqlite3-dev sqlite3
  libpq-dev postgresql
  libmbedtls-dev libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev
  libcmocka-dev
  curl iproute2 procps
  # tests: openssl makes throwaway CAs; test_media_upload_https gives the
  # agent its own /etc/ssl/certs with unshare (util-linux) and mount
  openssl ca-certificates util-linux mount
  chromium
  # scripts/fuzz.sh: libFuzzer targets (the CI smoke run and the long runs)
  clang
  # lint: scripts/check_format.sh (the formatter of Debian 12, clang-format 14)
  clang-format
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The mosquitto package starts a system broker on :1883; Shoal's tests and
# demo start their own brokers on free ports and do not need it.
