# Plumbing of scripts/compose-test: the project, Compose, HTTP and writers.
# Sourced, not run. The checks themselves are in compose-test-checks.sh.
# shellcheck shell=bash

source "$(dirname "${BASH_SOURCE[0]}")/compose-test-checks.sh"

PASSED=0
# The services the test starts: every profile but Grafana, which has no
# stand-in image (its dashboard's queries are run against Prometheus).
SERVICES=(libsette caddy prometheus node-exporter)
DOMAIN=libsette.test

step() { printf '\n== %s\n' "$*"; }
pass() {
  PASSED=$((PASSED + 1))
  printf 'ok %d - %s\n' "$PASSED" "$*"
}
fail() {
  printf 'not ok - %s\n' "$*" >&2
  exit 1
}
summary() { echo "compose-test: $PASSED passed, 0 failed"; }

# The Compose tool: LIBSETTE_COMPOSE, else the v2 plugin, else docker-compose.
pick_compose() {
  if [ -n "${LIBSETTE_COMPOSE:-}" ]; then
    read -ra COMPOSE <<<"$LIBSETTE_COMPOSE"
  elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  else
    COMPOSE=(docker-compose)
  fi
  export LIBSETTE_COMPOSE="${COMPOSE[*]}"
  echo "compose tool: $("${COMPOSE[@]}" version 2>/dev/null | head -1)"
}

# Compose on the test's project, with every profile on.
compose() {
  "${COMPOSE[@]}" -p "$PROJECT" --env-file "$TMP/env" --profile proxy --profile monitoring "$@"
}

# Compose with only the profiles given (for `config`).
compose_only() {
  "${COMPOSE[@]}" -p "$PROJECT" --env-file "$TMP/env" "$@"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A project name, secrets and ports of its own; settings in an env file so
# that a developer's .env changes nothing.
setup_project() {
  PROJECT="lstest$(date +%s)$RANDOM"
  TMP=$(mktemp -d)
  ops/make-secrets "$TMP/secrets" >/dev/null
  LIBSETTE_PORT=$(free_port)
  HTTP_PORT=$(free_port)
  HTTPS_PORT=$(free_port)
  PROMETHEUS_PORT=$(free_port)
  GRAFANA_PORT=$(free_port)
  cat >"$TMP/env" <<EOF
LIBSETTE_PORT=$LIBSETTE_PORT
LIBSETTE_ADDRESS=127.0.0.1
LIBSETTE_DOMAIN=$DOMAIN
LIBSETTE_PUBLIC_URL=https://$DOMAIN:$HTTPS_PORT
LIBSETTE_SECRETS_DIR=$TMP/secrets
CADDY_ADDRESS=127.0.0.1
CADDY_TLS=internal
HTTP_PORT=$HTTP_PORT
HTTPS_PORT=$HTTPS_PORT
PROMETHEUS_PORT=$PROMETHEUS_PORT
GRAFANA_PORT=$GRAFANA_PORT
EOF
  BASE="http://127.0.0.1:$LIBSETTE_PORT"
  PROM="http://127.0.0.1:$PROMETHEUS_PORT"
  echo "project $PROJECT: libsette on $BASE, Caddy on https $HTTPS_PORT / http $HTTP_PORT, Prometheus on $PROM"
}

cleanup() {
  local rc=$?
  touch "$TMP/stop"
  # shellcheck disable=SC2046
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    echo "--- last lines of the stack's logs" >&2
    compose logs --no-color --tail=30 >&2 2>/dev/null || true
    echo "compose-test: $PASSED passed, 1 failed" >&2
  fi
  compose down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}

# The container of a service.
cid() { compose ps -q "$1"; }

# promtool, in the Prometheus image, on the mounted configuration and secret.
promtool() {
  compose run --rm --no-deps -T --entrypoint promtool -w /etc/prometheus prometheus "$@" >"$TMP/promtool.out" 2>&1 ||
    { cat "$TMP/promtool.out" >&2; fail "promtool $*"; }
}

# up: starts the test's services and waits for libsette to be healthy.
up() {
  compose up -d --no-build "${SERVICES[@]}" >"$TMP/up.log" 2>&1 ||
    { cat "$TMP/up.log" >&2; fail "compose up"; }
  wait_healthy
}

wait_healthy() {
  local id state
  for _ in $(seq 1 120); do
    id=$(cid libsette)
    state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || echo missing)
    case "$state" in
    "running healthy") return 0 ;;
    exited* | dead* | missing) break ;;
    esac
    sleep 1
  done
  docker inspect -f '{{json .State.Health}}' "$id" >&2 || true
  fail "libsette did not become healthy ($state)"
}

# http [-o FILE] CURL-ARGS...: the status code; the body to FILE.
http() {
  local out=/dev/null
  if [ "$1" = -o ]; then
    out=$2
    shift 2
  fi
  curl -s -o "$out" -w '%{http_code}' --max-time 15 "$@" || true
}

# libsette's command line inside the container, as ops/README.md shows.
# What it changes in the catalog reaches the running server within a
# second (its catalog caches), so it waits that long before going on.
cli() {
  compose exec -T libsette libsette "$@" >"$TMP/cli.out" 2>&1 ||
    { cat "$TMP/cli.out" >&2; fail "libsette $*"; }
  sleep 1.1
  cat "$TMP/cli.out"
}

# A token minted inside the container.
mint() {
  local token
  token=$(cli token create "$@" | tr -d '\r\n')
  case "$token" in lstok_*) echo "$token" ;; *) fail "token create $*: $token" ;; esac
}

api() {
  curl -fsS --max-time 15 -H "Authorization: Bearer $WRITER" "$@"
}

post_json() {
  local url=$1 body=$2
  api -X POST -H 'Content-Type: application/json' --data "$body" "$url" >/dev/null ||
    fail "POST $url"
}

create_events_table() {
  cli db create demo ops >/dev/null
  post_json "$BASE/demo/ops/-/create" '{"table": "events", "pk": "id", "columns": [
    {"name": "id", "type": "integer"}, {"name": "writer", "type": "integer"},
    {"name": "n", "type": "integer"}]}'
}

# insert_rows WRITER FROM TO: one request.
insert_rows() {
  local rows
  rows=$(jq -nc --argjson w "$1" --argjson a "$2" --argjson b "$3" \
    '{rows: [range($a; $b + 1) | {id: ($w * 1000000 + .), writer: $w, n: .}]}')
  post_json "$BASE/demo/ops/events/-/insert" "$rows"
}

count_events() {
  api "$BASE/demo/ops/-/query.json?sql=select+count(*)+as+c+from+events&_shape=array" | jq '.[0].c'
}

# Every row of events as "id,writer,n" lines, sorted.
dump_events() {
  api "$BASE/demo/ops/events.csv?_stream=on&_sort=id" | tr -d '\r' | tail -n +2 | sort
}

# writer W: inserts rows W*1e6+1, +2, … one request at a time until
# $TMP/stop exists, noting each acknowledged (201) id in $TMP/acked.W.
writer() {
  local w=$1 i=0 code
  while [ ! -e "$TMP/stop" ]; do
    i=$((i + 1))
    code=$(http -X POST -H "Authorization: Bearer $WRITER" -H 'Content-Type: application/json' \
      --data "{\"row\": {\"id\": $((w * 1000000 + i)), \"writer\": $w, \"n\": $i}}" \
      "$BASE/demo/ops/events/-/insert")
    if [ "$code" = 201 ]; then
      echo "$((w * 1000000 + i))" >>"$TMP/acked.$w"
    elif [ "$code" = 000 ]; then
      sleep 0.2 # the server is away
    fi
  done
}

# start_writers W...: one writer each, in the background.
start_writers() {
  rm -f "$TMP/stop"
  WRITER_PIDS=()
  for w in "$@"; do
    : >"$TMP/acked.$w"
    writer "$w" &
    WRITER_PIDS+=($!)
  done
}

stop_writers() {
  touch "$TMP/stop"
  wait "${WRITER_PIDS[@]}" 2>/dev/null || true
}

# acked W...: every id acknowledged to these writers, sorted.
acked() {
  local w
  for w in "$@"; do cat "$TMP/acked.$w"; done | sort
}

# Fails unless every id acknowledged to writers W... is in the table.
check_acked_present() {
  local what=$1
  shift
  acked "$@" >"$TMP/acked.all"
  dump_events | cut -d, -f1 | sort >"$TMP/present"
  local lost n
  lost=$(comm -23 "$TMP/acked.all" "$TMP/present" | wc -l)
  n=$(wc -l <"$TMP/acked.all")
  [ "$n" -ge 20 ] || fail "$what: only $n inserts were acknowledged"
  [ "$lost" = 0 ] || fail "$what: $lost of $n acknowledged rows are lost"
  pass "$what: all $n acknowledged rows are there"
}
