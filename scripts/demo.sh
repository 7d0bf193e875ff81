#!/usr/bin/env bash
# demo.sh - the README's first command: Shoal end to end on this machine.
# Installs what it needs, builds, starts a Mosquitto broker on a free
# loopback port, a hub and three store devices in two regions (a POS in
# Chengdu, cn-sw; a POS in Shanghai, cn-east; a handheld scanner in Chengdu),
# publishes the tea chain's catalog from hub/examples/. The Chengdu till
# works as a till vendor's app would: over the agent's store API (quote,
# sale with payment and change, a return). HQ's pricing manager lowers the
# Chengdu milk tea price through the dashboard in headless Chromium
# (scripts/demo_hq.py: price map, preview, publish). Then it sells, cuts the
# broker, sells offline, restores it, and shows every sale and return at the
# hub exactly once. SHOAL_DEMO_STAY=1 leaves everything running at the end
# (dashboard and till page URLs printed) until Ctrl-C. Stops everything it started;
# every wait is bounded; exits non-zero if any part of the story fails.
# SHOAL_DEMO_KEEP=1 keeps the work folder (logs, databases) for a look.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/deps.sh
echo "== building (Release)"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-demo -j "${JOBS:-2}" --target shoal-agent shoal-hub >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AGENT=$ROOT/build-demo/agent/shoal-agent
HUB=$ROOT/build-demo/hub/shoal-hub
EX=$ROOT/hub/examples

WORK=$(mktemp -d /tmp/shoal-demo-XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${SHOAL_DEMO_KEEP:-}" = 1 ] || [ $rc -ne 0 ]; then
    echo "(work folder kept: $WORK)"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

fail() { echo "demo: FAILED: $*" >&2; exit 1; }
# json FILE-OR-STRING EXPR: evaluates a Python expression over the JSON in $1 (bound to j).
jq_() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local until=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $until ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
status() { "$AGENT" status -c "$WORK/$1.json"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence false
EOF
start_broker() {
  /usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.log" 2>&1 &
  BROKER=$!
  PIDS+=("$BROKER")
  wait_for 10 "the broker on port $PORT" python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.5)"
}
echo "== broker: Mosquitto on 127.0.0.1:$PORT"
start_broker

echo "== hub: policy key pair, then shoal-hub run"
"$HUB" keygen --out "$WORK/keys" >/dev/null
HTTP_PORT=$(free_port)
HUB_URL=http://127.0.0.1:$HTTP_PORT
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$WORK/admin.token"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$WORK/manager.token"
cat >"$WORK/hub.json" <<EOF
{"db": "hub.db", "mqtt": {"host": "127.0.0.1", "port": $PORT}, "signing_key": "keys/policy-key.pem",
 "http": {"listen": "127.0.0.1:$HTTP_PORT", "token_file": "admin.token"},
 "users": [{"name": "li.manager", "token_file": "manager.token", "role": "operator"}]}
EOF
"$HUB" run -c "$WORK/hub.json" >"$WORK/hub.log" 2>&1 &
PIDS+=($!)
wait_for 20 "the hub to subscribe" grep -q subscribed "$WORK/hub.log"

# device store region profile
DEVICES=("pos-cd-1 chengdu-001 cn-sw pos-terminal"
         "pos-sh-1 shanghai-001 cn-east pos-terminal"
         "scan-cd-1 chengdu-001 cn-sw handheld-scanner")
echo "== agents: Chengdu POS, Shanghai POS, Chengdu handheld"
for d in "${DEVICES[@]}"; do
  read -r dev store region prof <<<"$d"
  api_port=$(free_port)
  echo "127.0.0.1:$api_port" >"$WORK/$dev.api"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$WORK/$dev.token"
  cat >"$WORK/$dev.json" <<EOF
{"device": "$dev", "store": "$store", "region": "$region",
 "profile": "$ROOT/firmware-profiles/$prof.json", "db": "$dev.db",
 "mqtt": {"host": "127.0.0.1", "port": $PORT}, "trust": {"policy_pub": "keys/policy-pub.pem"},
 "local_api": {"listen": "127.0.0.1:$api_port", "token_file": "$dev.token"}}
EOF
  "$AGENT" run -c "$WORK/$dev.json" >"$WORK/$dev.log" 2>&1 &
  PIDS+=($!)
done
for d in "${DEVICES[@]}"; do
  read -r dev _ <<<"$d"
  wait_for 20 "$dev to connect" bash -c "\"$AGENT\" status -c \"$WORK/$dev.json\" | grep -q '\"connected\":true'"
done

echo "== HQ publishes the catalog (signed, retained, per scope)"
for f in global region-cn-sw region-cn-east store-chengdu-001; do
  printf '   %-24s -> %s\n' "$f.json" \
    "$("$HUB" publish -c "$WORK/hub.json" --policy "$EX/$f.json" 2>>"$WORK/publish.log")"
done
has_version() { [ "$(jq_ "$(status "$1")" "j['policies'].get('$2')")" = "$3" ]; }
wait_for 20 "Chengdu POS catalog" has_version pos-cd-1 region/cn-sw 1
wait_for 20 "Shanghai POS catalog" has_version pos-sh-1 region/cn-east 1
wait_for 20 "handheld catalog" has_version scan-cd-1 global 1

# Sales: `shoal-agent sale` prices the basket from the device's cache and
# records it durably with its outbox event, in one transaction.
declare -A COUNT=() TOTAL=()
sell() {  # sell DEVICE BASKET
  local out rc=0
  out=$("$AGENT" sale -c "$WORK/$1.json" --basket "$2" 2>"$WORK/sale.err") || rc=$?
  if [ $rc -ne 0 ]; then
    cat "$WORK/sale.err" >&2
    fail "sale on $1"
  fi
  COUNT[$1]=$((${COUNT[$1]:-0} + 1))
  TOTAL[$1]=$((${TOTAL[$1]:-0} + $(jq_ "$out" "j['total']")))
  printf '   %-10s sale %s\n' "$1" "$(jq_ "$out" "'%s at %s: total %d, VAT %d, paid %s, change %d' % (j['id'], j['at'], j['total'], j['tax_total'], '+'.join('%s %d' % (p['method'], p['amount']) for p in j['payments']), j['change'])")"
}

# The Chengdu till talks to its agent over the store API (docs/store-api.md),
# as a till vendor's app does: bearer token, JSON, one request per action.
# api DEVICE METHOD PATH [BODY]: prints the answer; fails on an HTTP error.
api() {
  python3 - "$(cat "$WORK/$1.api")" "$(cat "$WORK/$1.token")" "$2" "$3" "${4:-}" <<'PY'
import http.client, sys
addr, token, method, path, body = sys.argv[1:]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=20)
c.request(method, path, body=body.encode() or None,
          headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
r = c.getresponse()
text = r.read().decode()
if r.status >= 300:
    sys.exit("HTTP %d %s %s: %s" % (r.status, method, path, text))
print(text)
PY
}
TILL_SEQ=0
declare -A RETURNS=()
till_sell() {  # till_sell DEVICE BASKET: quote, then the sale paid as the basket says
  local body quote out replay
  TILL_SEQ=$((TILL_SEQ + 1))
  body=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b["request_id"]=sys.argv[2]; print(json.dumps(b))' \
    "$2" "till-$1-$TILL_SEQ")
  quote=$(api "$1" POST /v1/quote "$(jq_ "$body" "json.dumps({k: v for k, v in j.items() if k not in ('request_id', 'payments', 'cashier')})")") ||
    fail "quote on $1's store API"
  out=$(api "$1" POST /v1/sales "$body") || fail "sale on $1's store API"
  COUNT[$1]=$((${COUNT[$1]:-0} + 1))
  TOTAL[$1]=$((${TOTAL[$1]:-0} + $(jq_ "$out" "j['total']")))
  LAST_SALE=$(jq_ "$out" "j['id']")
  printf '   %-10s till: quote %s, sale %s\n' "$1" "$(jq_ "$quote" "j['total']")" \
    "$(jq_ "$out" "'%s total %d (VAT %d), paid %s, change %d' % (j['id'], j['total'], j['tax_total'], '+'.join('%s %d' % (p['method'], p['amount']) for p in j['payments']), j['change'])")"
  if [ "$TILL_SEQ" = 1 ]; then
    # A till that lost the answer sends the same request again: same receipt, no second sale.
    replay=$(api "$1" POST /v1/sales "$body") || fail "replayed sale on $1"
    [ "$(jq_ "$replay" "j['id']")" = "$LAST_SALE" ] || fail "a replayed request_id made a second sale"
    echo "              the same request_id again answers the same receipt $LAST_SALE (no second sale)"
  fi
}
till_return() {  # till_return DEVICE SALE SKU: one unit back, refunded exactly
  local out
  out=$(api "$1" POST /v1/returns "{\"request_id\": \"ret-$2-$3\", \"sale\": \"$2\", \"lines\": [{\"sku\": \"$3\", \"qty\": 1}], \"reason\": \"spilled\"}") ||
    fail "return on $1's store API"
  RETURNS[$1]=$((${RETURNS[$1]:-0} + $(jq_ "$out" "j['refund']")))
  printf '   %-10s till: return %s of one %s from %s, refund %s\n' "$1" "$(jq_ "$out" "j['id']")" "$3" "$2" \
    "$(jq_ "$out" "'+'.join('%s %d' % (r['method'], r['amount']) for r in j['refunds'])")"
}

# quote DEVICE BASKET: the basket's total from the device's cache, if this
# build has the pricing engine.
quote() {
  local q
  if q=$("$AGENT" price -c "$WORK/$1.json" --basket "$2" 2>/dev/null); then
    echo "   $1 quotes the Chengdu basket at $(jq_ "$q" "'%d.%02d CNY' % divmod(j['total'], 100)")"
  fi
}

echo "== selling online (Chengdu: the till over the store API; Shanghai: the one-shot CLI)"
till_sell pos-cd-1 "$EX/basket-chengdu.json"
sell pos-sh-1 "$EX/basket-shanghai.json"
till_sell pos-cd-1 "$EX/basket-chengdu.json"
till_return pos-cd-1 "$LAST_SALE" TEA-MILK-L

echo "== HQ's pricing manager lowers the Chengdu milk tea price in the dashboard ($HUB_URL/)"
python3 "$ROOT/scripts/demo_hq.py" "$HUB_URL" "$(cat "$WORK/manager.token")" TEA-MILK-L region/cn-sw 15.00 \
  'cn-sw|chengdu-001' "$ROOT/build-demo" || fail "HQ's dashboard session"
wait_for 20 "the price change in Chengdu" has_version pos-cd-1 region/cn-sw 2
wait_for 20 "the price change on the handheld" has_version scan-cd-1 region/cn-sw 2
sleep 0.5
[ "$(jq_ "$(status pos-sh-1)" "'region/cn-sw' in j['policies']")" = False ] ||
  fail "the Chengdu price change reached Shanghai"
echo "   reached pos-cd-1 and scan-cd-1 (cn-sw); pos-sh-1 (cn-east) never saw it"
till_sell pos-cd-1 "$EX/basket-chengdu.json"

echo "== cutting the broker (Mosquitto stopped; its in-memory queues are gone)"
kill -TERM "$BROKER"
wait "$BROKER" 2>/dev/null || true
for d in pos-cd-1 pos-sh-1; do
  wait_for 20 "$d to notice" bash -c "\"$AGENT\" status -c \"$WORK/$d.json\" | grep -q '\"connected\":false'"
done
echo "== selling offline"
for _ in 1 2 3; do
  till_sell pos-cd-1 "$EX/basket-chengdu.json"
  sell pos-sh-1 "$EX/basket-shanghai.json"
done
till_return pos-cd-1 "$LAST_SALE" TOP-PEARL
for d in pos-cd-1 pos-sh-1; do
  echo "   $d outbox while offline: $(jq_ "$(status $d)" "j['outbox_pending']") events"
done

echo "== restoring the broker on the same port; agents reconnect with backoff"
start_broker
drained() { [ "$(jq_ "$(status "$1")" "j['outbox_pending']")" = 0 ]; }
for d in "${DEVICES[@]}"; do
  read -r dev _ <<<"$d"
  wait_for 90 "$dev to drain its outbox" drained "$dev"
done

echo
echo "== devices"
printf '   %-10s %-13s %-8s %-9s %-7s %s\n' device store region connected outbox "policies in effect"
for d in "${DEVICES[@]}"; do
  read -r dev _ <<<"$d"
  s=$(status "$dev")
  printf '   %-10s %-13s %-8s %-9s %-7s %s\n' "$dev" "$(jq_ "$s" "j['store']")" \
    "$(jq_ "$s" "j['region']")" "$(jq_ "$s" "j['connected']")" "$(jq_ "$s" "j['outbox_pending']")" \
    "$(jq_ "$s" "json.dumps(j['policies'])")"
done
echo
echo "== sales at the hub (shoal-hub report sales)"
REPORT=$("$HUB" report sales -c "$WORK/hub.json")
ok=1
for dev in pos-cd-1 pos-sh-1; do
  got=$(jq_ "$REPORT" "[ (r['count'], r['total'], r['returns']) for r in j if r['device'] == '$dev' ]")
  want="[(${COUNT[$dev]}, ${TOTAL[$dev]}, ${RETURNS[$dev]:-0})]"
  mark=ok; [ "$got" = "$want" ] || { mark=MISMATCH; ok=0; }
  printf '   %-10s hub count/total/returns %-20s made %-20s %s\n' "$dev" "$got" "$want" "$mark"
done
echo "   raw: $REPORT"
echo
echo "== the hub's device registry (from each device's hello and presence)"
python3 - "$WORK/hub.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for dev, store, region, prof, online, depth, versions in con.execute(
        "SELECT device, store, region, profile, online, outbox_depth, policy_versions FROM devices ORDER BY device"):
    print("   %-10s %-13s %-8s %-17s online=%s outbox_at_hello=%s versions=%s"
          % (dev, store, region, prof, bool(online), depth, versions))
PY
dups=$(python3 -c "import sqlite3; print(sqlite3.connect('$WORK/hub.db').execute('SELECT COUNT(*) FROM (SELECT receipt FROM sales GROUP BY receipt HAVING COUNT(*) > 1)').fetchone()[0])")
[ "$dups" = 0 ] || { ok=0; echo "   $dups receipts stored twice"; }
[ $ok = 1 ] || fail "the hub's sales differ from the sales made"
echo
echo "demo: OK - every sale and return, online and offline, is at the hub exactly once; outboxes are empty."
echo "   HQ dashboard screenshots: $ROOT/build-demo/dashboard-*.png"
if [ "${SHOAL_DEMO_STAY:-}" = 1 ]; then
  echo
  echo "Still running (Ctrl-C stops everything):"
  echo "   dashboard  $HUB_URL/   manager token: $(cat "$WORK/manager.token")"
  echo "   till page  http://$(cat "$WORK/pos-cd-1.api")/till   token: $(cat "$WORK/pos-cd-1.token")"
  while :; do sleep 3600; done
fi
