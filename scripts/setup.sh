#!/usr/bin/env bash
# The one set-up command: from a fresh Debian or Ubuntu machine with Node 20+ to a
# built workspace, then a smoke run of the demo service. Safe to run again (every step
# skips what is done).
#
#   bash scripts/setup.sh            set up, then `pnpm demo:smoke`: the demo service
#                                    (examples/express-app) started on a free loopback port with
#                                    a temporary data folder, every route driven over HTTP, a
#                                    SIGTERM; a few seconds, one summary line
#   bash scripts/setup.sh --no-demo  set up only
#
# What it installs, and why:
#   - a deb-src entry for the distribution's own archive, plus autoconf, automake,
#     libtool: the addon vendors libsodium, built from the distribution's source
#     package (checksum-pinned, security patches applied), never from a git checkout;
#   - g++, make, python3: node-gyp's toolchain;
#   - clang and libclang-rt-dev: the fuzz targets of packages/core-native (its
#     scripts/fuzz.mjs, run by the tests) need clang's libFuzzer, ASan and UBSan runtimes,
#     which Debian ships apart from clang, in libclang-rt-dev (older Ubuntu releases have no
#     such package: their clang carries the runtimes);
#   - age (the reference age CLI and age-keygen): core-native's age tests make their
#     encrypted files with it and check that it decrypts what strongroom writes;
#   - softhsm2 and opensc: the PKCS#11 tests of packages/core-native (pkcs11Decrypt) run
#     against a real SoftHSM2 token made in a temporary folder; opensc's pkcs11-tool writes
#     its AES key (softhsm2-util imports only key pairs);
#   - python3-venv and moto (from PyPI, into a virtualenv in .tools/moto, git-ignored):
#     the AWS sources of packages/kms-loaders are tested against moto's server, a real
#     implementation of the Secrets Manager and KMS protocols. Debian's Python refuses a
#     system-wide pip install (PEP 668), hence the virtualenv;
#   - pnpm 12.21.0 (the version pinned in package.json) through npm.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.21.0
MOTO_VERSION=5.2.5   # the version the AWS tests were written against
MOTO_DIR=.tools/moto
RUN_DEMO=1
[ "${1:-}" = "--no-demo" ] && RUN_DEMO=0

say() { printf '[setup] %s\n' "$*"; }
fail() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || fail "not root and no sudo: run this as root, or install the packages listed at the top of scripts/setup.sh by hand"
  SUDO="sudo"
fi

# Node >= 20.19 (the ESM-only dependencies of the adapters need it).
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || fail "Node $(node -v 2>/dev/null || echo missing) is too old: strongroom needs Node 20.19 or newer"

# The cache is ready when its stamp records the configure flags the build script uses now
# (libsodium.mjs's libsodiumReady): a cache built with other flags is rebuilt from source.
libsodium_ready() {
  node --input-type=module -e "import('./packages/core-native/scripts/libsodium.mjs').then((m) => process.exit(m.libsodiumReady() ? 0 : 1))" 2>/dev/null
}

enable_source_archive() {
  if [ -n "$(apt-cache showsrc libsodium 2>/dev/null | head -n 1)" ]; then return; fi
  say "enabling the distribution's source archive (deb-src) for libsodium"
  local list=/etc/apt/sources.list.d/strongroom-src.sources
  local tmp
  tmp=$(mktemp)
  # deb822 stanzas of the distribution's own archives, retyped as deb-src.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$list" ] || continue
    awk 'BEGIN { RS=""; ORS="\n\n" }
         /URIs:[^\n]*(debian\.org|ubuntu\.com)/ && /Types:[^\n]*deb/ {
           gsub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >> "$tmp"
  done
  # One-line sources.list entries.
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb [^#]*(debian\.org|ubuntu\.com)' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "$tmp.list" || true
    if [ -s "$tmp.list" ]; then $SUDO cp "$tmp.list" /etc/apt/sources.list.d/strongroom-src.list; fi
    rm -f "$tmp.list"
  fi
  if [ -s "$tmp" ]; then $SUDO cp "$tmp" "$list"; fi
  rm -f "$tmp"
}

if command -v apt-get >/dev/null; then
  if ! libsodium_ready; then
    enable_source_archive
    say "apt-get update"
    $SUDO apt-get update -qq
  fi
  missing=()
  for pkg in autoconf automake libtool make g++ python3 python3-venv patch xz-utils util-linux clang libclang-rt-dev softhsm2 opensc age; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock | head -n 1)" ] || $SUDO apt-get update -qq
    wanted=()
    for pkg in "${missing[@]}"; do
      # Where the distribution has no libclang-rt-dev, clang carries the runtimes.
      [ "$pkg" = libclang-rt-dev ] && ! apt-cache show "$pkg" >/dev/null 2>&1 && continue
      wanted+=("$pkg")
    done
    if [ ${#wanted[@]} -gt 0 ]; then
      say "installing ${wanted[*]}"
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
    fi
  fi
else
  say "not a Debian/Ubuntu system: install g++, make, python3, autotools, clang with its"
  say "libFuzzer and sanitizer runtimes (compiler-rt), SoftHSM2, OpenSC and the age CLI yourself, and point"
  say "STRONGROOM_LIBSODIUM_TARBALL at an official libsodium-1.0.18.tar.gz"
fi

# moto, for the tests of the AWS sources (packages/kms-loaders/test/moto.ts finds it here).
# The virtualenv is made from the system's Python (/usr/bin/python3 where there is one), not
# from whatever python3 comes first on PATH: a Python under /root (pyenv, say) cannot be run
# by the unprivileged user who runs the suite a second time (scripts/test-unprivileged.sh).
MOTO_PYTHON=$(command -v /usr/bin/python3 || command -v python3 || true)
if [ "$("$MOTO_DIR/bin/python" -c 'import importlib.metadata as m, sys; print(m.version("moto"), sys.base_prefix)' 2>/dev/null || true)" != "$MOTO_VERSION $("$MOTO_PYTHON" -c 'import sys; print(sys.base_prefix)' 2>/dev/null || true)" ]; then
  [ -n "$MOTO_PYTHON" ] || fail "python3 is missing: install it (and python3-venv) for moto, the AWS tests' server"
  say "installing moto $MOTO_VERSION into $MOTO_DIR (a virtualenv of $MOTO_PYTHON)"
  rm -rf "$MOTO_DIR"
  "$MOTO_PYTHON" -m venv "$MOTO_DIR" || fail "python3 -m venv failed: install python3-venv (Debian, Ubuntu) and run this again"
  "$MOTO_DIR/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" \
    || fail "pip could not install moto[server]==$MOTO_VERSION from PyPI into $MOTO_DIR"
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION"
  $SUDO npm install -g --no-audit --no-fund "pnpm@$PNPM_VERSION" >/dev/null
fi

export TURBO_TELEMETRY_DISABLED=1
say "pnpm install (builds libsodium and the native addon on first run)"
# The repository needs the addon: a failed native build fails the set-up here.
STRONGROOM_REQUIRE_NATIVE=1 pnpm install --frozen-lockfile
say "pnpm build"
pnpm run build
if [ "$RUN_DEMO" = 1 ]; then
  say "smoke run of the demo service (pnpm demo:smoke)"
  pnpm run demo:smoke
fi
say "done. Run every test with: pnpm test; start the demo service with: pnpm demo"
