#!/usr/bin/env bash
# The quick suite (this machine's Node, once) as a user who is not root, with the limits
# such a user gets by default: what a new contributor sees. CI runs it after `pnpm test`
# so that the suite stays green without root's CAP_IPC_LOCK, CAP_SYS_PTRACE and raised
# limits. Run it as root: it creates the user (`strongroom-ci`, or STRONGROOM_TEST_USER)
# and works on a copy of the built tree that the user owns.
#
#   bash scripts/test-unprivileged.sh     ends with "N passed, N failed, N skipped"
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0 TURBO_TELEMETRY_DISABLED=1

say() { printf '[unprivileged] %s\n' "$*"; }
fail() {
  say "error: $*"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
}

[ "$(id -u)" = 0 ] || fail "run this as root: it creates a user and runs the suite as that user"
command -v runuser >/dev/null || fail "runuser (util-linux) is missing"
user=${STRONGROOM_TEST_USER:-strongroom-ci}
if ! id "$user" >/dev/null 2>&1; then
  say "creating the user $user"
  useradd --create-home --shell /bin/bash "$user" || fail "could not create the user $user"
fi

# A copy of the built tree (dependencies, dist, the addon) that the user owns: the suite
# writes caches and builds testkit's fault shim next to its sources.
work=$(mktemp -d /tmp/strongroom-unprivileged-XXXXXX)
trap 'rm -rf "$work"' EXIT
tar --exclude=./.git --exclude=./.turbo --exclude=./.test-results -cf - . | tar -C "$work" -xf - \
  || fail "could not copy the tree to $work"
mkdir -p "$work/.test-results"
chown -R "$user:" "$work"
chmod 755 "$work"
report="$work/.test-results/unprivileged.json"

# The limits an ordinary user has by default: at most 8 MiB of locked memory (the kernel's
# default, and Debian's) and core files off; lowered here if this root shell raised them.
as_user='
limit=$(ulimit -l)
if [ "$limit" = unlimited ] || [ "$limit" -gt 8192 ]; then ulimit -S -l 8192; fi
ulimit -S -c 0
printf "[unprivileged] as %s: locked memory %s KiB, core files %s\n" "$(id -un)" "$(ulimit -l)" "$(ulimit -c)"
exec node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$REPORT"
'
runuser -u "$user" -- env -C "$work" HOME="$(getent passwd "$user" | cut -d: -f6)" NO_COLOR=1 FORCE_COLOR=0 \
  REPORT="$report" bash -c "$as_user"
status=$?
if [ -f "$report" ]; then
  read -r p f s < <(node -e 'const r = require(process.argv[1]);
    console.log(r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0), r.numPendingTests + r.numTodoTests)' "$report")
else
  p=0 f=1 s=0
fi
[ "$f" -gt 0 ] && status=1
echo "$p passed, $f failed, $s skipped"
exit "$status"
