#!/usr/bin/env bash
# test/pq/blas_core.sh -- OpenBLAS runs kernels that fit the CPU.
#
# A DYNAMIC_ARCH OpenBLAS that does not know the CPU's model number falls
# back to its SSE3 "Prescott" kernels (Debian 12's 0.3.21 on Sapphire
# Rapids: half the sgemm speed).  rnn_ext then loads it again with the core
# that fits the CPU's features (src/core/blas.c), unless OPENBLAS_CORETYPE
# is set.  Checked through rnn.isa_info()'s blas_core, in backends started
# with and without OPENBLAS_CORETYPE, on the server of PGHOST/PGPORT:
#
#   1. the server's own environment: with OPENBLAS_CORETYPE set, OpenBLAS
#      runs that core; without it, on a CPU with AVX2+FMA, a core with
#      AVX2 or wider kernels;
#   2. with RNN_ISA_MAX=avx2 (a CPU without AVX-512) the same holds;
#   3. a core the user pins is kept, even one below the CPU (Prescott).
#
# 2 and 3 need a server started with that environment: a second server on
# a throwaway data directory, run as the postgres user.
# Prints TAP.
set -uo pipefail
. "$(dirname "$0")/tap.bash"

DB=rnn_blas_$$
BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$BIN/postgres" ] || BIN=/usr/lib/postgresql/15/bin
TMP=
cleanup() {
    dropdb --if-exists "$DB" 2>/dev/null
    if [ -n "$TMP" ]; then
        su postgres -c "$BIN/pg_ctl -D $TMP/data -m immediate stop" >/dev/null 2>&1
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

echo "1..5"
createdb "$DB" || { echo "Bail out! createdb failed"; exit 1; }
q "CREATE EXTENSION rnn_ext" >/dev/null
info=$(q "SELECT cpu_supports[cardinality(cpu_supports)] || '|' || coalesce(blas_core, 'NULL') FROM rnn.isa_info()")
best=${info%%|*}
core=${info#*|}
echo "# this server: best path $best, OpenBLAS core $core, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"

# expect_core BEST CORE SETTING: what blas_core should be
wide_ok() {
    case "$1" in Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids|Excavator) return 0 ;; esac
    return 1
}
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    check "OPENBLAS_CORETYPE set: OpenBLAS runs that core" \
        "$(echo "$OPENBLAS_CORETYPE" | tr A-Z a-z)" "$(echo "$core" | tr A-Z a-z)"
elif [ "$best" = generic ]; then
    tap OK "# SKIP the CPU has no AVX2+FMA: OpenBLAS's own choice stands ($core)"
elif wide_ok "$core"; then
    tap OK "CPU with $best: OpenBLAS runs AVX2-or-wider kernels ($core)"
else
    tap FAIL "CPU with $best: OpenBLAS runs AVX2-or-wider kernels ($core)"
fi

# A second server whose environment we choose.
TMP=$(mktemp -d /tmp/rnn_blas.XXXXXX)
chown postgres "$TMP"
PORT2=5432   # only its socket in $TMP is used: no TCP, no clash
su postgres -c "$BIN/initdb -D $TMP/data -A trust" >/dev/null 2>&1 || { echo "Bail out! initdb failed"; exit 1; }

# core_with ENV...: blas_core of a server started with ENV (VAR=value words)
core_with() {
    su postgres -c "$BIN/pg_ctl -D $TMP/data -m fast stop" >/dev/null 2>&1
    su postgres -c "env -u OPENBLAS_CORETYPE $* $BIN/pg_ctl -D $TMP/data -l $TMP/log -w \
        -o '-p $PORT2 -k $TMP -c listen_addresses=' start" >/dev/null 2>&1 || { echo "start failed"; return; }
    psql -X -q -At -h "$TMP" -p "$PORT2" -U postgres -d postgres \
        -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS rnn_ext" \
        -c "SELECT cpu_supports[cardinality(cpu_supports)] || '|' || coalesce(blas_core, 'NULL') FROM rnn.isa_info()" 2>&1
}

got=$(core_with)
if [ "${got%%|*}" = generic ]; then
    tap OK "# SKIP no AVX2+FMA"
else
    wide_ok "${got#*|}" && tap OK "OPENBLAS_CORETYPE unset: AVX2-or-wider kernels (${got#*|})" \
        || tap FAIL "OPENBLAS_CORETYPE unset: AVX2-or-wider kernels ($got)"
fi
got=$(core_with RNN_ISA_MAX=avx2)
case "$got" in
    generic\|*) tap OK "# SKIP no AVX2+FMA" ;;
    avx2\|*) wide_ok "${got#*|}" && tap OK "a CPU capped at AVX2: AVX2-or-wider kernels (${got#*|})" \
                 || tap FAIL "a CPU capped at AVX2: AVX2-or-wider kernels ($got)" ;;
    *) tap FAIL "RNN_ISA_MAX=avx2 caps the best path at avx2 ($got)" ;;
esac
check "a core the user pins is kept, even one below the CPU" "prescott" \
    "$(core_with OPENBLAS_CORETYPE=Prescott | cut -d'|' -f2 | tr A-Z a-z)"
check "what the user pins is what runs" "haswell" \
    "$(core_with OPENBLAS_CORETYPE=Haswell | cut -d'|' -f2 | tr A-Z a-z)"
[ "$fails" -eq 0 ]
