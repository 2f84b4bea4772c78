#!/bin/sh
# engine_vs_torch.sh -- training throughput of the rnn_ext engine against
# PyTorch (Debian's python3-torch) on the same models, shapes and thread
# counts, measured side by side in one run.  Prints a table; asserts nothing.
#
#   test/bench/engine_vs_torch.sh                 all shapes, 1 and 2 threads
#   SECONDS_PER=5 THREADS="1 2" SHAPES="lstm64" PATHS="avx2" test/bench/engine_vs_torch.sh
#
# The engine runs once per code path of its kernels that this CPU supports
# (PATHS, default all of them: generic, avx2, avx512), built without -march
# as a package is, and once built with -march=native on its best path; each
# row says which.  On an AVX-512 machine this measures the AVX2 path too:
# for each path, OpenBLAS (OPENBLAS_CORETYPE) and PyTorch (ATEN_CPU_CAPABILITY)
# are pinned to the same ISA for both sides, as on a machine that has no more.
#
# Shapes (engine_bench.c / torch_bench.py):
#   lstm64    LSTM hidden 64, seq 96, batch 64, input 1, regression head 24
#   bigru128  bidirectional GRU, embedding 128 (vocab 20000), hidden 128,
#             seq 40, batch 50, 2-class head on last-step pooling (h_n)
#   lstm512   LSTM hidden 512, seq 64, batch 64, input 32 (GEMM-bound)
# One step = forward + loss + backward + clip_grad_norm(1.0) + dense Adam.
# Both sides use the same OpenBLAS; OPENBLAS_NUM_THREADS (and
# torch.set_num_threads / rnn_blas_set_threads) set the thread count, and any
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the environment is left as it is.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# ENGINE_CORE: another copy of src/core (e.g. a git archive of an older
# commit, from the one with kernels.c on) to measure it with the same driver
core=${ENGINE_CORE:-$root/src/core}
build=${BUILD_DIR:-$here/build}
py=${TORCH_PYTHON:-/usr/bin/python3}
threads_list=${THREADS:-1 2}
shapes=${SHAPES:-lstm64 bigru128 lstm512}
secs=${SECONDS_PER:-4}
# The engine is built twice: as a portable package is (no -march), whose
# kernels run on every code path this CPU supports (RNN_ISA: generic, avx2,
# avx512; src/core/kernels.h), and with -march=native (the default make),
# whose kernels take the best path.  Keep the flags in step with
# test/core/Makefile and the top-level Makefile (OPTFLAGS, src/core/%.o).
ENGINE_CFLAGS=${ENGINE_CFLAGS:--O2 -fno-math-errno -Wno-psabi}
NATIVE_CFLAGS=${NATIVE_CFLAGS:-$ENGINE_CFLAGS -march=native}

mkdir -p "$build"
build_engine() {
    # shellcheck disable=SC2086
    cc -std=c11 $1 -g -I"$core" -o "$2" \
        "$here/engine_bench.c" \
        $(for f in alloc rng blas model codec kernels kernels_generic kernels_avx2 \
                   kernels_avx512 network loss optim infer fit fit_stream tokenizer ngram; do echo "$core/$f.c"; done) \
        -lopenblas -lm
}
build_engine "$ENGINE_CFLAGS" "$build/engine_bench"
build_engine "$NATIVE_CFLAGS" "$build/engine_bench_native"
paths=${PATHS:-$("$build/engine_bench" paths)}

out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== configuration"
echo "engine, portable: cc $ENGINE_CFLAGS; native: cc $NATIVE_CFLAGS; $(cc --version | head -1)"
echo "engine code paths this CPU supports: $("$build/engine_bench" paths)(run: $paths)"
echo "engine OpenBLAS: $("$build/engine_bench" config)"
echo "env: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-<unset>}"
OPENBLAS_NUM_THREADS=1 "$py" "$here/torch_bench.py" config
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores online"
echo

for n in $threads_list; do
    OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n "$build/engine_bench" sgemm "$n" "$secs" >>"$out"
done
# path_env PATH: the environment of a machine whose best ISA is PATH, for
# both sides: OpenBLAS's kernels (it picks SkylakeX here otherwise) and
# PyTorch's own CPU kernels (ATEN_CPU_CAPABILITY) are pinned to the same
# level as the engine's (RNN_ISA).  An OPENBLAS_CORETYPE already set wins.
path_env() {
    case $1 in
        generic) echo "RNN_ISA=generic OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Nehalem} ATEN_CPU_CAPABILITY=default" ;;
        avx2)    echo "RNN_ISA=avx2 OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} ATEN_CPU_CAPABILITY=avx2" ;;
        avx512)  echo "RNN_ISA=avx512 OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} ATEN_CPU_CAPABILITY=avx512" ;;
    esac
}
for p in $paths; do echo "path $p: $(path_env "$p")"; done
echo

for s in $shapes; do
    for n in $threads_list; do
        for p in $paths; do
            # shellcheck disable=SC2046
            env $(path_env "$p") OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n \
                "$py" "$here/torch_bench.py" "$s" "$n" "$secs" | sed "s/^RESULT torch /RESULT torch-$p /" >>"$out"
            # shellcheck disable=SC2046
            env $(path_env "$p") OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n \
                "$build/engine_bench" "$s" "$n" "$secs" | sed 's/^RESULT engine-/RESULT portable-/' >>"$out"
        done
        OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n \
            "$build/engine_bench_native" "$s" "$n" "$secs" | sed 's/^RESULT engine-/RESULT native-/' >>"$out"
    done
done

echo "== OpenBLAS sgemm (C = A.B^T), GFLOP/s of wall clock and of process CPU time, median"
awk '$1 == "SGEMM" { printf "  %-16s %d thr  %8.1f wall  %8.1f cpu\n", $2, $3, $4, $5 }' "$out"
echo
echo "== training throughput, median step (forward+backward+clip+Adam)"
awk '
$1 == "SGEMM" && $2 == "512x512x512" { peak[$3] = $4 }
$1 == "SGEMM" && $2 == "4096x2048x512" { big[$3] = $4 }
$1 == "RESULT" { key = $3 " " $4; sps[$2, key] = $5; gf[$2, key] = $6; cpu[$2, key] = $9
                 if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
                 if ($2 !~ /^torch-/) { nv[key]++; variant[key, nv[key]] = $2 } }
END {
    printf "%-9s %3s %-16s | %9s %9s %6s | %9s %9s | %9s %9s %6s | %8s %9s\n", "shape", "thr", "engine build-path",
           "engine/s", "torch/s", "ratio", "eng GF/s", "trch GF/s",
           "eng/cpu-s", "trch/cpu-s", "ratio", "sgemm512", "sgemm4096"
    for (i = 1; i <= nk; i++) {
        split(order[i], k, " ")
        for (j = 1; j <= nv[order[i]]; j++) {
            v = variant[order[i], j]
            split(v, bp, "-")
            tv = "torch-" bp[2]
            e = sps[v, order[i]]; ec = cpu[v, order[i]]
            t = sps[tv, order[i]]; tc = cpu[tv, order[i]]
            printf "%-9s %3s %-16s | %9.1f %9.1f %5.2fx | %9.1f %9.1f | %9.1f %9.1f %5.2fx | %8.1f %9.1f\n",
                   k[1], k[2], v, e, t, (t > 0 ? e / t : 0), gf[v, order[i]], gf[tv, order[i]],
                   ec, tc, (tc > 0 ? ec / tc : 0), peak[k[2]], big[k[2]]
        }
    }
    print "  engine build-path: portable = no -march (a package), native = -march=native; path ="
    print "  the kernels run (RNN_ISA, src/core/kernels.h; native takes the best).  Each row is"
    print "  compared with PyTorch run in the same environment: OpenBLAS and PyTorch kernels pinned"
    print "  to the same ISA (path lines above), as on a machine whose best ISA that is."
    print "  engine/s, torch/s: sequences per second (wall clock, median step); GF/s: gemm FLOPs"
    print "  of forward+backward per second (step_flops() in engine_bench.c); /cpu-s: sequences"
    print "  per CPU-second of the process (all its threads; robust to a busy machine at 1 thread,"
    print "  counts spinning threads at 2); sgemm: OpenBLAS C=A.B^T peak measured in this run"
    print "  (its default kernels)"
}' "$out"
