# The checks of scripts/compose-test that need more than a few lines.
# Sourced, not run; the plumbing they use is in compose-test-lib.sh.
# shellcheck shell=bash

DASHBOARD=ops/grafana/dashboards/libsette.json

# The dashboard names the provisioned data source, and the provisioning
# points where docker-compose.yml mounts the dashboards.
check_dashboard_json() {
  local uid
  uid=$(awk '/uid:/ { print $2; exit }' ops/grafana/provisioning/datasources/prometheus.yml)
  jq -e --arg uid "$uid" '
    [.panels[] | select(.type != "row")] as $panels
    | ($panels | length) > 10
      and all($panels[]; (.targets | length) > 0
        and all(.targets[]; .datasource.uid == $uid and (.expr | length) > 0))
      and (.uid | length) > 0' "$DASHBOARD" >/dev/null ||
    fail "every panel of $DASHBOARD has queries on data source $uid"
  grep -q 'path: /etc/grafana/dashboards$' ops/grafana/provisioning/dashboards/libsette.yml &&
    grep -q '\./ops/grafana/dashboards:/etc/grafana/dashboards:ro' docker-compose.yml ||
    fail "the dashboards folder is provisioned where it is mounted"
}

# The one-time link `serve` prints for root logs in, once.
check_login_link() {
  local path headers
  path=$(compose logs --no-color libsette | grep -o '/-/auth-token?token=[0-9a-f]*' | head -1)
  [ -n "$path" ] || fail "the logs show a one-time login link"
  headers=$(curl -s -D - -o /dev/null --max-time 10 "$BASE$path")
  echo "$headers" | grep -q '^HTTP/1.1 30[23]' && echo "$headers" | grep -qi '^set-cookie:' ||
    fail "the login link logs in: $headers"
  [ "$(http "$BASE$path")" = 403 ] || fail "the login link works only once"
  pass "docker compose logs shows a one-time root login link that works once"
}

# The secrets come from the secret files: /metrics wants the token (the host
# is not loopback to the container), and no secret is generated in /data.
check_secrets() {
  local token
  token=$(cat "$TMP/secrets/metrics_token")
  case "$(http "$BASE/metrics")" in 401 | 403) ;; *) fail "/metrics without the token is refused" ;; esac
  [ "$(http -o "$TMP/metrics" -H "Authorization: Bearer $token" "$BASE/metrics")" = 200 ] &&
    grep -q '^libsette_build_info' "$TMP/metrics" ||
    fail "/metrics with the metrics token from the secret file"
  pass "/metrics answers the metrics token from the secret file, and only it"
  ! compose exec -T libsette test -e /data/secret ||
    fail "the signing secret comes from the secret file (none generated in /data)"
  pass "the signing secret comes from the secret file"
}

# tls HOST PATH [CURL-ARGS]: GET through Caddy, trusting its local CA, with
# HOST resolved to loopback; the status code, the body in $TMP/tls.body.
tls() {
  local host=$1 path=$2
  shift 2
  http -o "$TMP/tls.body" --cacert "$TMP/root.crt" --resolve "$host:$HTTPS_PORT:127.0.0.1" \
    "$@" "https://$host:$HTTPS_PORT$path"
}

same_json() {
  diff <(jq -S . "$1") <(jq -S . "$2") >/dev/null || fail "$3: answers differ"
}

check_proxy() {
  for _ in $(seq 1 30); do
    compose exec -T caddy cat /data/caddy/pki/authorities/local/root.crt >"$TMP/root.crt" 2>/dev/null && break
    sleep 1
  done
  grep -q 'BEGIN CERTIFICATE' "$TMP/root.crt" || fail "Caddy made its local CA"
  # Another space, public, with rows of its own.
  cli space create acme --public >/dev/null
  cli db create acme main >/dev/null
  local acme
  acme=$(mint acme root)
  curl -fsS -H "Authorization: Bearer $acme" -H 'Content-Type: application/json' \
    --data '{"table": "things", "rows": [{"id": 1, "name": "anvil"}, {"id": 2, "name": "rocket"}], "pk": "id"}' \
    "$BASE/acme/main/-/create" >/dev/null || fail "rows in space acme"

  local status=000
  for _ in $(seq 1 20); do
    status=$(tls "demo.$DOMAIN" /library/books.json?_shape=array)
    [ "$status" = 200 ] && break
    sleep 1
  done
  [ "$status" = 200 ] || fail "https://demo.$DOMAIN answers through Caddy ($status)"
  curl -fsS "$BASE/demo/library/books.json?_shape=array" >"$TMP/books.direct"
  same_json "$TMP/tls.body" "$TMP/books.direct" "demo through Caddy and direct"
  pass "https://demo.$DOMAIN/ (a certificate on demand from Caddy's CA) is the demo space"

  [ "$(tls "acme.$DOMAIN" /main/things.json?_shape=array)" = 200 ] &&
    [ "$(jq -c 'map(.name)' "$TMP/tls.body")" = '["anvil","rocket"]' ] ||
    fail "https://acme.$DOMAIN/ is space acme"
  [ "$(tls "acme.$DOMAIN" /library.json)" = 404 ] || fail "acme's host does not show demo's database"
  pass "https://acme.$DOMAIN/ is space acme, and only acme"

  [ "$(tls "$DOMAIN" /demo/library.json)" = 200 ] || fail "the spaces domain itself, by path"
  pass "https://$DOMAIN/demo/ answers by path"

  local rc=0
  curl -s -o /dev/null --max-time 10 --cacert "$TMP/root.crt" \
    --resolve "nope.$DOMAIN:$HTTPS_PORT:127.0.0.1" "https://nope.$DOMAIN:$HTTPS_PORT/" || rc=$?
  [ "$rc" != 0 ] || fail "a host of no space gets no certificate"
  pass "https://nope.$DOMAIN/ (no such space) gets no certificate (curl exit $rc)"

  local location
  location=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 10 \
    --resolve "demo.$DOMAIN:$HTTP_PORT:127.0.0.1" "http://demo.$DOMAIN:$HTTP_PORT/library.json")
  case "$location" in "308 https://demo.$DOMAIN"*/library.json) ;; *) fail "http redirects to https: $location" ;; esac
  pass "http:// redirects to https://"
}

# load SECONDS: reads (repeated, for cache hits), writes, SQL, CSV, a bad
# token, a wrong password and a rate-limited space, so that every panel has
# something to show.
load() {
  local until=$((SECONDS + $1)) i=0
  while [ "$SECONDS" -lt "$until" ] && [ ! -e "$TMP/stop" ]; do
    i=$((i + 1))
    api -o /dev/null "$BASE/demo/library/books.json?_shape=array" || true
    api -o /dev/null "$BASE/demo/library/authors.json" || true
    api -o /dev/null "$BASE/demo/library/-/query.json?sql=select+count(*)+from+books" || true
    api -o /dev/null "$BASE/demo/library/books.csv" || true
    api -o /dev/null "$BASE/demo/.json" || true
    api -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data "{\"row\": {\"id\": $((90000000 + i)), \"writer\": 90, \"n\": $i}}" \
      "$BASE/demo/ops/events/-/insert" || true
    http -H 'Authorization: Bearer lstok_not_a_token' "$BASE/demo/library.json" >/dev/null
    http "$BASE/quota/" >/dev/null
    http "$BASE/nope/x.json" >/dev/null
    if [ $((i % 5)) = 1 ]; then
      http -X POST --data 'username=root&password=wrong' "$BASE/-/login" >/dev/null
    fi
    sleep 0.1
  done
}

# Prometheus scrapes libsette with the metrics token, and every query of
# every dashboard panel returns a number after some load.
check_monitoring() {
  cli space create quota --public >/dev/null
  cli space set quota --setting rate_limit_anonymous_per_minute 1 >/dev/null
  local load_started=$SECONDS
  load 90 &
  local load_pid=$!
  local job health
  for job in libsette node; do
    for _ in $(seq 1 60); do
      health=$(curl -s "$PROM/api/v1/targets" |
        jq -r --arg job "$job" '.data.activeTargets[] | select(.labels.job == $job) | .health')
      [ "$health" = up ] && break
      sleep 1
    done
    [ "$health" = up ] || fail "Prometheus scrapes $job: $health $(curl -s "$PROM/api/v1/targets" | jq -c '.data.activeTargets[].lastError')"
    pass "Prometheus scrapes $job (target up)"
  done
  # rate() over 1m wants a few scrapes of the load.
  local wait=$((load_started + 50 - SECONDS))
  [ "$wait" -le 0 ] || sleep "$wait"
  local title expr value failed=0 n=0
  while IFS=$'\t' read -r title expr; do
    expr=${expr//\$__rate_interval/1m}
    value=""
    for _ in $(seq 1 15); do
      value=$(curl -s -G --data-urlencode "query=$expr" "$PROM/api/v1/query" |
        jq -r 'select(.status == "success") | [.data.result[].value[1] | select(. != "NaN" and . != "+Inf" and . != "-Inf")] | first // empty')
      [ -n "$value" ] && break
      sleep 2
    done
    n=$((n + 1))
    if [ -z "$value" ]; then
      echo "  no data: $title: $expr" >&2
      failed=$((failed + 1))
    fi
  done < <(jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | [$t, .expr] | @tsv' "$DASHBOARD")
  kill "$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  [ "$failed" = 0 ] || fail "$failed of $n dashboard queries return no data"
  pass "all $n queries of the dashboard's panels return data from Prometheus"
}

# `compose stop` during inserts: libsette drains and exits 0, and every
# acknowledged row is there after `up`.
check_graceful_stop() {
  start_writers 1 2 3
  sleep 3
  local t0=$SECONDS
  compose stop libsette >/dev/null 2>&1
  local took=$((SECONDS - t0)) code
  code=$(docker inspect -f '{{.State.ExitCode}}' "$(cid libsette)")
  stop_writers
  [ "$code" = 0 ] || fail "libsette exits 0 on SIGTERM (exit $code after $took s)"
  pass "compose stop: libsette drained and exited 0 in $took s"
  up
  check_acked_present "stop under writes" 1 2 3
}

check_down_up() {
  dump_events >"$TMP/before"
  curl -fsS "$BASE/demo/library/books.json?_shape=array" >"$TMP/books.before"
  compose down >/dev/null 2>&1
  [ -z "$(compose ps -q)" ] || fail "down removed the containers"
  up
  dump_events >"$TMP/after"
  cmp -s "$TMP/before" "$TMP/after" || fail "rows after down and up"
  curl -fsS "$BASE/demo/library/books.json?_shape=array" >"$TMP/books.after"
  same_json "$TMP/books.before" "$TMP/books.after" "books after down and up"
  pass "down, then up: all $(wc -l <"$TMP/after") rows and the token are still there"
}

# `docker kill` (SIGKILL) during inserts, then `up`: no acknowledged row is
# lost. Docker counts a kill as a stop, so the restart policy stays out.
check_kill() {
  start_writers 4 5 6 7
  sleep 4
  docker kill "$(cid libsette)" >/dev/null
  sleep 1
  stop_writers
  up
  check_acked_present "docker kill under writes" 4 5 6 7
}

# The process dies under writes as in a crash or an OOM kill (SIGKILL from
# outside Docker): `restart: unless-stopped` brings it back by itself.
check_crash() {
  local id pid restarts
  id=$(cid libsette)
  restarts=$(docker inspect -f '{{.RestartCount}}' "$id")
  pid=$(docker inspect -f '{{.State.Pid}}' "$id")
  start_writers 10 11
  sleep 3
  kill -KILL "$pid"
  sleep 2
  wait_healthy
  stop_writers
  [ "$(docker inspect -f '{{.RestartCount}}' "$id")" -gt "$restarts" ] ||
    fail "Docker restarted libsette after it died"
  pass "a crashed libsette is restarted by Docker (restart: unless-stopped) and healthy again"
  check_acked_present "crash under writes" 10 11
}

# A backup taken while writers insert restores, into a new volume, to a
# server that answers as the source did at the backup's moment: per writer,
# a prefix of its rows that holds everything acknowledged before the backup
# began, and all else the same.
check_backup_restore() {
  start_writers 8 9
  sleep 2
  acked 8 9 >"$TMP/acked.before-backup"
  local t0=$SECONDS
  compose exec -T libsette libsette backup /backups/nightly >"$TMP/backup.out" 2>&1 ||
    { cat "$TMP/backup.out" >&2; fail "libsette backup under writes"; }
  local took=$((SECONDS - t0))
  sleep 1
  stop_writers
  pass "libsette backup /backups/nightly under writes took $took s"
  dump_events >"$TMP/source.events"
  api "$BASE/demo/library/books.json?_shape=array" >"$TMP/source.books"
  curl -fsS "$BASE/acme/main/things.json?_shape=array" >"$TMP/source.things"

  compose down >/dev/null 2>&1
  docker volume rm "${PROJECT}_libsette-data" >/dev/null
  compose run --rm --no-deps -T libsette restore /backups/nightly >"$TMP/restore.out" 2>&1 ||
    { cat "$TMP/restore.out" >&2; fail "libsette restore into a fresh volume"; }
  up
  pass "restored into a fresh volume; the restored server is healthy"

  dump_events >"$TMP/restored.events"
  local lost
  lost=$(comm -23 "$TMP/acked.before-backup" <(cut -d, -f1 "$TMP/restored.events" | sort) | wc -l)
  [ "$lost" = 0 ] || fail "$lost rows acknowledged before the backup began are not in it"
  # The source's rows up to each writer's last restored row, and no other.
  awk -F, 'NR == FNR { if ($3 > last[$2]) last[$2] = $3; next }
           !($2 in last) || $3 <= last[$2]' "$TMP/restored.events" "$TMP/source.events" |
    sort >"$TMP/source.at-backup"
  cmp -s "$TMP/source.at-backup" "$TMP/restored.events" ||
    fail "the restored rows are the source's at one moment ($(diff "$TMP/source.at-backup" "$TMP/restored.events" | head -5))"
  api "$BASE/demo/library/books.json?_shape=array" >"$TMP/restored.books"
  same_json "$TMP/source.books" "$TMP/restored.books" "books after restore"
  curl -fsS "$BASE/acme/main/things.json?_shape=array" >"$TMP/restored.things"
  same_json "$TMP/source.things" "$TMP/restored.things" "space acme after restore"
  pass "the restored server answers as the source did at the backup ($(wc -l <"$TMP/restored.events") rows, $(wc -l <"$TMP/acked.before-backup") acknowledged before it began); tokens still work"

  # One space out, and in again under another name, on the running server.
  cli backup /backups/acme --space acme >/dev/null
  cli restore /backups/acme --space acme2 >/dev/null
  local acme2
  acme2=$(mint acme2 root)
  curl -fsS -H "Authorization: Bearer $acme2" "$BASE/acme2/main/things.json?_shape=array" >"$TMP/acme2.things" ||
    fail "space acme2 answers"
  same_json "$TMP/source.things" "$TMP/acme2.things" "space acme exported and imported as acme2"
  pass "backup --space acme, then restore --space acme2 on the running server: the same rows"
}
