#!/usr/bin/env bash
# test/bench/m4_engine.sh -- M4 Hourly on the engine alone (m4_engine.c, no
# PostgreSQL, no lock): build, train on the training file less its last 48
# hours (validation, the default) or on all of it (--test), score sMAPE /
# MASE / OWA against Naive2 and the 80% / 95% interval coverage, with the
# conformal widths pooled by window and weighted by series.
#
#   test/bench/m4_engine.sh [--test] [TAG]       options as environment
#   EMA=0.999 L1=1 EPOCHS=30 test/bench/m4_engine.sh l1_avg
#
# Validation uses VF=0.075 unless given (652-hour series keep 48 hours, as
# test/bench/m4.py --validate does).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
core=$here/../../src/core
data=${RNN_DATA_DIR:-$here/../../../shared/data}/m4
mode=val
[ "${1:-}" = "--test" ] && { mode=test; shift; }
tag=${1:-run}
out=${OUT:-/tmp/m4_engine}
mkdir -p "$out"
cc -std=gnu11 -O2 -march=native -fno-math-errno -Wno-psabi -I"$core" -o "$out/m4_engine" \
    "$here/m4_engine.c" \
    $(for f in alloc rng blas model codec kernels kernels_generic kernels_avx2 \
               kernels_avx512 network loss optim infer fit fit_stream tokenizer ngram; do echo "$core/$f.c"; done) \
    -lopenblas -lm
[ $mode = val ] && export VF=${VF:-0.075}
/usr/bin/python3 "$here/m4_engine_score.py" input "$mode" "$data" "$out/$tag.in"
OPENBLAS_NUM_THREADS=1 "$out/m4_engine" "$out/$tag.in" "$out/$tag.fc" "$out/$tag.res"
/usr/bin/python3 "$here/m4_engine_score.py" score "$mode" "$data" "$out/$tag"
