#!/usr/bin/env bash
# test/pq/crash.sh -- kill -9 of a backend in the middle of a training.
#
#   1. a long rnn.train_forecaster is killed with SIGKILL (the postmaster
#      then resets every backend and runs crash recovery);
#   2. a training that finished inside a transaction not yet committed is
#      killed too: its row is in the heap but must never become visible;
#   3. after each: the server accepts connections again, rnn.models holds
#      exactly the rows it held before (id, version, owner, md5 of weights
#      and metadata), no partial model is visible, the stored models still
#      decode and score, and a new training works.
#
# Needs a running server on this machine (PGHOST/PGPORT/PGUSER as set by
# pg_virtualenv) with rnn_ext installed, a superuser connection and the
# right to signal the server's processes (root or the cluster's owner).
# Prints TAP.
set -uo pipefail

DB=rnn_crash_$$
OUT=$(mktemp -d /tmp/rnn_crash.XXXXXX)
. "$(dirname "$0")/tap.bash"

cleanup() {
    [ -n "${bg:-}" ] && kill "$bg" 2>/dev/null
    wait_ready >/dev/null 2>&1
    dropdb --if-exists "$DB" 2>/dev/null
    rm -rf "$OUT"
}
trap cleanup EXIT

# wait_ready: until a new connection can run a query (30 s at most).
wait_ready() {
    for _ in $(seq 1 300); do
        psql -X -q -At -d "$DB" -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# backend_pid APP: pid of the backend with that application_name, once it
# shows the state given (default active).
backend_pid() {
    local pid
    for _ in $(seq 1 200); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = '${2:-active}'")
        [ -n "$pid" ] && { echo "$pid"; return 0; }
        sleep 0.05
    done
    return 1
}

ROWS="SELECT coalesce(string_agg(format('%s:%s:%s:%s:%s:%s:%s', id, name, version, owner, md5(weights),
             md5(hyperparams::text), md5(normalization::text)), ' ' ORDER BY id), '')
      FROM rnn.models"

# after_crash WHAT: the checks run after each kill.
after_crash() {
    local t0 t1
    t0=$(now_ms)
    if wait_ready; then
        t1=$(now_ms)
        tap OK "$1: the server accepts connections again ($((t1 - t0)) ms after the client saw the kill)"
    else
        tap FAIL "$1: the server accepts connections again"
        echo "Bail out! the server did not come back"
        exit 1
    fi
    check "$1: rnn.models holds exactly the rows it held before" "$BEFORE" "$(q "$ROWS")"
    check "$1: no partial model is visible" "0" \
        "$(q "SELECT count(*) FROM rnn.models WHERE name LIKE 'crash%'")"
    check "$1: the stored models still decode and score identically" "$SCORES" "$(q "$SCORE")"
}

echo "1..12"
createdb "$DB" || { echo "Bail out! createdb failed"; exit 1; }
q "CREATE EXTENSION rnn_ext;
   CREATE TABLE big AS
   SELECT 'sensor_' || s AS sensor, i AS t, 10 * s + sin(i / 7.0) + ((i * 7919 + s) % 100) / 100.0 AS v
   FROM generate_series(1, 20) s, generate_series(1, 2000) i;
   CREATE TABLE small AS SELECT i AS t, sin(i / 5.0) + (i % 7) * 0.1 AS v FROM generate_series(1, 300) i;
   SET client_min_messages = warning;
   SELECT version FROM rnn.train_forecaster('before', 'small', 't', 'v', hidden_size => 8,
          window_size => 24, horizon => 6, epochs => 2);
   SELECT version FROM rnn.train_forecaster('before', 'small', 't', 'v', cell => 'gru', hidden_size => 8,
          window_size => 24, horizon => 6, epochs => 2);
   SELECT rnn.import_model('imported', rnn.untrained_weights('{\"hidden_size\": 4}', 1), 'forecaster');" >/dev/null
SCORE="SELECT (SELECT string_agg(value::text, ',' ORDER BY step) FROM rnn.forecast('before'))"
expected_models=3
# a classifier too, when rnn.train_classifier exists
if [ "$(q "SELECT to_regproc('rnn.train_classifier') IS NOT NULL")" = t ]; then
    q "CREATE TABLE reviews AS SELECT i, CASE WHEN i % 2 = 0 THEN 'good fine great ' ELSE 'bad awful poor ' END || i AS body,
              i % 2 = 0 AS positive FROM generate_series(1, 200) i;
       SET client_min_messages = warning;
       SELECT version FROM rnn.train_classifier('before_cls', 'reviews', 'body', 'positive',
              hidden_size => 8, embedding_dim => 8, epochs => 1, min_count => 1)" >/dev/null
    SCORE="$SCORE || '|' || rnn.sentiment('before_cls', 'good film')::text"
    expected_models=4
fi
SCORES=$(q "$SCORE")
BEFORE=$(q "$ROWS")
check "set up: $expected_models model versions stored" "$expected_models" "$(q "SELECT count(*) FROM rnn.models")"

# 1. SIGKILL in the middle of a training.
PGAPPNAME=rnn_crash_train psql -X -q -d "$DB" -c "SET client_min_messages = warning;
    SELECT * FROM rnn.train_forecaster('crash_mid', 'big', 't', 'v', series_column => 'sensor',
           hidden_size => 128, epochs => 1000, patience => 1000)" >"$OUT/train.out" 2>&1 &
bg=$!
pid=$(backend_pid rnn_crash_train)
sleep 2
if [ -n "$pid" ] && kill -9 "$pid"; then
    tap OK "kill -9 of the training backend (pid $pid) 2 s into the training"
else
    tap FAIL "kill -9 of the training backend"
fi
wait "$bg"
bg=
after_crash "killed mid-training"

# 2. SIGKILL of a session holding a finished, uncommitted training.
mkfifo "$OUT/in"
PGAPPNAME=rnn_crash_uncommitted psql -X -q -d "$DB" <"$OUT/in" >"$OUT/xact.out" 2>&1 &
bg=$!
exec 3>"$OUT/in"
echo "SET client_min_messages = warning; BEGIN;
      SELECT version FROM rnn.train_forecaster('crash_uncommitted', 'small', 't', 'v',
             hidden_size => 8, window_size => 24, horizon => 6, epochs => 2);" >&3
pid=$(backend_pid rnn_crash_uncommitted "idle in transaction")
if [ -n "$pid" ] && kill -9 "$pid"; then
    tap OK "kill -9 of a backend idle in a transaction that stored a model (pid $pid)"
else
    tap FAIL "kill -9 of a backend idle in a transaction that stored a model"
fi
exec 3>&-
wait "$bg"
bg=
after_crash "killed before commit"

check "a new training works after the crashes" "after|1" \
    "$(q "SET client_min_messages = warning;
          SELECT model || '|' || version FROM rnn.train_forecaster('after', 'small', 't', 'v',
                 hidden_size => 8, window_size => 24, horizon => 6, epochs => 2)")"

[ $fails -eq 0 ]
