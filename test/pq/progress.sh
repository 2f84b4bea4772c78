#!/usr/bin/env bash
# test/pq/progress.sh -- training progress: per-epoch NOTICEs that
# rnn.progress = off silences, and pg_stat_activity.query showing the epoch
# to other sessions while rnn.train_forecaster / rnn.train_classifier run.
#
# Needs a running server (PGHOST/PGPORT/PGUSER as set by pg_virtualenv) on
# which rnn_ext is installed and the connecting role is a superuser.
# Prints TAP.
set -uo pipefail

DB=rnn_progress_$$
OUT=
. "$(dirname "$0")/tap.bash"

cleanup() {
    [ -n "${bg:-}" ] && kill "$bg" 2>/dev/null
    dropdb --if-exists "$DB" 2>/dev/null
    [ -n "$OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT

echo "1..7"
OUT=$(mktemp -d /tmp/rnn_progress.XXXXXX)
createdb "$DB" || { echo "Bail out! createdb failed"; exit 1; }
q "CREATE EXTENSION rnn_ext;
   CREATE TABLE s AS SELECT i AS t, sin(i / 5.0) + (i % 7) * 0.1 AS v FROM generate_series(1, 300) i;
   CREATE TABLE big AS SELECT i AS t, sin(i / 7.0) + (i * 7919 % 100) / 100.0 AS v FROM generate_series(1, 40000) i;
   CREATE TABLE reviews AS
   SELECT i, CASE WHEN i % 2 = 0 THEN 'good fine great ' ELSE 'bad awful poor ' END || 'w' || (i % 50) AS body,
          i % 2 = 0 AS positive
   FROM generate_series(1, 400) i" >/dev/null

FC="SELECT version FROM rnn.train_forecaster('f', 's', 't', 'v', hidden_size => 4, window_size => 12,
      horizon => 2, epochs => 3, patience => 10)"
CL="SELECT version FROM rnn.train_classifier('c', 'reviews', 'body', 'positive', hidden_size => 4,
      embedding_dim => 4, epochs => 3, patience => 10)"

psql -X -q -d "$DB" -c "$FC" >"$OUT/fc_on.out" 2>&1
psql -X -q -d "$DB" -c "SET rnn.progress = off; $FC" >"$OUT/fc_off.out" 2>&1
check "train_forecaster: one NOTICE per epoch by default" 3 "$(grep -c 'NOTICE:.*epoch [0-9]/3' "$OUT/fc_on.out")"
check "train_forecaster: none with rnn.progress = off" 0 "$(grep -c 'NOTICE:.*epoch' "$OUT/fc_off.out")"

psql -X -q -d "$DB" -c "$CL" >"$OUT/cl_on.out" 2>&1
psql -X -q -d "$DB" -c "SET rnn.progress = off; $CL" >"$OUT/cl_off.out" 2>&1
check "train_classifier: one NOTICE per epoch by default" 3 "$(grep -c 'NOTICE:.*epoch [0-9]/3' "$OUT/cl_on.out")"
check "train_classifier: none with rnn.progress = off" 0 "$(grep -c 'NOTICE:.*epoch' "$OUT/cl_off.out")"
check "both trainings stored two versions each" "c:2,f:2" \
    "$(q "SELECT string_agg(name || ':' || count, ',' ORDER BY name) FROM (SELECT name, count(*) FROM rnn.models GROUP BY name) x")"

# Another session sees the epoch of a long training in pg_stat_activity.
PGAPPNAME=rnn_progress_long psql -X -q -d "$DB" -c "SET rnn.progress = off;
    SELECT * FROM rnn.train_forecaster('long', 'big', 't', 'v', hidden_size => 32, window_size => 48,
           horizon => 4, epochs => 1000, patience => 1000)" >"$OUT/long.out" 2>&1 &
bg=$!
seen=
for _ in $(seq 1 300); do
    seen=$(q "SELECT query FROM pg_stat_activity WHERE application_name = 'rnn_progress_long'
               AND query LIKE 'rnn.train_forecaster(''long''): epoch %'")
    [ -n "$seen" ] && break
    sleep 0.1
done
echo "# pg_stat_activity.query: $seen"
if [ -n "$seen" ]; then tap OK "pg_stat_activity shows the forecaster's epoch and losses"
else tap FAIL "pg_stat_activity shows the forecaster's epoch and losses"; fi
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'rnn_progress_long'" >/dev/null
wait "$bg"; bg=
check "the cancelled training stored nothing" 0 "$(q "SELECT count(*) FROM rnn.models WHERE name = 'long'")"

[ "$fails" -eq 0 ]
