#!/usr/bin/env bash
# Serving speed of the Interleukin 2 page beside this machine's limits and a peer, in ONE run, as ratios.
#
# Starts, on 127.0.0.1 only, each in its own throw-away state:
#   site     this project in production mode: gunicorn (2 sync workers), PostgreSQL (database
#            cancerindex_bench_serve, created, migrated, demo loaded, dropped at the end), Redis db 11/12
#   nginx    nginx serving the site page's bytes as a static file (the limit)        ../shared/bench/nginx-static.sh
#   floor    bare gunicorn (2 sync workers) returning the same bytes (the Python floor) ../shared/bench/wsgi-floor.sh
#   wagtail  the Wagtail peer with an equivalent page                             ../shared/bench/peer-wagtail/setup.sh
#   django   the site's own stack (settings, middleware, gunicorn) answering the page's saved bytes from memory,
#            none of the page's work (benchmarks/django_floor): what the uncached page costs is its gap to this
# then runs compare.sh (wrk) against each and prints every goal's ratio. Figures, never assertions.
#
# The cached goals are measured when their pieces are there. The Django (Redis) page cache is switched by
# PAGE_CACHE (settings): the site above runs with PAGE_CACHE=0, a second one (8941) with PAGE_CACHE=1, compared
# with the bare gunicorn floor; Varnish (deploy/varnish/start, 8942) in front of that one, compared with nginx.
# Overrides: SITE_CACHE_ENV="NAME=VALUE ..." (how to turn the page cache on), EDGE_URL=http://... (an edge
# already running, instead of starting Varnish).
# Environment: SECS (10), CONNS (32), THREADS (2), BENCH_DIR (/work/shared/bench), PG (postgres@127.0.0.1:5432),
# REDIS (redis://127.0.0.1:6379). Ports: 8940 (site), 8941 (site, page cache), 8942 (Varnish), 8960 (wagtail),
# 8943 (django), 8961 (floor), 8970 (nginx).
# Needs: apt-get install -y nginx-light wrk bc (and curl, psql, redis-cli; PostgreSQL and Redis running).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-/work/shared/bench}
SECS=${SECS:-10}; export SECS CONNS=${CONNS:-32} THREADS=${THREADS:-2}
PG=${PG:-postgres@127.0.0.1:5432}; REDIS=${REDIS:-redis://127.0.0.1:6379}
DB=cancerindex_bench_serve; PAGE=/treatments/biological-therapies/interleukin-2/
RUN=$(mktemp -d /tmp/cancerindex-serve.XXXXXX)

missing=""
for tool in nginx wrk bc curl psql redis-cli; do command -v $tool >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  echo "missing:$missing. Install them with: apt-get install -y nginx-light wrk bc curl postgresql-client redis-tools" >&2
  exit 2
fi
pg_isready -h "${PG#*@}" >/dev/null 2>&1 || pg_isready -h 127.0.0.1 >/dev/null || { echo "PostgreSQL is not up" >&2; exit 2; }
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis is not up at $REDIS" >&2; exit 2; }

cleanup() {
  for pidfile in "$RUN"/site*.pid /tmp/bench-floor/pid /tmp/bench-nginx/nginx.pid /tmp/bench-wagtail/gunicorn.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  psql "postgres://$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$RUN"
}
trap cleanup EXIT

export DATABASE_URL="postgres://$PG/$DB" REDIS_URL="$REDIS/11" CACHE_URL="$REDIS/12" SECRET_KEY=bench-only
export STATIC_ROOT="$RUN/static" DEBUG=0
redis-cli -u "$REDIS/12" flushdb >/dev/null
psql "postgres://$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql "postgres://$PG/postgres" -qc "CREATE DATABASE $DB" >/dev/null
cd "$ROOT"
echo "preparing: migrate, collectstatic, load_demo into $DB" >&2
.venv/bin/python manage.py migrate -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py load_demo -v0 >/dev/null

start_site() {  # NAME PORT [ENV...]: gunicorn, 2 sync workers as the peer and the floor run (no access log)
  local name=$1 port=$2; shift 2
  env "$@" .venv/bin/gunicorn cancerindex.wsgi -b "127.0.0.1:$port" -w 2 --daemon --pid "$RUN/$name.pid" \
    --error-logfile "$RUN/$name.log"
  for _ in $(seq 1 60); do curl -sf -o /dev/null "http://127.0.0.1:$port$PAGE" && return; sleep 0.5; done
  echo "$name did not start: $(tail -5 "$RUN/$name.log")" >&2; exit 1
}
# The page cache's switch (treatments/cache.py): PAGE_CACHE=0 off, on by default.
if grep -q '"PAGE_CACHE"' cancerindex/settings.py; then UNCACHED=PAGE_CACHE=0; SITE_CACHE_ENV=${SITE_CACHE_ENV:-PAGE_CACHE=1}
else UNCACHED=; fi
start_site site 8940 $UNCACHED
SITE=http://127.0.0.1:8940$PAGE
if [ -n "${SITE_CACHE_ENV:-}" ]; then
  # shellcheck disable=SC2086 # NAME=VALUE words
  start_site site-cached 8941 $SITE_CACHE_ENV
fi
if [ -z "${EDGE_URL:-}" ] && [ -x deploy/varnish/start ] && command -v varnishd >/dev/null; then
  # The edge as `make stack` runs it: Varnish (deploy/varnish) in front of the cached site, or the uncached one.
  backend=8940; [ -n "${SITE_CACHE_ENV:-}" ] && backend=8941
  EDGE_LISTEN=127.0.0.1:8942 WEB_BIND=127.0.0.1:$backend VARNISH_WORKDIR="$RUN/varnish" \
    deploy/varnish/start >"$RUN/varnish.log" 2>&1 &
  echo $! >"$RUN/site-edge.pid"
  for _ in $(seq 1 40); do curl -sf -o /dev/null "http://127.0.0.1:8942$PAGE" && break; sleep 0.25; done
  EDGE_URL=http://127.0.0.1:8942$PAGE
fi
echo "starting nginx, the bare gunicorn floor and the Wagtail peer (its first build takes a minute)" >&2
NGINX=$("$BENCH/nginx-static.sh" "$SITE" 8970)
WAGTAIL=$(env -u DATABASE_URL -u REDIS_URL -u CACHE_URL -u SECRET_KEY -u STATIC_ROOT -u DEBUG \
  "$BENCH/peer-wagtail/setup.sh" 8960 | tail -1)
FLOOR=$(GUNICORN_VENV=/tmp/bench-wagtail/venv "$BENCH/wsgi-floor.sh" "$SITE" 8961)
curl -sf "$SITE" -o "$RUN/page.html"
start_site site-django 8943 $UNCACHED PYTHONPATH=benchmarks DJANGO_SETTINGS_MODULE=django_floor.settings \
  FLOOR_PAGE="$RUN/page.html"
targets=(nginx="$NGINX" floor="$FLOOR" django="http://127.0.0.1:8943$PAGE" site="$SITE" wagtail="$WAGTAIL")
[ -n "${SITE_CACHE_ENV:-}" ] && targets+=(site-cached="http://127.0.0.1:8941$PAGE")
[ -n "${EDGE_URL:-}" ] && targets+=(edge="$EDGE_URL")

for url in "${targets[@]}"; do  # warm every server up (imports, connections, template caches)
  for _ in $(seq 1 20); do curl -s -o /dev/null "${url#*=}"; done
done
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(date -u +%F)"
echo "wrk: ${SECS}s, $CONNS connections, $THREADS threads per target, one target at a time"
"$BENCH/compare.sh" "${targets[@]}" | tee "$RUN/compare.txt"
"$ROOT/.venv/bin/python" "$ROOT/benchmarks/goals.py" "$RUN/compare.txt"
