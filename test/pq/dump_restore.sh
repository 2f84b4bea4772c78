#!/usr/bin/env bash
# test/pq/dump_restore.sh -- pg_dump + pg_restore carry models byte for byte.
#
# Needs a running server (PGHOST/PGPORT/PGUSER as set by pg_virtualenv) on
# which rnn_ext is installed and the connecting role is a superuser.
# Prints TAP.
set -uo pipefail

SRC=rnn_dump_src_$$
DST=rnn_dump_dst_$$
DUMP=$(mktemp /tmp/rnn_dump.XXXXXX)
. "$(dirname "$0")/tap.bash"

q() {       # q DB SQL: one value, unaligned
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
cleanup() {
    dropdb --if-exists "$SRC" 2>/dev/null
    dropdb --if-exists "$DST" 2>/dev/null
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS regress_rnn_dump_owner" 2>/dev/null
    rm -f "$DUMP"
}
trap cleanup EXIT

echo "1..8"
cleanup >/dev/null 2>&1
createdb "$SRC" && createdb "$DST" || { echo "Bail out! createdb failed"; exit 1; }

# Three versions of a forecaster and a classifier owned by another role.
q "$SRC" "CREATE ROLE regress_rnn_dump_owner" >/dev/null
q "$SRC" "
CREATE EXTENSION rnn_ext;
SELECT rnn.import_model('temp', rnn.untrained_weights('{\"cell\": \"lstm\", \"hidden_size\": 8}', s), 'forecaster',
                        '{\"metrics\": {\"mse\": 0.5}, \"source_relation\": \"readings\", \"source_rows\": 100}')
  FROM generate_series(1, 3) s;
SET ROLE regress_rnn_dump_owner;
SELECT rnn.import_model('mood', rnn.untrained_weights('{\"cell\": \"gru\", \"vocab_size\": 4, \"embedding_dim\": 4,
                        \"hidden_size\": 6, \"head\": \"classifier\", \"output_size\": 2, \"bidirectional\": true}', 7),
                        'classifier', '{\"labels\": [\"negative\", \"positive\"], \"vocabulary\": [\"<pad>\", \"<unk>\", \"good\", \"bad\"]}');
RESET ROLE;
SELECT rnn.drop_model('temp', 2);" >/dev/null
tap_src=$?
check "models created in the source database" 0 "$tap_src"

ROWS="SELECT string_agg(format('%s:%s:%s:%s:%s:%s', name, version, owner, md5(weights), labels, metrics), ' ' ORDER BY name, version) FROM rnn.models"
before=$(q "$SRC" "$ROWS")

pg_dump -Fc -f "$DUMP" "$SRC"
check "pg_dump -Fc succeeds" 0 "$?"
pg_restore -d "$DST" "$DUMP"
check "pg_restore into a new database succeeds" 0 "$?"

after=$(q "$DST" "$ROWS")
check "every model version restored byte for byte (md5 of weights, owner, metadata)" "$before" "$after"
check "no duplicate rows after restore" "3" "$(q "$DST" "SELECT count(*) FROM rnn.models")"
check "restored weights still decode" "t" \
    "$(q "$DST" "SELECT bool_and(rnn.weights_info(weights) IS NOT NULL) FROM rnn.models")"

# The identity sequence came along: a new version gets a fresh id.
check "a new version after restore gets the next version number" "4" \
    "$(q "$DST" "SELECT rnn.import_model('temp', rnn.export_model('temp', 1), 'forecaster')")"
check "ids stay unique after restore" "t" \
    "$(q "$DST" "SELECT count(DISTINCT id) = count(*) FROM rnn.models")"

[ $fails -eq 0 ]
