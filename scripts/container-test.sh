#!/usr/bin/env bash
# Container test (`npm run test:container`): builds the image and checks it for real against the
# emulator running on the host: start, sync, /healthz /readyz /metrics, the database written to
# the volume as uid 1000 under a read-only root, `exec … entrasync resync`, data kept across a new
# container, and exit 0 on `stop` (SIGTERM to node as PID 1), also in the middle of a cycle.
#
# No registry is reachable from our machines: ../shared/tools/container-base.sh installs podman and
# builds node:24-bookworm-slim locally (see ../shared/reference/container.md). Needs root.
# It also runs scripts/statement-gc-stress.mjs inside the image: the regression check for the SIGABRT
# of Node 24.19-24.21 with better-sqlite3 12 (nodejs/node#65446).
# Env: CONTAINER_ENGINE=podman (default) | docker, IMAGE (entrasync:test), KEEP_IMAGE=1 (keep it
#      afterwards), NO_CACHE=1 (build from scratch), SHARED (default: the `shared` folder beside the
#      repository), W (podman work dir, see container-base.sh), NODE_VERSION (the base image's Node;
#      default: the Dockerfile's pinned ARG NODE_VERSION; e.g. NODE_VERSION=24.21.0 shows the abort).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${SHARED:-$(dirname "$ROOT")/shared}
ENGINE=${CONTAINER_ENGINE:-podman}
IMAGE=${IMAGE:-entrasync:test}
NAME=entrasync-ct-$$
VOL=entrasync-ct-data-$$
TMP=$(mktemp -d /tmp/entrasync-ct.XXXXXX)
PINNED_NODE=$(sed -n 's/^ARG NODE_VERSION=//p' "$ROOT/Dockerfile")
export NODE_VERSION=${NODE_VERSION:-$PINNED_NODE}
EMU_PID=
T0=$(date +%s)
declare -A TIMES

# Without systemd, podman complains about its healthcheck timers on every run and stop; the check
# itself is run below with `podman healthcheck run`. Everything else on stderr stays.
engine() { "$ENGINE" "$@" 2> >(grep -v 'systemd connection' >&2); }
step() { printf '\n=== [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
ok() { echo "  ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  echo "--- last container log lines:" >&2
  engine logs --tail 30 "$NAME" >&2 2>/dev/null || true
  exit 1
}
cleanup() {
  engine kill "$NAME" >/dev/null 2>&1 || true
  engine rm -f "$NAME" >/dev/null 2>&1 || true
  engine volume rm -f "$VOL" >/dev/null 2>&1 || true
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null || true
  [ -n "${KEEP_IMAGE:-}" ] || engine rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# JSON field from stdin: json .users.total
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split(".").filter(Boolean))v=v?.[k];process.stdout.write(typeof v==="object"?JSON.stringify(v):String(v))})' "$1"; }
http() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$1"; }
ready() { [ "$(http /readyz)" = 200 ]; }
# Polls a command until it succeeds: until_ok SECONDS DESCRIPTION COMMAND…
until_ok() {
  local limit=$1 what=$2 start
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    [ $(($(date +%s) - start)) -ge "$limit" ] && fail "$what: not within ${limit}s"
    sleep 0.5
  done
}
# The emulator's control API (loopback only): ctl METHOD PATH [JSON]
ctl() {
  local args=(-fsS --cacert "$TMP/ca.pem" -H 'content-type: application/json' -X "$1" "$URL/_ctl$2")
  [ $# -ge 3 ] && args+=(-d "$3")
  curl "${args[@]}"
}

# ---------------------------------------------------------------- engine and image
step "container engine ($ENGINE)"
if [ "$ENGINE" = podman ]; then
  # Exit 3: this machine cannot run containers at all (no podman to be had). .ci/run reports that
  # as skipped, loudly; a failure of the image or of any check below fails the run.
  [ -f "$SHARED/tools/container-base.sh" ] || { echo "SKIP: no $SHARED/tools/container-base.sh" >&2; exit 3; }
  bash "$SHARED/tools/container-base.sh" >"$TMP/base.log" 2>&1 || {
    tail -20 "$TMP/base.log"
    echo "SKIP: container-base.sh could not prepare podman on this machine" >&2
    exit 3
  }
  # shellcheck disable=SC1091
  source "${W:-/var/tmp/containers}/env.sh"
  # docker format: the OCI format would drop HEALTHCHECK.
  BUILD_FLAGS=(--pull=never --format docker --build-arg "NODE_VERSION=$NODE_VERSION")
  ENGINE_RUN_FLAGS=(--read-only --read-only-tmpfs=false)
else
  BUILD_FLAGS=(--build-arg "NODE_VERSION=$NODE_VERSION")
  ENGINE_RUN_FLAGS=(--read-only)
fi
[ -n "${NO_CACHE:-}" ] && BUILD_FLAGS+=(--no-cache)
TIMES[engine]=$(($(date +%s) - T0))
$ENGINE --version

step "build $IMAGE"
B0=$(date +%s)
engine build "${BUILD_FLAGS[@]}" -t "$IMAGE" "$ROOT" >"$TMP/build.log" 2>&1 || {
  tail -40 "$TMP/build.log"
  fail "image build"
}
TIMES[build]=$(($(date +%s) - B0))
ok "built in ${TIMES[build]}s, $(engine image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
[ "$(engine image inspect "$IMAGE" --format '{{.Config.User}}')" = node ] || fail "image user is not node"
engine run --rm "${ENGINE_RUN_FLAGS[@]}" --entrypoint sh "$IMAGE" -c \
  '! command -v g++ && ! command -v python3 && [ ! -d /app/node_modules/vitest ] && [ ! -d /app/src ]' ||
  fail "the runtime image holds build tools, dev dependencies or sources"
ok "runtime image: user node, no compiler, no dev dependencies"

# ---------------------------------------------------------------- Node runtime regression
step "statements finalized by the GC during socket reads (nodejs/node#65446), Node $NODE_VERSION"
# The product's store inside the image: 50,000 statements left to the collector, then loopback sockets
# whose data callbacks allocate, so collections run from native callbacks. Node 24.19-24.21 abort
# (SIGABRT; podman reports 134 or 139); a short sync alone does not show it, the timing hides it.
G0=$(date +%s)
for run in 1 2 3; do
  set +e
  engine run --rm "${ENGINE_RUN_FLAGS[@]}" --tmpfs /tmp --entrypoint node \
    -v "$ROOT/scripts/statement-gc-stress.mjs:/opt/statement-gc-stress.mjs:ro" \
    "$IMAGE" /opt/statement-gc-stress.mjs /tmp/stress.db 5 >"$TMP/gc-$run.out" 2>"$TMP/gc-$run.err"
  code=$?
  set -e
  if [ "$code" -ne 0 ] || ! grep -q '"survived":true' "$TMP/gc-$run.out"; then
    grep -m3 -E 'Assertion|RemoveEnvironmentCleanupHook|Error' "$TMP/gc-$run.err" >&2 || tail -5 "$TMP/gc-$run.err" >&2
    fail "run $run of the statement GC stress exited $code on Node $NODE_VERSION (the abort shows as 134 or 139)"
  fi
done
TIMES[gc_stress]=$(($(date +%s) - G0))
ok "3 of 3 runs survived on Node $(engine run --rm --entrypoint node "$IMAGE" -p process.versions.node) (${TIMES[gc_stress]}s)"

# ---------------------------------------------------------------- emulator on the host
step "emulator on the host"
(cd "$ROOT" && npm run build --silent)
node "$ROOT/dist/cli.js" emulator --users 40 --assign-every 2 --seed 7 >"$TMP/emu.json" 2>"$TMP/emu.err" &
EMU_PID=$!
until_ok 20 "emulator start" test -s "$TMP/emu.json"
URL=$(json url <"$TMP/emu.json")
cp "$(json caFile <"$TMP/emu.json")" "$TMP/ca.pem"
json clientSecret <"$TMP/emu.json" >"$TMP/client-secret"
chmod 644 "$TMP/ca.pem" "$TMP/client-secret"
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
ok "emulator $URL, daemon HTTP port $PORT"

# The container reaches the emulator on the host's loopback (--network host); the emulator's CA
# and the client secret come in as read-only files, as Kubernetes secrets would.
RUN_ENV=(
  -e NODE_EXTRA_CA_CERTS=/etc/entrasync/emulator-ca.pem
  -e "ENTRASYNC_TENANT_ID=$(json tenantId <"$TMP/emu.json")"
  -e "ENTRASYNC_CLIENT_ID=$(json clientId <"$TMP/emu.json")"
  -e ENTRASYNC_CLIENT_SECRET_FILE=/run/secrets/entrasync/client-secret
  -e "ENTRASYNC_AUTHORITY_HOST=$URL"
  -e "ENTRASYNC_GRAPH_URL=$URL"
  -e "ENTRASYNC_SCHEDULE=*/5 * * * * *"
  -e ENTRASYNC_HTTP_HOST=127.0.0.1
  -e "ENTRASYNC_HTTP_PORT=$PORT"
)
RUN_FLAGS=(--network host "${ENGINE_RUN_FLAGS[@]}" -v "$VOL:/data"
  -v "$TMP/ca.pem:/etc/entrasync/emulator-ca.pem:ro"
  -v "$TMP/client-secret:/run/secrets/entrasync/client-secret:ro")
start_daemon() { engine run -d --name "$NAME" "${RUN_FLAGS[@]}" "${RUN_ENV[@]}" "$IMAGE" >/dev/null; }
status_json() { engine exec "$NAME" entrasync status --json; }
# A cycle newer than $LAST_BEFORE has succeeded in the running container.
new_cycle_succeeded() {
  local doc
  doc=$(status_json) || return 1
  [ "$(echo "$doc" | json lastCycles.0.id)" != "$LAST_BEFORE" ] &&
    [ "$(echo "$doc" | json lastCycles.0.status)" = succeeded ]
}
cycle_running() { curl -fsS "http://127.0.0.1:$PORT/status" | json cycleRunning | grep -q owner; }
# Stops with SIGTERM (10 s before SIGKILL); checks exit code 0; sets STOP_SECONDS.
stop_daemon() {
  local s0
  s0=$(date +%s%N)
  engine stop -t 10 "$NAME" >/dev/null
  STOP_SECONDS=$(awk "BEGIN{printf \"%.1f\", ($(date +%s%N) - $s0)/1e9}")
  local code
  code=$(engine inspect "$NAME" --format '{{.State.ExitCode}}')
  [ "$code" = 0 ] || fail "exit code $code after stop (expected 0)"
}

# ---------------------------------------------------------------- first start
step "start: entrasync run, read-only root, volume /data"
S0=$(date +%s)
start_daemon
until_ok 90 "/readyz 200" ready
TIMES[ready]=$(($(date +%s) - S0))
ok "/readyz 200 ${TIMES[ready]}s after start"
[ "$(http /healthz)" = 200 ] || fail "/healthz"
USERS=$(status_json | json users.total)
[ "$USERS" -gt 0 ] || fail "no users synced"
ok "synced $USERS users"
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$TMP/metrics"
grep -q '^entrasync_cycles_total{result="succeeded",kind="initial"} 1$' "$TMP/metrics" || fail "metrics: initial cycle"
grep -q "^entrasync_users{state=\"active\"} $USERS\$" "$TMP/metrics" || fail "metrics: users"
grep -Eq '^entrasync_graph_requests_total [1-9]' "$TMP/metrics" || fail "metrics: graph requests"
grep -q '^entrasync_ready 1$' "$TMP/metrics" || fail "metrics: ready"
ok "/metrics: initial cycle, $USERS active users, Graph requests, ready"
curl -fsS "http://127.0.0.1:$PORT/status" | grep -q '@' && fail "/status carries personal data"
ok "/status without personal data"

[ "$(engine exec "$NAME" id -u)" = 1000 ] || fail "process uid"
[ "$(engine exec "$NAME" stat -c %u /data/entrasync.db)" = 1000 ] || fail "database owner in the container"
if [ "$ENGINE" = podman ]; then
  MP=$(engine volume inspect "$VOL" --format '{{.Mountpoint}}')
  [ "$(stat -c %u "$MP/entrasync.db")" = 1000 ] || fail "database owner on the volume"
  engine healthcheck run "$NAME" >/dev/null || fail "HEALTHCHECK"
  ok "HEALTHCHECK passes"
fi
engine exec "$NAME" sh -c 'touch /app/x || touch /tmp/x' 2>/dev/null && fail "the root filesystem is writable"
ok "runs as uid 1000, database on the volume owned by 1000, root filesystem read-only"

# ---------------------------------------------------------------- exec resync
step "exec: entrasync resync while the daemon runs"
ID=$(ctl POST /users '{"userPrincipalName":"container.test@contoso.onmicrosoft.com","displayName":"Container Test","accountEnabled":true}' | json id)
ctl POST /assignments "{\"principalId\":\"$ID\",\"principalType\":\"User\"}" >/dev/null
R0=$(date +%s)
RESYNC=$(engine exec "$NAME" entrasync resync --json 2>"$TMP/resync.err") || {
  cat "$TMP/resync.err"
  fail "exec resync"
}
TIMES[resync]=$(($(date +%s) - R0))
[ "$(echo "$RESYNC" | json kind)/$(echo "$RESYNC" | json status)" = forced/succeeded ] || fail "resync: $RESYNC"
USERS=$(status_json | json users.total)
ok "resync succeeded in ${TIMES[resync]}s; $USERS users"
engine exec "$NAME" entrasync status | grep -q "^Users in store: $USERS " || fail "exec status"
ok "exec entrasync status"

# ---------------------------------------------------------------- stop, new container, same volume
step "stop (SIGTERM) and a new container on the same volume"
stop_daemon
TIMES[stop_idle]=$STOP_SECONDS
ok "exit 0 after ${STOP_SECONDS}s"
# A one-shot container on the stopped daemon's volume: the ENTRYPOINT takes any command.
LAST_BEFORE=$(engine run --rm "${RUN_FLAGS[@]}" "${RUN_ENV[@]}" "$IMAGE" status --json | json lastCycles.0.id)
engine rm "$NAME" >/dev/null
start_daemon
until_ok 60 "a cycle of the new container" new_cycle_succeeded
DOC=$(status_json)
[ "$(echo "$DOC" | json users.total)" = "$USERS" ] || fail "users after restart"
[ "$(echo "$DOC" | json lastCycles.0.kind)" = incremental ] || fail "the new container did not continue incrementally"
ok "data kept: $USERS users; the new container's cycle is incremental (delta state kept)"

# ---------------------------------------------------------------- SIGTERM during a cycle
step "stop (SIGTERM) in the middle of a cycle that outlasts the grace period"
# 6 s per Graph request: an incremental cycle makes two rounds of requests one after the other (the
# service principal, then the listing with the users round read beside it), 12 s, longer than
# ENTRASYNC_SHUTDOWN_GRACE (8 s), which must still end the process with 0 before podman's SIGKILL
# at 10 s.
ctl POST /faults '{"latencyMs":6000}' >/dev/null
until_ok 20 "a cycle running" cycle_running
stop_daemon
TIMES[stop_cycle]=$STOP_SECONDS
ctl DELETE /faults >/dev/null
OUTCOME=$(engine logs --tail 1 "$NAME" | json outcome)
[ "$OUTCOME" = interrupted ] || fail "outcome $OUTCOME (expected interrupted)"
DOC=$(engine run --rm "${RUN_FLAGS[@]}" "${RUN_ENV[@]}" "$IMAGE" status --json)
[ "$(echo "$DOC" | json cycleRunning)" = null ] || fail "lease left behind"
[ "$(echo "$DOC" | json lastCycles.0.status)" = aborted ] || fail "the interrupted cycle is not recorded as aborted"
ok "exit 0 after ${STOP_SECONDS}s; the cycle was left between two transactions, recorded as aborted, no lease left"
ONESHOT=$(engine run --rm "${RUN_FLAGS[@]}" "${RUN_ENV[@]}" "$IMAGE" sync --json 2>/dev/null)
[ "$(echo "$ONESHOT" | json status)" = succeeded ] || fail "one-shot sync: $ONESHOT"
ok "one-shot \`run IMAGE sync\` afterwards: $(echo "$ONESHOT" | json kind) cycle succeeded"

step "passed"
printf '  %-12s %ss\n' engine "${TIMES[engine]}" build "${TIMES[build]}" gc-stress "${TIMES[gc_stress]}" ready "${TIMES[ready]}" \
  resync "${TIMES[resync]}" stop-idle "${TIMES[stop_idle]}" stop-cycle "${TIMES[stop_cycle]}" \
  total "$(($(date +%s) - T0))"
