#!/usr/bin/env bash
# check_packages.sh BUILD_DIR - proves the install rules and the Debian
# packages (run by scripts/test.sh; ~10 s):
#   1. `cmake --install` into a DESTDIR lays out binaries, systemd units
#      (naming the installed bindir), firmware profiles, examples and docs;
#   2. `cpack -G DEB` builds shoal-agent and shoal-hub .debs whose Depends
#      name the Debian runtime libraries;
#   3. both .debs are installed with dpkg into a scratch root (its own dpkg
#      database), the installed binaries run, and dpkg removes them cleanly.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
TMP=$(mktemp -d /tmp/shoal-pkg.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "check_packages: FAIL: $*" >&2; exit 1; }

# 1. DESTDIR layout
DESTDIR="$TMP/dest" cmake --install "$BUILD" --prefix /usr >/dev/null
D="$TMP/dest/usr"
for f in bin/shoal-agent bin/shoal-hub lib/systemd/system/shoal-agent.service \
         lib/systemd/system/shoal-hub.service share/shoal/firmware-profiles/pos-terminal.json \
         share/shoal-agent/examples/agent.json share/shoal-hub/examples/global.json \
         share/doc/shoal-agent/install.md share/doc/shoal-hub/protocol.md; do
  [ -e "$D/$f" ] || fail "cmake --install did not install $f"
done
[ -x "$D/bin/shoal-agent" ] && [ -x "$D/bin/shoal-hub" ] || fail "binaries not executable"
grep -q '^ExecStart=/usr/bin/shoal-hub run' "$D/lib/systemd/system/shoal-hub.service" ||
  fail "installed hub unit does not start /usr/bin/shoal-hub"
grep -q '^ExecStart=/usr/bin/shoal-agent run' "$D/lib/systemd/system/shoal-agent.service" ||
  fail "installed agent unit does not start /usr/bin/shoal-agent"
echo "ok   cmake --install: binaries, units (ExecStart /usr/bin), profiles, examples, docs"

# 2. packages
(cd "$BUILD" && rm -f shoal-*.deb && cpack -G DEB >/dev/null 2>"$TMP/cpack.err") ||
  { cat "$TMP/cpack.err" >&2; fail "cpack -G DEB"; }
for p in agent hub; do
  deb=$(ls "$BUILD"/shoal-"$p"_*.deb) || fail "no shoal-$p .deb"
  info=$(dpkg-deb --info "$deb")
  grep -q "Package: shoal-$p" <<<"$info" || fail "$deb: wrong package name"
  for lib in libc6 libmosquitto1 libsqlite3-0 libcjson1 libmbedcrypto7; do
    grep -q "Depends:.*$lib" <<<"$info" || fail "$deb: Depends lacks $lib"
  done
  dpkg-deb -c "$deb" >"$TMP/contents"
  grep -q "./usr/bin/shoal-$p\$" "$TMP/contents" || fail "$deb: no /usr/bin/shoal-$p"
  grep -q "./usr/lib/systemd/system/shoal-$p.service\$" "$TMP/contents" || fail "$deb: no unit"
  # Every Depends names a Debian package this (Debian) build host has installed.
  deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/[( ].*//; s/^ *//' | grep -v '^$')
  for dep in $deps; do
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'install ok installed' ||
      fail "$deb: Depends on $dep, which is not an installed Debian package here"
  done
done
echo "ok   cpack -G DEB: shoal-agent and shoal-hub, Depends = installed Debian runtime packages"

# 3. install into a scratch root with its own dpkg database, run, remove
R="$TMP/root"
mkdir -p "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/info"
touch "$R/var/lib/dpkg/status"
DPKG=(dpkg --instdir="$R" --admindir="$R/var/lib/dpkg" --force-depends --force-not-root
      --force-bad-path --log=/dev/null)
"${DPKG[@]}" -i "$BUILD"/shoal-agent_*.deb "$BUILD"/shoal-hub_*.deb >"$TMP/dpkg.log" 2>&1 ||
  fail "dpkg -i into $R"
for p in agent hub; do
  "${DPKG[@]}" -s "shoal-$p" | grep -q '^Status: install ok installed' ||
    fail "shoal-$p not installed"
  "$R/usr/bin/shoal-$p" --help >/dev/null || fail "installed shoal-$p does not run"
done
# The example basket is a till's sale (its time comes from the device clock);
# `price` quotes a basket at a stated time, so the check adds one.
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b["at"]="2026-07-04T15:00:00+08:00"; b.pop("payments",None); b.pop("cashier",None); json.dump(b,open(sys.argv[2],"w"))' \
  "$R/usr/share/shoal-hub/examples/basket-chengdu.json" "$TMP/basket.json" ||
  fail "installed example basket is not JSON"
"$R/usr/bin/shoal-agent" price --policy "$R/usr/share/shoal-hub/examples/global.json" \
  --policy "$R/usr/share/shoal-hub/examples/region-cn-sw.json" \
  --basket "$TMP/basket.json" >"$TMP/quote.json" ||
  fail "installed shoal-agent cannot price the installed example basket"
grep -q '"total":4380' "$TMP/quote.json" ||
  fail "installed shoal-agent priced the example basket wrongly: $(cat "$TMP/quote.json")"
"${DPKG[@]}" -r shoal-agent shoal-hub >/dev/null || fail "dpkg -r"
[ ! -e "$R/usr/bin/shoal-agent" ] && [ ! -e "$R/usr/bin/shoal-hub" ] || fail "dpkg -r left binaries"
echo "ok   dpkg -i into a scratch root: installed, binaries run and price the example, dpkg -r clean"
