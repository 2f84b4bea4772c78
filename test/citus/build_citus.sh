#!/usr/bin/env bash
# test/citus/build_citus.sh TARBALL -- build Citus once per tarball and print
# the directory that holds the built install tree.
#
# The install tree (make install DESTDIR=...) is cached outside the clone, in
# $RNN_CITUS_CACHE (default /var/cache/rnn_ext) under citus-<sha256 of the
# tarball>, so a second run, or a second clone, does not rebuild.  The tree is
# complete only when its .complete file exists: an interrupted build is redone.
# Installing the tree into the system PostgreSQL is install_citus.sh's job (it
# needs the shared install lock; building does not).
#
# The unpacked copy gets one fix before make: Citus 13.2.2's
# src/include/pg_version_compat.h defines `static inline bool
# have_createdb_privilege(void)` for PostgreSQL < 16, and Debian's 15.18
# headers now declare `extern bool have_createdb_privilege(void)` in
# commands/dbcommands.h ("static declaration follows non-static
# declaration").  Citus's copy is renamed citus_have_createdb_privilege and an
# object-like macro maps the old name to it; a later extern declaration of
# the same name then takes the earlier static one's internal linkage (C11
# 6.2.2p4), so the fix works whichever header comes first and on every 15.x.
set -euo pipefail

tarball=${1:?usage: build_citus.sh CITUS_TARBALL}
[ -f "$tarball" ] || { echo "error: $tarball not found" >&2; exit 1; }
sha=$(sha256sum "$tarball" | cut -d' ' -f1)
cache=${RNN_CITUS_CACHE:-/var/cache/rnn_ext}/citus-$sha
if [ -f "$cache/.complete" ]; then
    echo "$cache"
    exit 0
fi

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
work=$(mktemp -d /tmp/rnn_citus_build.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "==> building Citus from $tarball (sha256 $sha) in $work" >&2
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)

compat="$src/src/include/pg_version_compat.h"
if grep -q '^have_createdb_privilege(void)' "$compat"; then
    sed -i 's/^have_createdb_privilege(void)$/citus_have_createdb_privilege(void)/' "$compat"
    # The macro goes right after the renamed function's closing brace.
    awk '
        { print }
        /^citus_have_createdb_privilege\(void\)$/ { infn = 1 }
        infn && /^}$/ { print ""; print "#define have_createdb_privilege citus_have_createdb_privilege"; infn = 0 }
    ' "$compat" >"$compat.new"
    mv "$compat.new" "$compat"
fi

(
    cd "$src"
    ./configure PG_CONFIG="$PG_CONFIG" >"$work/configure.log" 2>&1 \
        || { tail -n 30 "$work/configure.log" >&2; exit 1; }
    make -s -j"$(nproc)" >"$work/make.log" 2>&1 \
        || { grep -E 'error|Error' "$work/make.log" | head -n 30 >&2; exit 1; }
    mkdir -p "$work/tree/root"
    make -s install DESTDIR="$work/tree/root" >"$work/install.log" 2>&1 \
        || { tail -n 30 "$work/install.log" >&2; exit 1; }
)
touch "$work/tree/.complete"
# Into place in one rename; a build that finished first (another clone's
# run at the same time) is kept, as is an incomplete leftover removed.
mkdir -p "$(dirname "$cache")"
[ -d "$cache" ] && [ ! -f "$cache/.complete" ] && rm -rf "$cache"
mv -T "$work/tree" "$cache" 2>/dev/null || [ -f "$cache/.complete" ] \
    || { echo "error: could not move the build to $cache" >&2; exit 1; }
echo "==> Citus built into $cache" >&2
echo "$cache"
