#!/usr/bin/env bash
# Lighthouse's four scores (performance, accessibility, best practices, SEO) on the readers' pages: home,
# a section, the Interleukin 2 page, search, a tag, the A-Z, About. Figures to read, never a pass or fail
# (the browser tests in tests/browser/test_accessibility.py are the gate). The search page scores SEO 66
# on purpose: results pages carry noindex (is-crawlable).
#
# usage: benchmarks/lighthouse.sh [BASE_URL] [mobile|desktop]
#   BASE_URL defaults to http://127.0.0.1:8000, the site `make run` serves (with the demo content loaded).
# Each page goes through ../shared/bench/webcheck.sh (BENCH_DIR to point elsewhere), which installs
# lighthouse 12.2.3 and axe-core with npm into /tmp/lh (LH_DIR) the first time and drives Debian's Chromium
# (/usr/bin/chromium). Needs node and npm (apt-get install -y nodejs npm chromium). About 15 s a page.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
BASE=${1:-http://127.0.0.1:8000}; BASE=${BASE%/}
FORM=${2:-mobile}
PAGES=(
  /
  /treatments/biological-therapies/
  /treatments/biological-therapies/interleukin-2/
  "/search/?q=aldesleukin"
  /tags/cytokine/
  /a-z/
  /about/
)

[ -x /usr/bin/chromium ] || { echo "needs /usr/bin/chromium: apt-get install -y chromium" >&2; exit 1; }
command -v npm >/dev/null || { echo "needs node and npm: apt-get install -y nodejs npm" >&2; exit 1; }
[ -f "$BENCH/webcheck.sh" ] || { echo "no webcheck.sh in $BENCH: set BENCH_DIR" >&2; exit 1; }
curl -fsS -o /dev/null "$BASE/" || { echo "nothing answers at $BASE/: start the site (make run)" >&2; exit 1; }

# Only webcheck.sh's Lighthouse line: its axe step injects a <script> tag, which the site's Content-Security-Policy
# (script-src 'self') refuses, so it reports "axe is not defined". axe-core runs in the browser tests instead.
for path in "${PAGES[@]}"; do
  printf '%-48s ' "$path"
  { bash "$BENCH/webcheck.sh" "$BASE$path" "$FORM" 2>&1 || true; } | grep '^lighthouse' || echo "lighthouse: no report"
done
