#!/usr/bin/env bash
# fuzz.sh - builds Shoal's libFuzzer targets (tests/fuzz/fuzz_*.c) with clang,
# ASan and UBSan in build-fuzz/, seeds a corpus per target from the
# conformance vectors, firmware profiles and hand-written examples, and runs
# each target for a bounded time. Prints executions and time per target.
#   scripts/fuzz.sh                  every target, 60 s each
#   FUZZ_SECONDS=10 scripts/fuzz.sh  shorter runs
#   scripts/fuzz.sh event basket     only these targets
# Exit 1 if any target crashed; the reproducer is in build-fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${FUZZ_SECONDS:-60}
BUILD=build-fuzz

if ! command -v clang >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "fuzz: installing clang"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang
fi
bash scripts/deps.sh >/dev/null

CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSHOAL_FUZZ=ON -DSHOAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j 2 >/dev/null

# ---- seed corpora (idempotent: files are named by content) ----------------
python3 - "$ROOT" "$BUILD/corpus" <<'PY'
import glob, hashlib, json, os, sys
root, out = sys.argv[1], sys.argv[2]

def seed(target, data):
    if isinstance(data, (dict, list)):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

vec = lambda kind: [json.load(open(p)) for p in sorted(glob.glob(os.path.join(root, "tests/conformance", kind, "*.json")))]
pricing, forms = vec("pricing"), vec("forms")
policies = [p for v in pricing + forms for p in v["policies"]]
for p in policies:
    seed("policy_doc", p)
    seed("policy_envelope", {"v": 1, "scope": p["scope"], "version": 3, "issued_at": "2026-11-22T08:00:00Z",
                             "effective_at": None, "expires_at": "2027-01-01T00:00:00+08:00",
                             "doc": json.dumps(p), "sig": "MEUCIQD" + "A" * 60 + "=="})
for v in pricing:
    seed("basket", v["basket"])
for v in forms:
    seed("form_data", v["data"])
    for p in v["policies"]:
        for f in p.get("forms", []):
            for fld in f.get("fields", []):
                for k in ("visible_if", "required"):
                    if isinstance(fld.get(k), str):
                        seed("expr", fld[k])
            for s in f.get("on_submit", []):
                if "if" in s:
                    seed("expr", s["if"])
for e in ("len(tags) > 1 and contains(title, 'fridge')", "qty * price / 3 >= 12.500001",
          "not empty(customer.tier) or priority in ['high', 'urgent']", "-(-qty) + 1 == 4",
          "'a' + \"b\" != null"):
    seed("expr", e)
body = {"receipt": "r1", "total": 2800, "lines": [{"sku": "MT-001", "qty": 1}]}
for t in ("sale", "form", "ticket", "hello"):
    seed("event", {"v": 1, "device": "pos-1", "store": "cd-001", "epoch": "18446744073709551615",
                   "seq": 7, "hlc": "117661025386496001", "type": t, "body": body})
seed("event", '{"v":1,"device":"a.b-c_d","store":"S","epoch":"1","seq":1,"hlc":0,"type":"ticket","body":{"ticket":"T1","kind":"open"}}')
for t in ("shoal/v1/up/cd-001/pos-1", "shoal/v1/ack/s/d", "shoal/v1/policy/global",
          "shoal/v1/policy/region/cn-sw", "shoal/v1/policy/store/cd-001", "shoal/v1/down/s",
          "shoal/v1/down/s/d", "shoal/v1/presence/s/d", "shoal/v1/trust"):
    seed("topic", t)
for c in ("SHOAL1.T-1.cd-001.1895360000.MEUCIQDx_y-AAAA", "SHOAL1.a.b.c.cd-001.1.AA", "T.1|cd.001",
          "ticket-9|store-1"):
    seed("wo_code", c)
for c in ("SHOALM1.c-1.gold.vip,new.0.n0nce123.1895360000.MEUCIQDx_y-AAAA", "SHOALM1.c.-.-.0.n.1.AA"):
    seed("member_code", c)
order = {"channel": "web", "order_id": "o-1", "customer": "c-1", "paid_at": "2026-11-22T08:00:00Z",
         "status": "paid", "total": 2800, "store": "cd-001", "region": "cn-sw",
         "lines": [{"sku": "MT-001", "qty": 1, "total": 2800, "name": "Milk tea"}]}
seed("hub_bodies", order)
seed("hub_bodies", dict(order, status="refunded", refunded_at="2026-11-23T08:00:00Z"))
seed("hub_bodies", {"id": "c-1", "name": "Li", "phone": "+8613800000000", "tier": "gold", "tags": ["vip"]})
seed("multipart", b'XyZ\n--XyZ\r\nContent-Disposition: form-data; name="data"\r\n\r\n{"n":1}\r\n'
     b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
     b'Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\r\n--XyZ--\r\n')
pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 86 + "==\n-----END PUBLIC KEY-----\n"
seed("trust", {"v": 1, "updates": [{"version": 1, "issued_at": "2026-11-22T08:00:00Z", "keys": [pem],
                                    "sig": "MEUCIQD" + "A" * 60 + "=="}]})
seed("config", {"device": "pos-1", "store": "cd-001", "region": "cn-sw", "profile": "p.json",
                "db": "a.db", "mqtt": {"host": "h", "port": 8883, "tls": {"ca": "c", "cert": "d", "key": "k"}},
                "trust": {"policy_pub": "p.pem", "policy_pub_next": "n.pem"}, "topic_prefix": "x/y",
                "local_api": {"listen": "127.0.0.1:1"}})
seed("config", {"db": "h.db", "signing_key": "k.pem", "http": {"listen": "0:1", "token_file": "t"},
                "device_ca": {"cert": "c", "key": "k"},
                "webhooks": [{"url": "https://x", "events": ["sale", "ticket"], "secret_file": "s"}]})
for p in glob.glob(os.path.join(root, "firmware-profiles", "*.json")):
    seed("config", open(p, "rb").read())
PY

# ---- run ---------------------------------------------------------------------
if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    TARGETS+=("${t#fuzz_}")
  done
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
REPORT="${FUZZ_REPORT:-$BUILD/fuzz-report.txt}"  # FUZZ_REPORT: another file for a second run in parallel
printf '%-16s %12s %8s %10s %8s  %s\n' target execs seconds exec/s findings regressions | tee "$REPORT"
for t in "${TARGETS[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$t"
  corpus="$BUILD/corpus/$t"
  art="$BUILD/artifacts/$t/"
  mkdir -p "$corpus" "$art"
  log="$BUILD/fuzz-$t.log"
  # Regression inputs (every crash found so far, tests/fuzz/regressions/<target>/)
  # run once each first: a fixed bug must stay fixed.
  reg="none"
  if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
    if "$bin" -runs=1 tests/fuzz/regressions/"$t"/* >"$BUILD/fuzz-$t-regressions.log" 2>&1; then
      reg="pass($(ls tests/fuzz/regressions/"$t" | wc -l))"
    else
      reg="FAIL(see $BUILD/fuzz-$t-regressions.log)"
      status=1
    fi
  fi
  # -fork=1 -ignore_crashes=1: a finding is saved and fuzzing goes on for the
  # whole time budget, so every target gets its figures.
  start=$(date +%s)
  set +e
  "$bin" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$art" "$corpus" >"$log" 2>&1
  set -e
  secs=$(( $(date +%s) - start ))
  last=$(grep -E '^#[0-9]+: ' "$log" | tail -1 || true)
  execs=$(echo "$last" | sed -E 's/^#([0-9]+):.*/\1/')
  [ -n "$execs" ] || execs=0
  crashes=$(echo "$last" | sed -nE 's#.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*#\1+\2+\3#p')
  found=$(( ${crashes:-0} ))
  [ "$found" -eq 0 ] || status=1
  printf '%-16s %12s %8s %10s %8s  %s\n' "$t" "$execs" "$secs" "$(( execs / (secs > 0 ? secs : 1) ))" \
    "$found" "$reg" | tee -a "$REPORT"
done
echo "fuzz: report in $REPORT; findings (if any) in $BUILD/artifacts/<target>/, logs in $BUILD/fuzz-<target>.log"
exit $status
