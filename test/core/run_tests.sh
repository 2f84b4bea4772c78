#!/bin/sh
# run_tests.sh -- run the engine's unit tests and report.
#
#   ./run_tests.sh [BUILD_DIR]     (default: build)
#   RNN_ISAS="generic avx2" ./run_tests.sh BUILD_DIR
#
# Runs every BUILD_DIR/test_* from this directory with one BLAS thread,
# prints their TAP lines, and exits non-zero if any test binary fails or any
# "not ok" line appears.  $RUNNER (e.g. valgrind ...) prefixes each binary.
# With RNN_ISAS, every binary runs once per code path named there, with
# RNN_ISA set to it (the engine's kernels, src/core/kernels.h); test_isa
# fails if the path in use is not the one forced.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$here/$build ;; esac
cd "$here" || exit 2

OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS
RNN_FIXTURES=$here/fixtures
export RNN_FIXTURES

status=0
total_ok=0
total_notok=0
for isa in ${RNN_ISAS:-default}; do
    for t in "$build"/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        if [ "$isa" != default ]; then
            RNN_ISA=$isa
            export RNN_ISA
            name="$name [$isa]"
        fi
        echo "# === $name"
        out=$(${RUNNER:-} "$t" 2>&1)
        rc=$?
        printf '%s\n' "$out"
        n_ok=$(printf '%s\n' "$out" | grep -c '^ok ')
        n_notok=$(printf '%s\n' "$out" | grep -c '^not ok ')
        total_ok=$((total_ok + n_ok))
        total_notok=$((total_notok + n_notok))
        if [ $rc -ne 0 ] || [ "$n_notok" -ne 0 ]; then
            echo "# $name: FAILED (exit $rc, $n_notok not ok, $n_ok ok)"
            status=1
        else
            echo "# $name: passed ($n_ok ok)"
        fi
    done
done
if [ $total_ok -eq 0 ] && [ $total_notok -eq 0 ]; then
    echo "# no test binaries in $build"
    exit 2
fi
echo "# total: $total_ok ok, $total_notok not ok"
exit $status
