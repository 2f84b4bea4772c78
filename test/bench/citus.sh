#!/usr/bin/env bash
# test/bench/citus.sh -- pushed-down rnn.sentiment on Citus (1 and 2 workers)
# against plain PostgreSQL on the same machine, and the one-time cost of a
# model in a new worker backend.  Prints figures; asserts nothing.
#
#   test/bench/run citus [--rows N] [--repeat K]
#
# Needs Citus and rnn_ext installed (test/bench/run citus does both).  Data:
# N rows (default 100,000) sampled from the MR sentences in
# $RNN_DATA_DIR/mr; the model is a bidirectional GRU (embedding 128, hidden
# 128, max pooling) over the MR vocabulary with untrained weights, as in
# test/bench/scoring.py: throughput does not depend on the weights' values.
#
# Measured, each the median of K runs of
#   SELECT count(rnn.sentiment('mr_gru', body)) FROM t
# (the score of every row computed, one number returned):
#   plain PostgreSQL, serial and with 2 parallel workers + leader;
#   Citus, coordinator + 1 worker holding all 32 shards;
#   Citus, coordinator + 2 workers, 16 shards each.
# Citus runs with warm worker backends (the coordinator keeps its
# connections) and with Citus's default connection caching.  Then: the
# one-time cost of the model in a new backend on a worker, in parts (the
# first lookup, the read and decode of the weights, the scoring state),
# and what it adds to a small
# pushed-down query when the coordinator keeps 1 (the default) or 16
# connections per worker open between queries.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../citus/cluster.bash"
trap cluster_cleanup EXIT

rows=100000
repeat=3
while [ $# -gt 0 ]; do
    case "$1" in
        --rows) rows=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        *) echo "usage: citus.sh [--rows N] [--repeat K]" >&2; exit 2 ;;
    esac
done
data=${RNN_DATA_DIR:-$HERE/../../../shared/data}/mr
[ -f "$data/rt-polarity.pos" ] || { echo "error: no MR data in $data" >&2; exit 1; }

# median_ms NODE SETUP QUERY: in one session, SETUP, QUERY once to warm up
# (the model cache of every backend it uses), then the median wall time of
# $repeat runs of QUERY, in ms, as psql's \timing reports it.
median_ms() {
    local runs="" i
    for i in $(seq 1 "$repeat"); do runs+="$3;"$'\n'; done
    nq "$1" "$2
$3;
\\timing on
$runs" | grep -oE '^Time: [0-9.]+' | cut -d' ' -f2 | sort -g | sed -n "$(( (repeat + 1) / 2 ))p"
}
rate() { awk -v r="$rows" -v ms="$1" 'BEGIN { printf "%d", r * 1000 / ms }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# --- nodes, data, model -----------------------------------------------------
cluster_init
node_create plain || exit 1
for node in coord w1 w2; do node_create "$node" citus || exit 1; done
citus_cluster coord w1 || exit 1

LOAD="
CREATE TABLE mr (body text);
COPY mr FROM '$CLUSTER_DIR/mr.txt';
CREATE TABLE t (id int, body text);
INSERT INTO t SELECT g, m.body FROM generate_series(1, $rows) g
  JOIN (SELECT row_number() OVER () AS n, body FROM mr) m ON m.n = 1 + (g::bigint * 7919) % (SELECT count(*) FROM mr);
ALTER TABLE t SET (parallel_workers = 2);"
# One file the servers read, in UTF-8 (the MR files are Windows-1252).
iconv -f WINDOWS-1252 -t UTF-8 "$data/rt-polarity.pos" "$data/rt-polarity.neg" \
    | sed 's/\\/\\\\/g' >"$CLUSTER_DIR/mr.txt"
chmod 644 "$CLUSTER_DIR/mr.txt"
MODEL="
SELECT rnn.import_model('mr_gru',
    rnn.untrained_weights(jsonb_build_object('cell', 'gru', 'bidirectional', true, 'vocab_size', cardinality(v.words),
        'embedding_dim', 128, 'hidden_size', 128, 'output_size', 2, 'head', 'classifier', 'pooling', 'max'), 7),
    'classifier',
    jsonb_build_object('vocabulary', v.words, 'labels', '{neg,pos}'::text[],
        'hyperparams', jsonb_build_object('tokens', 'word', 'max_tokens', 256)))
  FROM (SELECT '{<pad>,<unk>}'::text[] || array_agg(w ORDER BY w) AS words
          FROM (SELECT DISTINCT w FROM mr, regexp_split_to_table(body, '\s+') w WHERE w <> '') s) v;"
nq plain "CREATE EXTENSION rnn_ext; $LOAD VACUUM ANALYZE t; $MODEL" >/dev/null || exit 1
nq coord "CREATE EXTENSION rnn_ext;
SET citus.enable_unsafe_triggers = on;
SELECT create_reference_table('rnn.models');
$LOAD
SELECT create_distributed_table('t', 'id');
SELECT truncate_local_data_after_distributing_table('t');
$MODEL" >/dev/null || exit 1
vocab=$(nq coord "SELECT cardinality(vocabulary) FROM rnn.models WHERE name = 'mr_gru'")
words=$(nq plain "SELECT round(avg(cardinality(regexp_split_to_array(body, '\s+'))), 1) FROM t")

echo "# rnn.sentiment over $rows MR-sampled rows ($words words a row), biGRU 128, vocabulary $vocab, 1 BLAS thread"
echo "# $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
Q="SELECT count(rnn.sentiment('mr_gru', body)) FROM t"
# Citus "warm": the coordinator keeps every connection it opened (16 a
# worker at most, citus.max_adaptive_executor_pool_size), so the worker
# backends of the warm-up query, with their decoded models, serve the
# measured ones.  "default": it keeps one a worker, and each query opens
# the others afresh, each decoding the model again (see below).
WARM="SET citus.max_cached_conns_per_worker = 16;"
serial=$(median_ms plain "SET max_parallel_workers_per_gather = 0;" "$Q")
parallel=$(median_ms plain "SET max_parallel_workers_per_gather = 2;" "$Q")
one=$(median_ms coord "$WARM" "$Q")
one_cold=$(median_ms coord "" "$Q")
echo "plain PostgreSQL, serial:                      $(rate "$serial") rows/s ($serial ms)"
echo "plain PostgreSQL, 2 parallel workers + leader: $(rate "$parallel") rows/s ($parallel ms)"
echo "Citus, 1 worker, 32 shards, warm backends:     $(rate "$one") rows/s ($one ms); default connection caching $(rate "$one_cold") rows/s"

# A second worker, and a table whose 32 shards are spread over both.  (A
# new node gets its copy of rnn.models from replicate_reference_tables, or
# from the next create_distributed_table.)
nq w2 "CREATE EXTENSION citus" >/dev/null || exit 1
nq coord "SELECT citus_add_node('localhost', $(node_port w2));
SELECT replicate_reference_tables('block_writes');
CREATE TABLE t2 AS SELECT * FROM t;
SELECT create_distributed_table('t2', 'id', colocate_with => 'none');
SELECT truncate_local_data_after_distributing_table('t2');" >/dev/null || exit 1
placement=$(nq coord "SELECT string_agg(n::text, '/' ORDER BY nodeport) FROM (SELECT nodeport, count(*) AS n FROM citus_shards WHERE table_name = 't2'::regclass GROUP BY nodeport) s")
Q2="SELECT count(rnn.sentiment('mr_gru', body)) FROM t2"
two=$(median_ms coord "$WARM" "$Q2")
two_cold=$(median_ms coord "" "$Q2")
echo "Citus, 2 workers, shards $placement, warm backends: $(rate "$two") rows/s ($two ms); default connection caching $(rate "$two_cold") rows/s"
echo "# against plain serial: plain parallel $(ratio "$serial" "$parallel")x; Citus warm 1 worker $(ratio "$serial" "$one")x, 2 workers $(ratio "$serial" "$two")x; default caching 1 worker $(ratio "$serial" "$one_cold")x, 2 workers $(ratio "$serial" "$two_cold")x"

# --- one-time cost per worker backend -------------------------------------
# The backend's own CPU time for each statement (from /proc/PID/schedstat,
# time on a CPU in ns, read by psql's \! between statements; the machine's
# load does not change it as it changes wall time), in a new backend on w1
# after the library is loaded (rnn.untrained_weights):
#   s1, s2  rnn.sentiment of a tiny model (vocabulary of 8, hidden 6), twice:
#           s1 - s2 is the backend's first model lookup (rnn.models' placement
#           found through pg_dist_*, the catalogs and the lookup's plan), with
#           the decode of 2 KB of weights
#   s3      a read of mr_gru's weights from the placement (the bytea detoasted
#           by get_byte, one byte returned)
#   s4, s5  rnn.model_config('mr_gru') twice: s4 - s5 is the read and the
#           decode of the weights into the model cache (checksum, copy,
#           bind); the lookup is warm and in both
#   s6, s7  rnn.sentiment('mr_gru', one short text) twice: s6 - s7 is the
#           scoring state built on the cached model (the vocabulary's hash
#           table of 21,427 words, the inference buffers, the first layer
#           folded into a table per word)
# and, in another new backend, the first and second rnn.sentiment('mr_gru')
# alone: the whole one-time cost, as a pushed-down query's task pays it
# (CPU, and wall time by psql's \timing).  Median of 5 backends each.
placement=$(nq coord "SELECT shard_name('rnn.models'::regclass, shardid) FROM pg_dist_shard WHERE logicalrelid = 'rnn.models'::regclass")
nq coord "SELECT rnn.import_model('tiny', rnn.untrained_weights('{\"cell\": \"gru\", \"vocab_size\": 8, \"embedding_dim\": 4,
    \"hidden_size\": 6, \"head\": \"classifier\", \"output_size\": 2}', 1), 'classifier',
    '{\"labels\": [\"neg\", \"pos\"], \"vocabulary\": [\"<pad>\", \"<unk>\", \"a\", \"fine\", \"film\", \"dull\", \"good\", \"bad\"]}')" >/dev/null
# step_cpu NODE SQL...: in a new backend on NODE, the library loaded, run
# each SQL and print the backend's CPU ms for each, one a line, then
# "wall" and psql's \timing of each.
CPU_MARK='\! echo cpu $(cut -d" " -f1 /proc/$RNN_PID/schedstat)'
step_cpu() {
    local node=$1 script stmt out
    shift
    script="SELECT pg_backend_pid() AS pid \\gset
\\setenv RNN_PID :pid
SELECT rnn.untrained_weights('{\"hidden_size\": 1}') IS NOT NULL;
\\timing on
$CPU_MARK"
    for stmt in "$@"; do script+=$'\n'"$stmt;"$'\n'"$CPU_MARK"; done
    out=$(nq "$node" "$script")
    awk '/^cpu / { if (have) printf "%.1f\n", ($2 - prev) / 1e6; prev = $2; have = 1 }' <<<"$out"
    echo wall
    grep -oE '^Time: [0-9.]+' <<<"$out" | cut -d' ' -f2
}
declare -a S1 S2 S3 S4 S5 S6 S7 FIRST SECOND FIRST_WALL SECOND_WALL
for _ in $(seq 1 5); do
    out=$(step_cpu w1 "SELECT rnn.sentiment('tiny', 'a fine film')" "SELECT rnn.sentiment('tiny', 'a fine film')" \
        "SELECT get_byte(weights, 0) FROM $placement WHERE name = 'mr_gru'" \
        "SELECT rnn.model_config('mr_gru') IS NOT NULL" "SELECT rnn.model_config('mr_gru') IS NOT NULL" \
        "SELECT rnn.sentiment('mr_gru', 'a fine film')" "SELECT rnn.sentiment('mr_gru', 'a fine film')")
    S1+=("$(sed -n 1p <<<"$out")"); S2+=("$(sed -n 2p <<<"$out")"); S3+=("$(sed -n 3p <<<"$out")")
    S4+=("$(sed -n 4p <<<"$out")"); S5+=("$(sed -n 5p <<<"$out")"); S6+=("$(sed -n 6p <<<"$out")")
    S7+=("$(sed -n 7p <<<"$out")")
    out=$(step_cpu w1 "SELECT rnn.sentiment('mr_gru', 'a fine film')" "SELECT rnn.sentiment('mr_gru', 'a fine film')")
    FIRST+=("$(sed -n 1p <<<"$out")"); SECOND+=("$(sed -n 2p <<<"$out")")
    FIRST_WALL+=("$(sed -n 4p <<<"$out")"); SECOND_WALL+=("$(sed -n 5p <<<"$out")")
done
med() { printf '%s\n' "$@" | sort -g | sed -n 3p; }
# med_diff A B: the median of the per-backend differences A[i] - B[i]
med_diff() {
    local -n a=$1 b=$2
    local i
    for i in "${!a[@]}"; do awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { printf "%.1f\n", x - y }'; done | sort -g | sed -n 3p
}
bytes=$(nq coord "SELECT length(weights) FROM rnn.models WHERE name = 'mr_gru'")
echo "one-time cost of the model in a new worker backend, backend CPU ms (model $bytes bytes; medians of 5 backends):"
echo "  whole: first rnn.sentiment $(med "${FIRST[@]}") ms CPU ($(med "${FIRST_WALL[@]}") ms wall), the next call $(med "${SECOND[@]}") ms CPU ($(med "${SECOND_WALL[@]}") ms wall)"
echo "  first model lookup in the backend (tiny model, first call - second): $(med_diff S1 S2) ms"
echo "  read of the weights from the placement (get_byte): $(med "${S3[@]}") ms"
echo "  read + decode of the weights (first rnn.model_config - second): $(med_diff S4 S5) ms"
echo "  scoring state: vocabulary, buffers, folded first layer (first rnn.sentiment on the cached model - second): $(med_diff S6 S7) ms"

# What it adds to a small pushed-down query: a query opens up to
# citus.max_adaptive_executor_pool_size connections per worker, and by
# default the coordinator keeps one per worker afterwards, so the others'
# backends (and their decoded models) start afresh with the next query.
nq coord "CREATE TABLE t_small AS SELECT * FROM t2 WHERE id <= 3200;
SELECT create_distributed_table('t_small', 'id', colocate_with => 'none');
SELECT truncate_local_data_after_distributing_table('t_small');" >/dev/null
QS="SELECT count(rnn.sentiment('mr_gru', body)) FROM t_small"
small_cold=$(median_ms coord "" "$QS")
small_warm=$(median_ms coord "$WARM" "$QS")
echo "3,200 rows on 2 workers, 32 tasks: $small_cold ms a query with citus.max_cached_conns_per_worker = 1 (the default), $small_warm ms with 16"
