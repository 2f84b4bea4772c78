#!/usr/bin/env bash
# test/citus/citus_test.sh -- rnn_ext on a Citus coordinator and two workers,
# every result checked against the same query on one plain PostgreSQL.
#
# Needs Citus and rnn_ext installed in the system PostgreSQL 15
# (test/citus/run installs both) and runs as root or as the postgres user.
# Starts its own nodes on free ports in a temporary directory:
#
#   coord, w1, w2   Citus: a coordinator (holding no shards) and two workers
#   plain           PostgreSQL without Citus, the reference for every result
#   r0, r1          a fresh Citus coordinator and worker for the restore test
#
# Prints TAP.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../pq/tap.bash"
. "$HERE/cluster.bash"
trap cluster_cleanup EXIT

CURRENT_VERSION=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$HERE/../../rnn_ext.control")
# Every released version: those with an install script of their own.
OLD_VERSIONS=$(ls "$HERE"/../../sql/rnn_ext--*.sql | sed -n 's/.*rnn_ext--\([0-9.]*\)\.sql$/\1/p' \
               | grep -vxF "$CURRENT_VERSION" | sort -V | tr '\n' ' ' | sed 's/ $//')
DUMP=

c() { nq coord "$@"; }
p() { nq plain "$@"; }
# same DESCRIPTION SQL: SQL gives the same (non-empty) output on the Citus
# coordinator and on plain PostgreSQL.
same() {
    local want got
    want=$(p "$2" 2>&1)
    got=$(c "$2" 2>&1)
    if [ -n "$want" ] && [ "$want" = "$got" ]; then
        tap OK "$1"
    else
        tap FAIL "$1"
        diff <(echo "$want") <(echo "$got") | head -n 8 | sed 's/^/#   /'
    fi
}
# pushed_to_both DESCRIPTION SQL PATTERN: EXPLAIN VERBOSE of SQL on the
# coordinator lists tasks on both workers whose query contains PATTERN.
pushed_to_both() {
    local plan ports
    plan=$(c "SET citus.explain_all_tasks = on; EXPLAIN (VERBOSE, COSTS OFF) $2" 2>&1)
    ports=$(grep -oE 'Node: host=localhost port=[0-9]+' <<<"$plan" | grep -oE '[0-9]+$' | sort -u | tr '\n' ' ')
    if [ "$ports" = "$(printf '%s\n' "$(node_port w1)" "$(node_port w2)" | sort | tr '\n' ' ')" ] \
        && grep -q "Query: .*$3" <<<"$plan"; then
        tap OK "$1"
    else
        tap FAIL "$1"
        echo "# task ports: $ports (workers $(node_port w1), $(node_port w2))"
        head -n 20 <<<"$plan" | sed 's/^/#   /'
    fi
}
# fails_with DESCRIPTION PATTERN OUTPUT: OUTPUT (a psql run's stdout+stderr)
# holds an error matching PATTERN.
# copy_model NAME KIND: the coordinator's deployed (else latest) version of
# NAME stored on plain PostgreSQL, with what scoring reads besides weights.
copy_model() {
    p "SELECT rnn.import_model('$1', decode(:'weights', 'hex'), '$2', :'info'::jsonb)" \
        -v weights="$(c "SELECT encode(rnn.export_model('$1'), 'hex')")" \
        -v info="$(c "SELECT jsonb_strip_nulls(jsonb_build_object('hyperparams', hyperparams, 'vocabulary', vocabulary,
                        'labels', labels, 'normalization', normalization))
                     FROM rnn.models WHERE name = '$1' ORDER BY deployed DESC, version DESC LIMIT 1")" >/dev/null
}
fails_with() {
    if grep -qE "ERROR: .*$2" <<<"$3"; then
        tap OK "$1"
        grep -m1 -E "ERROR: " <<<"$3" | sed 's/^/#   /' 
    else
        tap FAIL "$1"
        head -n 6 <<<"$3" | sed 's/^/#   got: /'
    fi
}

# The plpgsql blocks of README.md's "Scaling out with Citus" section, one
# file each (run last).
README_BLOCKS=$(mktemp -d /tmp/rnn_citus_readme.XXXXXX)
trap 'cluster_cleanup; rm -rf "$README_BLOCKS"' EXIT
awk -v dir="$README_BLOCKS" '
    /^## / { in_citus = ($0 == "## Scaling out with Citus") }
    in_citus && /^```plpgsql/ { f = 1; n++; file = sprintf("%s/%02d.sql", dir, n); next }
    /^```/ { f = 0 }
    f { print > file }' "$HERE/../../README.md"
echo "1..$((49 + 10 * $(wc -w <<<"$OLD_VERSIONS") + $(ls "$README_BLOCKS" | wc -l)))"

# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------
cluster_init
for node in coord w1 w2; do
    node_create "$node" citus || { echo "Bail out! could not start Citus node $node"; exit 1; }
done
node_create plain || { echo "Bail out! could not start the plain node"; exit 1; }
citus_cluster coord w1 w2 || { echo "Bail out! could not join the Citus cluster"; exit 1; }
check "a coordinator and two active workers" "2" \
    "$(c "SELECT count(*) FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND groupid > 0")"

# The same rows on both sides.  Texts: a few sentiment words among neutral
# ones, one word in ten flipped, so the classifier has something to learn
# and some rows to get wrong.  Series: daily seasonality with a level per
# series and deterministic noise, hourly.
# review_rows N / reading_rows SERIES HOURS: the SELECT of those rows.
review_rows() {
    echo "SELECT g, string_agg(CASE WHEN (g * 7 + i * 13) % 3 = 0
                          THEN (CASE WHEN (g % 2 = 0) <> ((g * 31 + i) % 10 = 0) THEN pos ELSE neg END)[1 + (g + i) % 6]
                          ELSE neu[1 + (g * 3 + i * 5) % 8] END, ' ' ORDER BY i),
       g % 2 = 0
  FROM generate_series(1, $1) g, generate_series(1, 4 + g % 7) i,
       (SELECT '{good,great,fine,superb,lovely,fun}'::text[] AS pos,
               '{bad,awful,dull,boring,poor,weak}'::text[] AS neg,
               '{the,movie,plot,acting,was,a,story,film}'::text[] AS neu) w
 GROUP BY g"
}
reading_rows() {
    echo "SELECT 'sensor_' || s, timestamptz '2024-01-01 00:00+00' + h * interval '1 hour',
       20 + s + 5 * sin(2 * pi() * h / 24) + ((s * 7919 + h * 104729) % 100) / 100.0
  FROM generate_series(1, $1) s, generate_series(0, $(($2 - 1))) h"
}
DATA="
CREATE TABLE reviews (id int PRIMARY KEY, body text NOT NULL, positive boolean NOT NULL);
INSERT INTO reviews $(review_rows 2000);
CREATE TABLE readings (series text NOT NULL, ts timestamptz NOT NULL, temp float8 NOT NULL);
INSERT INTO readings $(reading_rows 8 240);
CREATE TABLE scored (id int PRIMARY KEY, body text, score float8);
CREATE TABLE messages AS SELECT id % 50 AS chat, id AS ts, body AS msg FROM reviews;
CREATE ROLE analyst LOGIN;
CREATE ROLE outsider LOGIN;
GRANT SELECT ON reviews TO analyst, outsider;"
p "$DATA" >/dev/null && p "CREATE EXTENSION rnn_ext" >/dev/null
check "plain PostgreSQL: data and rnn_ext $CURRENT_VERSION" "0" "$?"
c "$DATA
SELECT create_distributed_table('reviews', 'id');
SELECT create_distributed_table('readings', 'series');
SELECT create_distributed_table('scored', 'id', colocate_with => 'reviews');
SELECT create_distributed_table('messages', 'chat');" >/dev/null
check "Citus: reviews, readings (by series), scored and messages (by chat) are distributed tables" "4" \
    "$(c "SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h'")"

# ---------------------------------------------------------------------------
# Models on every node: rnn.models as a reference table
# ---------------------------------------------------------------------------
c "CREATE EXTENSION rnn_ext" >/dev/null
check "CREATE EXTENSION rnn_ext on the coordinator reaches both workers" "$CURRENT_VERSION $CURRENT_VERSION" \
    "$(c "SELECT string_agg(result, ' ') FROM run_command_on_workers(\$\$SELECT extversion FROM pg_extension WHERE extname = 'rnn_ext'\$\$)")"
REFERENCE="SET citus.enable_unsafe_triggers = on;
SELECT create_reference_table('rnn.models');"
c "$REFERENCE" >/dev/null
check "rnn.models is a reference table with a placement on all three nodes" "3" \
    "$(c "SELECT count(*) FROM pg_dist_placement pl JOIN pg_dist_shard s USING (shardid)
           WHERE s.logicalrelid = 'rnn.models'::regclass")"

WEIGHTS_CLS="rnn.untrained_weights('{\"cell\": \"gru\", \"vocab_size\": 8, \"embedding_dim\": 4, \"hidden_size\": 6, \"head\": \"classifier\", \"output_size\": 2}', s)"
INFO_CLS="'{\"labels\": [\"false\", \"true\"], \"vocabulary\": [\"<pad>\", \"<unk>\", \"good\", \"great\", \"fine\", \"bad\", \"awful\", \"dull\"]}'"
OLD_MODELS="SELECT rnn.import_model('old_cls', $WEIGHTS_CLS, 'classifier', $INFO_CLS) FROM generate_series(1, 3) s;
SELECT rnn.import_model('old_fc', rnn.untrained_weights('{\"cell\": \"lstm\", \"hidden_size\": 4}', 9), 'forecaster');
SELECT rnn.deploy_model('old_cls', 2);
SELECT rnn.grant_model('old_fc', 'analyst');"
c "$OLD_MODELS" >/dev/null
check "models stored (INSERT ... SELECT into the reference table)" "4" \
    "$(c "SELECT count(*) FROM rnn.models")"
ROWS_ALL="SELECT string_agg(format('%s:%s:%s:%s:%s:%s:%s:%s:%s', id, name, version, kind, owner, readers, deployed, md5(weights),
                                   md5(row(hyperparams, vocabulary, normalization, labels, metrics)::text)), ' ' ORDER BY id) FROM rnn.models"
ROWS="SELECT string_agg(format('%s:%s:%s:%s:%s:%s:%s', id, name, version, owner, readers, deployed, md5(weights)), ' ' ORDER BY id) FROM rnn.models"
# Each placement's columns, check constraints, policies and triggers as the
# shell has them.
SHAPE="SELECT (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                 FROM pg_attribute WHERE attrelid = r.oid AND attnum > 0 AND NOT attisdropped)
       || ' / ' || (SELECT string_agg(polname || ' ' || pg_get_expr(coalesce(polqual, polwithcheck), polrelid), ', ' ORDER BY polname)
                      FROM pg_policy WHERE polrelid = r.oid)
       || ' / ' || (SELECT string_agg(pg_get_constraintdef(oid), ', ' ORDER BY pg_get_constraintdef(oid))
                      FROM pg_constraint WHERE conrelid = r.oid AND contype = 'c')
       || ' / ' || (SELECT relrowsecurity FROM pg_class WHERE oid = r.oid)
       || ' / ' || (SELECT count(*) FROM pg_trigger WHERE tgrelid = r.oid AND NOT tgisinternal)
  FROM (SELECT '%s'::regclass::oid AS oid) r"
shell_shape=$(c "$(sed 's/%s/rnn.models/g' <<<"$SHAPE")")
check "every placement of rnn.models has the shell's columns, checks, policies, row-level security and trigger" \
    "$shell_shape|$shell_shape|$shell_shape" \
    "$(c "SELECT string_agg(result, '|' ORDER BY nodeport) FROM run_command_on_placements('rnn.models', \$\$$SHAPE\$\$)")"

# ALTER EXTENSION rnn_ext UPDATE with rnn.models a reference table, from
# every released version to the current one.  For each, a database of its
# own on coord, w1 and w2, a Citus cluster of its own (Citus keeps its
# metadata per database): rnn_ext created at that version, distributed
# tables, rnn.models a reference table holding models of two owners, one
# shared.  The update is the README's "Upgrading" block run on the
# coordinator; after it every model, what each role may read and every
# pushed-down score are the same as before, on the coordinator and on both
# workers, and every node's extension is a fresh install's.
UPGRADE_BLOCK=$(grep -l "ALTER EXTENSION rnn_ext UPDATE" "$README_BLOCKS"/*.sql | head -n 1)
u() { NQ_DB=$UDB nq "$@"; }
ua() { NQ_USER=analyst u coord "$@"; }
# same_text DESCRIPTION WANT GOT: like check, a diff when they differ
same_text() {
    if [ -n "$2" ] && [ "$2" = "$3" ]; then
        tap OK "$1"
    else
        tap FAIL "$1"
        diff <(echo "$2") <(echo "$3") | head -n 8 | sed 's/^/#   /'
    fi
}
# The extension's functions, one a line: name, arguments with defaults,
# result, kind, volatility, parallel safety, strictness and body.
FUNCS="SELECT string_agg(f, E'\n' ORDER BY f) FROM (
    SELECT format('%s(%s) -> %s %s%s%s%s %s', p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                  p.prokind, p.provolatile, p.proparallel, p.proisstrict, md5(p.prosrc)) AS f
      FROM pg_proc p WHERE p.pronamespace = 'rnn'::regnamespace) s"
fresh_funcs=$(p "$FUNCS")
fresh_shape=$(p "$(sed 's/%s/rnn.models/g' <<<"$SHAPE")")
UPG_DATA="
CREATE TABLE reviews (id int PRIMARY KEY, body text NOT NULL, positive boolean NOT NULL);
INSERT INTO reviews $(review_rows 400);
CREATE TABLE readings (series text NOT NULL, ts timestamptz NOT NULL, temp float8 NOT NULL);
INSERT INTO readings $(reading_rows 4 120);
SELECT create_distributed_table('reviews', 'id');
SELECT create_distributed_table('readings', 'series');
GRANT SELECT ON reviews, readings TO analyst, outsider;"
UPG_MODELS="SELECT rnn.import_model('old_cls', $WEIGHTS_CLS, 'classifier', $INFO_CLS) FROM generate_series(1, 3) s;
SELECT rnn.deploy_model('old_cls', 2);
SELECT 1 FROM rnn.train_forecaster('fc', 'readings', 'ts', 'temp', series_column => 'series', cell => 'gru', hidden_size => 4,
                                   window_size => 24, horizon => 6, epochs => 1);
SELECT rnn.grant_model('fc', 'analyst');"
ANALYST_MODEL="SELECT rnn.import_model('analyst_cls', $WEIGHTS_CLS, 'classifier', $INFO_CLS) FROM generate_series(11, 11) s"
# What the update must keep: every row of rnn.models on each node; the
# pushed-down scores of the owner; what the analyst reads on a worker and
# scores pushed down, and what it and outsider may not score.
upg_rows() { for node in coord w1 w2; do u "$node" "$ROWS_ALL"; done; }
# digest: its input's line count and md5, or its first error
digest() {
    local out
    out=$(cat)
    if grep -q ERROR <<<"$out"; then grep -m1 ERROR <<<"$out"; else echo "$(wc -l <<<"$out") rows, md5 $(md5sum <<<"$out" | cut -c1-32)"; fi
}
upg_scores() {
    u coord "SELECT id, rnn.sentiment('old_cls', body), rnn.classify('old_cls', body), rnn.class_probs('old_cls', body)::text
               FROM reviews ORDER BY id, 4" 2>&1 | digest
    u coord "SELECT series, rnn.predict_next('fc', temp ORDER BY ts) FROM readings GROUP BY series ORDER BY series" 2>&1
}
upg_roles() {
    NQ_USER=analyst u w1 "SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM rnn.models" 2>&1
    ua "SELECT id, rnn.sentiment('analyst_cls', body) FROM reviews ORDER BY id" 2>&1 | digest
    ua "SELECT series, round(rnn.predict_next('fc', temp ORDER BY ts)::numeric, 12) FROM readings GROUP BY series ORDER BY series" 2>&1
    ua "SELECT count(rnn.sentiment('old_cls', body)) FROM reviews" >/dev/null 2>&1 && echo "analyst scores old_cls" || echo "analyst may not score old_cls"
    NQ_USER=outsider u coord "SELECT count(rnn.sentiment('analyst_cls', body)) FROM reviews" >/dev/null 2>&1 \
        && echo "outsider scores analyst_cls" || echo "outsider may not score analyst_cls"
}
versions() { u "$1" "SELECT extversion FROM pg_extension WHERE extname = 'rnn_ext'"; }

for V in $OLD_VERSIONS; do
    UDB=upg_${V//./_}
    for node in coord w1 w2; do nq "$node" "CREATE DATABASE $UDB" >/dev/null; done
    NQ_DB=$UDB citus_cluster coord w1 w2
    u coord "$UPG_DATA" >/dev/null
    for node in coord w1 w2; do
        u "$node" "SET citus.enable_ddl_propagation = off;
                   CREATE TABLE readings_local (series text NOT NULL, ts timestamptz NOT NULL, temp float8 NOT NULL);
                   INSERT INTO readings_local $(reading_rows 4 120)" >/dev/null
    done
    u coord "CREATE EXTENSION rnn_ext VERSION '$V'" >/dev/null
    u coord "$REFERENCE" >/dev/null
    u coord "$UPG_MODELS" >/dev/null
    ua "$ANALYST_MODEL" >/dev/null
    rows_before=$(upg_rows)
    scores_before=$(upg_scores)
    roles_before=$(upg_roles)
    check "at $V: rnn.models a reference table, 5 models on each node; the owner scores 400 reviews (800 class rows), the analyst its own and the shared model" \
        "$V $V $V|5 5 5|800 rows|analyst_cls,fc|400 rows" \
        "$(versions coord) $(versions w1) $(versions w2)|$(for node in coord w1 w2; do u "$node" "SELECT count(*) FROM rnn.models"; done | tr '\n' ' ' | sed 's/ $//')|$(head -n 1 <<<"$scores_before" | cut -d, -f1)|$(sed -n 1p <<<"$roles_before")|$(sed -n 2p <<<"$roles_before" | cut -d, -f1)"

    if [ "$V" = "${OLD_VERSIONS%% *}" ]; then
        # A worker down: the update fails naming it and changes nothing.
        node_stop w2 immediate
        fails_with "UPDATE from $V while w2 is down fails naming the worker" \
            "localhost:$(node_port w2)|connection to the remote node" "$(u coord "ALTER EXTENSION rnn_ext UPDATE" 2>&1)"
        node_start w2
        check "... and changes nothing: every node at $V, every model on every node as before" \
            "$V $V $V|$rows_before" "$(versions coord) $(versions w1) $(versions w2)|$(upg_rows)"
    fi

    out=$(u coord "$(cat "$UPGRADE_BLOCK")" 2>&1)
    rc=$?
    check "UPDATE from $V: the README's upgrade block runs on the coordinator and every node reports $CURRENT_VERSION" \
        "0 3" "$rc $(grep -c "|$CURRENT_VERSION\$" <<<"$out")"
    [ "$rc" -eq 0 ] || head -n 5 <<<"$out" | sed 's/^/#   /'
    check "... extversion $CURRENT_VERSION on the coordinator and both workers" \
        "$CURRENT_VERSION $CURRENT_VERSION $CURRENT_VERSION" "$(versions coord) $(versions w1) $(versions w2)"
    same_text "... every model kept on every node: ids, versions, kinds, owners, readers, deployed, weights, metadata" \
        "$rows_before" "$(upg_rows)"
    same_text "... the owner's pushed-down sentiment, classify, class_probs and predict_next are the same as before" \
        "$scores_before" "$(upg_scores)"
    same_text "... row-level security as before: the analyst reads and scores its own and the shared model, not the others; outsider not the analyst's" \
        "$roles_before" "$(upg_roles)"
    same_text "... every placement of rnn.models (columns, checks, policies, row-level security, trigger) as a fresh install's" \
        "$fresh_shape|$fresh_shape|$fresh_shape|$fresh_shape" \
        "$(u coord "$(sed 's/%s/rnn.models/g' <<<"$SHAPE")")|$(u coord "SELECT string_agg(result, '|' ORDER BY nodeport) FROM run_command_on_placements('rnn.models', \$\$$SHAPE\$\$)")"
    same_text "... the extension's functions on the coordinator and both workers are a fresh install's" \
        "$fresh_funcs"$'\n'"$fresh_funcs"$'\n'"$fresh_funcs" "$(u coord "$FUNCS")"$'\n'"$(u w1 "$FUNCS")"$'\n'"$(u w2 "$FUNCS")"
    check "... a language model, a kind the old check refused, is stored on every placement" "1 1 1" \
        "$(u coord "SELECT rnn.import_model('lm', rnn.untrained_weights('{\"cell\": \"gru\", \"vocab_size\": 8, \"embedding_dim\": 4,
                      \"hidden_size\": 6, \"head\": \"steps\", \"output_size\": 8}', 1), 'language_model')" >/dev/null;
           for node in coord w1 w2; do u "$node" "SELECT count(*) FROM rnn.models WHERE kind = 'language_model'"; done | tr '\n' ' ' | sed 's/ $//')"
    # rnn.detect_anomalies, new in 0.4 (0.3 -> 0.4 adds and changes
    # functions), in a query Citus routes whole to the worker that holds the
    # row: the worker runs its own, updated definition.  It reads
    # readings_local, a plain table of the same rows on every node.
    want=$(u coord "SELECT count(*) FILTER (WHERE is_anomaly) FROM rnn.detect_anomalies('fc', 'readings_local', level => 0.9)")
    expect=
    got=
    for node in w1 w2; do
        # the first review whose shard is on that worker
        id=$(u coord "SELECT min(r.id) FROM generate_series(1, 100) r(id)
                        JOIN pg_dist_placement pl ON pl.shardid = get_shard_id_for_distribution_column('reviews', r.id)
                        JOIN pg_dist_node n ON n.groupid = pl.groupid WHERE n.nodeport = $(node_port "$node")")
        DETECT="SELECT r.id, a.n FROM reviews r, LATERAL (SELECT count(*) FILTER (WHERE d.is_anomaly) AS n
                  FROM rnn.detect_anomalies('fc', 'readings_local', level => 0.9) d) a WHERE r.id = $id"
        plan=$(u coord "EXPLAIN (VERBOSE, COSTS OFF) $DETECT" 2>&1)
        if grep -q "port=$(node_port "$node")" <<<"$plan" && grep -q "Query: .*rnn.detect_anomalies" <<<"$plan"; then
            got+="routed to $node: "
        else
            got+="not routed to $node: "
            head -n 12 <<<"$plan" | sed 's/^/#   /'
        fi
        expect+="routed to $node: $id|$want "
        got+="$(u coord "$DETECT" 2>&1) "
    done
    check "... rnn.detect_anomalies, new in 0.4, runs on w1 and on w2 in queries routed to them, as on the coordinator" \
        "$expect" "$got"
done

# The deployed version 2 of old_cls scores on the workers exactly as on one
# PostgreSQL holding a copy of it.
p "SELECT rnn.import_model('old_cls', rnn.untrained_weights('{\"cell\": \"gru\", \"vocab_size\": 8, \"embedding_dim\": 4, \"hidden_size\": 6, \"head\": \"classifier\", \"output_size\": 2}', 2), 'classifier', $INFO_CLS)" >/dev/null
same "a model's deployed version scores pushed down as on one PostgreSQL" \
    "SELECT id, rnn.sentiment('old_cls', body) FROM reviews ORDER BY id LIMIT 300"

# ---------------------------------------------------------------------------
# Classifier: trained on the coordinator, scored on the workers
# ---------------------------------------------------------------------------
TRAIN_CLS="SELECT round(validation_accuracy::numeric, 2) >= 0.80 FROM rnn.train_classifier('mood', 'reviews', 'body', 'positive',
             embedding_dim => 16, hidden_size => 16, epochs => 4, seed => 7)"
check "train_classifier on the coordinator from a distributed table (validation accuracy >= 0.80)" "t" "$(c "$TRAIN_CLS")"
# A classifier's stratified split and its vocabulary's ties follow the order
# rows are read in, and Citus returns a distributed table's rows in no fixed
# order (plain PostgreSQL: heap order), so the weights differ from one
# PostgreSQL's; the rows read, and so the vocabulary and labels, do not.
p "$(sed 's/'"'"'mood'"'"'/'"'"'mood_plain'"'"'/' <<<"$TRAIN_CLS")" >/dev/null
check "it read the same rows as on one PostgreSQL: the same vocabulary and labels" \
    "$(p "SELECT array(SELECT unnest(vocabulary) ORDER BY 1), labels FROM rnn.models WHERE name = 'mood_plain'")" \
    "$(c "SELECT array(SELECT unnest(vocabulary) ORDER BY 1), labels FROM rnn.models WHERE name = 'mood'")"
# The coordinator's model, copied to plain PostgreSQL, is the reference for
# every score below.
copy_model mood classifier
SCORE_SQL="SELECT id, rnn.sentiment('mood', body), rnn.classify('mood', body), rnn.class_probs('mood', body)::text FROM reviews"
pushed_to_both "rnn.sentiment, classify and class_probs run in tasks on both workers" "$SCORE_SQL" "rnn.sentiment"
same "pushed-down rnn.sentiment, classify and class_probs of 2,000 rows equal one PostgreSQL's" "$SCORE_SQL ORDER BY id, 4"
same "a pushed-down aggregate of scores equals one PostgreSQL's" \
    "SELECT rnn.classify('mood', body), count(*), round(avg(rnn.sentiment('mood', body))::numeric, 12) FROM reviews GROUP BY 1 ORDER BY 1"

same "rnn.model_config of the model as on one PostgreSQL" "SELECT rnn.model_config('mood')"
# Running sentiment over chats: a window partitioned by the distribution
# column runs on the workers.  It needs a unidirectional model with
# pooling 'last'.
c "SELECT rnn.import_model('chat_gru', rnn.untrained_weights(jsonb_build_object('cell', 'gru', 'vocab_size', cardinality(vocabulary),
        'embedding_dim', 8, 'hidden_size', 8, 'head', 'classifier', 'output_size', 2, 'pooling', 'last'), 5), 'classifier',
        jsonb_build_object('labels', labels, 'vocabulary', vocabulary)) FROM rnn.models WHERE name = 'mood'" >/dev/null
copy_model chat_gru classifier
RUN_SQL="SELECT chat, ts, rnn.sentiment_running('chat_gru', msg) OVER (PARTITION BY chat ORDER BY ts) FROM messages"
pushed_to_both "rnn.sentiment_running OVER (PARTITION BY chat) runs in tasks on both workers" "$RUN_SQL" "rnn.sentiment_running"
same "pushed-down rnn.sentiment_running over 50 chats equals one PostgreSQL's" "$RUN_SQL ORDER BY chat, ts"

# New versions, deployment and drops made on the coordinator are what the
# workers' next statement scores with (the cache keys on the row's id and
# xmin, which every write changes on every placement).  One session that
# keeps all its worker connections, so the same worker backends, each with
# the model cached, serve every statement.
AVG="SELECT round(avg(rnn.sentiment('mood', body))::numeric, 12) FROM reviews"
steps=$(c "SET citus.max_cached_conns_per_worker = 16;
$AVG;
SELECT rnn.import_model('mood', rnn.untrained_weights(jsonb_build_object('cell', 'gru', 'vocab_size', cardinality(vocabulary),
        'embedding_dim', 4, 'hidden_size', 4, 'head', 'classifier', 'output_size', 2), 3), 'classifier',
        jsonb_build_object('labels', labels, 'vocabulary', vocabulary)) AS v FROM rnn.models WHERE name = 'mood' \\gset
$AVG;
SELECT rnn.deploy_model('mood', 1) AS v \\gset
$AVG;
SELECT rnn.undeploy_model('mood') AS v \\gset
$AVG;
SELECT rnn.drop_model('mood', 2) AS v \\gset
$AVG;" 2>&1)
v1=$(sed -n 1p <<<"$steps")
v2=$(sed -n 2p <<<"$steps")
check "the same worker backends score with a new version, a deployed one, the latest again, and after a drop" \
    "new:yes deployed:$v1 undeployed:$v2 dropped:$v1 lines:5" \
    "new:$([ -n "$v2" ] && [ "$v2" != "$v1" ] && echo yes || echo no) deployed:$(sed -n 3p <<<"$steps") undeployed:$(sed -n 4p <<<"$steps") dropped:$(sed -n 5p <<<"$steps") lines:$(wc -l <<<"$steps")"
out=$(c "BEGIN; SELECT rnn.import_model('fresh', rnn.export_model('mood'), 'classifier',
          jsonb_build_object('labels', labels, 'vocabulary', vocabulary)) FROM rnn.models WHERE name = 'mood';
        SELECT count(rnn.sentiment('fresh', body)) FROM reviews; COMMIT;" 2>&1)
fails_with "inside the transaction that stores it, a model is not yet visible to a pushed-down query (difference from one node)" \
    'model "fresh" does not exist' "$out"
check "... and it scores on the workers once committed" "2000" \
    "$(c "SELECT rnn.import_model('fresh', rnn.export_model('mood'), 'classifier',
             jsonb_build_object('labels', labels, 'vocabulary', vocabulary)) FROM rnn.models WHERE name = 'mood';
          SELECT count(rnn.sentiment('fresh', body)) FROM reviews" | tail -n 1)"

# ---------------------------------------------------------------------------
# Forecaster: trained from a table distributed by its series column
# ---------------------------------------------------------------------------
TRAIN_FC="SELECT series, train_windows > 0 FROM rnn.train_forecaster('temp', 'readings', 'ts', 'temp', series_column => 'series',
             cell => 'gru', hidden_size => 8, window_size => 48, horizon => 12, epochs => 3, batch_size => 32)"
check "train_forecaster on the coordinator from readings distributed by series" "8|t" "$(c "$TRAIN_FC")"
p "$TRAIN_FC" >/dev/null
same "the forecaster's weights and statistics equal those trained on one PostgreSQL" \
    "SELECT version, md5(weights), normalization FROM rnn.models WHERE name = 'temp'"
same "rnn.forecast over the distributed table equals one PostgreSQL's (8 series x 12 steps, value, lo, hi)" \
    "SELECT * FROM rnn.forecast('temp') ORDER BY series, step"
same "rnn.evaluate over the distributed table equals one PostgreSQL's" "SELECT * FROM rnn.evaluate('temp', 'readings')"
PN_SQL="SELECT series, rnn.predict_next('temp', temp ORDER BY ts), rnn.predict_next('temp', temp, series ORDER BY ts) FROM readings GROUP BY series"
pushed_to_both "predict_next ... GROUP BY series runs in tasks on both workers" "$PN_SQL" "rnn.predict_next"
same "pushed-down predict_next ... GROUP BY series equals one PostgreSQL's" "$PN_SQL ORDER BY series"

# ---------------------------------------------------------------------------
# rnn.sentiment_trigger on a distributed table: it fires on the workers
# ---------------------------------------------------------------------------
TRIGGER="CREATE TRIGGER score_body BEFORE INSERT OR UPDATE ON scored
    FOR EACH ROW EXECUTE FUNCTION rnn.sentiment_trigger('mood', 'body', 'score')"
p "$TRIGGER; INSERT INTO scored SELECT id, body FROM reviews" >/dev/null
c "SET citus.enable_unsafe_triggers = on;
$TRIGGER;
INSERT INTO scored SELECT id, body FROM reviews;" >/dev/null
same "sentiment_trigger filled every score on the workers as on one PostgreSQL" \
    "SELECT id, score FROM scored ORDER BY id"
check "the scores are on the workers' shards (w1, w2 rows)" "t" \
    "$(c "SELECT bool_and(result::int > 0) FROM run_command_on_shards('scored', 'SELECT count(*) FROM %s WHERE score IS NOT NULL')")"
p "UPDATE scored SET body = 'awful dull film' WHERE id <= 100" >/dev/null
c "UPDATE scored SET body = 'awful dull film' WHERE id <= 100" >/dev/null
same "an UPDATE rescored on the workers" "SELECT id, score FROM scored WHERE id <= 100 ORDER BY id"

# ---------------------------------------------------------------------------
# A second role: row-level security holds on the workers
# ---------------------------------------------------------------------------
a() { NQ_USER=analyst nq coord "$@"; }
fails_with "a role the model is not shared with cannot score it on the workers" 'model "mood" does not exist' \
    "$(a "SELECT count(rnn.sentiment('mood', body)) FROM reviews" 2>&1)"
c "SELECT rnn.grant_model('mood', 'analyst')" >/dev/null
check "once shared, the role scores it on the workers, the same scores as the owner" "$(c "$AVG")" "$(a "$AVG" 2>&1)"
fails_with "a role it was not shared with still cannot" 'model "mood" does not exist' \
    "$(NQ_USER=outsider nq coord "$AVG" 2>&1)"
c "SELECT rnn.revoke_model('mood', 'analyst')" >/dev/null
fails_with "revoked, the role cannot score it on the workers any more" 'model "mood" does not exist' \
    "$(a "$AVG" 2>&1)"
check "the role trains its own model from the distributed table, stored on every node" "analyst analyst analyst" \
    "$(a "SELECT 1 FROM rnn.train_classifier('analyst_mood', 'reviews', 'body', 'positive', embedding_dim => 8, hidden_size => 8, epochs => 1)" >/dev/null;
       for n in coord w1 w2; do nq "$n" "SELECT owner FROM rnn.models WHERE name = 'analyst_mood'"; done | tr '\n' ' ' | sed 's/ $//')"
placement=$(c "SELECT shard_name('rnn.models'::regclass, shardid) FROM pg_dist_shard WHERE logicalrelid = 'rnn.models'::regclass")
check "on a worker, the role reads only its own and shared models, through rnn.models and its placement $placement" \
    "analyst_mood,old_fc|analyst_mood,old_fc" \
    "$(NQ_USER=analyst nq w1 "SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM rnn.models")|$(NQ_USER=analyst nq w2 "SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM $placement")"
check "... scores it on the workers, and another role cannot" "2000 denied" \
    "$(a "SELECT count(rnn.sentiment('analyst_mood', body)) FROM reviews" 2>&1) $(NQ_USER=outsider nq coord "SELECT count(rnn.sentiment('analyst_mood', body)) FROM reviews" >/dev/null 2>&1 && echo allowed || echo denied)"

# ---------------------------------------------------------------------------
# A worker stops: clear errors, nothing partial, nothing stored
# ---------------------------------------------------------------------------
c "CREATE TABLE scored_copy (id int, score float8); SELECT create_distributed_table('scored_copy', 'id', colocate_with => 'reviews')" >/dev/null
c "CREATE TABLE local_reviews AS SELECT * FROM reviews" >/dev/null
# About 3 s of work per task (a sleep per row), so w2 is stopped mid-query.
c "INSERT INTO scored_copy SELECT id, rnn.sentiment('mood', body) FROM reviews WHERE pg_sleep(0.05) IS NOT NULL" \
    >"$CLUSTER_DIR/midquery.out" 2>&1 &
query_pid=$!
for _ in $(seq 1 100); do
    [ "$(nq w2 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%rnn.sentiment%' AND query NOT LIKE '%pg_stat_activity%'")" -gt 0 ] && break
    sleep 0.1
done
node_stop w2 immediate
wait "$query_pid"
query_rc=$?
fails_with "w2 stopped during a pushed-down scoring query: the query fails naming the worker" \
    "localhost:$(node_port w2)|connection to the remote node|server closed the connection" \
    "$(cat "$CLUSTER_DIR/midquery.out")"
check "... psql exited with an error" "t" "$([ "$query_rc" -ne 0 ] && echo t || echo f)"
fails_with "training from the distributed table while w2 is down fails naming the worker" \
    "localhost:$(node_port w2)|connection to the remote node" \
    "$(c "SELECT * FROM rnn.train_classifier('down_mood', 'reviews', 'body', 'positive', epochs => 1)" 2>&1)"
fails_with "training from a coordinator table while w2 is down fails when it stores the model" \
    "localhost:$(node_port w2)|connection to the remote node" \
    "$(c "SELECT * FROM rnn.train_classifier('down_mood', 'local_reviews', 'body', 'positive', embedding_dim => 8, hidden_size => 8, epochs => 1)" 2>&1)"
node_start w2
check "after w2 returns: nothing of the failed query stored, no model of the failed trainings" "0 0" \
    "$(c "SELECT count(*) FROM scored_copy") $(c "SELECT count(*) FROM rnn.models WHERE name = 'down_mood'")"
same "after w2 returns, pushed-down scoring equals one PostgreSQL's again" "$SCORE_SQL ORDER BY id, 4"
check "after w2 returns, training stores a model that both workers see" "1 1 1" \
    "$(c "SELECT 1 FROM rnn.train_classifier('down_mood', 'reviews', 'body', 'positive', embedding_dim => 8, hidden_size => 8, epochs => 1)" >/dev/null;
       for n in coord w1 w2; do nq "$n" "SELECT count(*) FROM rnn.models WHERE name = 'down_mood'"; done | tr '\n' ' ' | sed 's/ $//')"

# ---------------------------------------------------------------------------
# pg_dump of the coordinator, restored into a fresh Citus cluster
# ---------------------------------------------------------------------------
models_before=$(c "$ROWS_ALL")
DUMP="$CLUSTER_DIR/coord.dump"
pg_dump -Fc -h localhost -p "$(node_port coord)" -U postgres -d postgres -f "$DUMP" 2>"$CLUSTER_DIR/pg_dump.err"
check "pg_dump -Fc of the coordinator" "0" "$?"
for node in r0 r1; do node_create "$node" citus || echo "# could not start $node"; done
citus_cluster r0 r1
nq r0 "CREATE ROLE analyst LOGIN; CREATE ROLE outsider LOGIN" >/dev/null
pg_restore -h localhost -p "$(node_port r0)" -U postgres -d postgres "$DUMP" 2>"$CLUSTER_DIR/pg_restore.err"
restore_rc=$?
check "pg_restore into a fresh Citus coordinator" "0" "$restore_rc"
[ "$restore_rc" -eq 0 ] || head -n 10 "$CLUSTER_DIR/pg_restore.err" | sed 's/^/#   /'
check "every model restored: ids, versions, owners, readers, deployed, weights and metadata" \
    "$models_before" "$(nq r0 "$ROWS_ALL")"
nq r0 "SET citus.enable_unsafe_triggers = on;
SELECT create_reference_table('rnn.models');
SELECT create_distributed_table('reviews', 'id');" >/dev/null 2>"$CLUSTER_DIR/redistribute.err"
check "in the restored cluster, rnn.models made a reference table again; its worker holds every model" \
    "$models_before" "$(nq r1 "$ROWS_ALL")"
want=$(c "$SCORE_SQL ORDER BY id, 4" 2>&1)
got=$(nq r0 "$SCORE_SQL ORDER BY id, 4" 2>&1)
check "the restored models score pushed down as before" "$(md5sum <<<"$want")" "$(md5sum <<<"$got")"
[ "$want" = "$got" ] || { head -n 5 <<<"$got"; cat "$CLUSTER_DIR/redistribute.err"; } | sed 's/^/#   /'

# ---------------------------------------------------------------------------
# The README's Citus section: its plpgsql blocks, in order, on a fresh
# coordinator and worker, with small tables of the names it uses
# ---------------------------------------------------------------------------
for node in rc rw; do node_create "$node" citus || echo "# could not start $node"; done
citus_cluster rc rw
nq rc "CREATE TABLE reviews (id int PRIMARY KEY, body text, positive boolean, score float8);
INSERT INTO reviews (id, body, positive)
SELECT i, (ARRAY['a', 'the', 'this'])[1 + i % 3] || ' ' || (ARRAY['film', 'movie', 'story'])[1 + i % 5 % 3] || ' is ' ||
       CASE WHEN i % 2 = 0 THEN (ARRAY['moving', 'superb', 'great'])[1 + i % 7 % 3]
            ELSE (ARRAY['dull', 'awful', 'tired'])[1 + i % 7 % 3] END,
       i % 2 = 0
  FROM generate_series(1, 300) i;
CREATE TABLE readings AS
SELECT 'sensor_' || s AS sensor, timestamptz '2025-01-01 00:00+00' + make_interval(hours => i) AS ts,
       20 + s + 3 * sin(i * 2 * pi() / 24) + ((i * 7919 + s * 104729) % 100) / 100.0 AS temp
  FROM generate_series(1, 4) s, generate_series(0, 199) i;" >/dev/null
for f in "$README_BLOCKS"/*.sql; do
    first=$(grep -m1 -v '^ *--' "$f" | sed 's/^ *//' | cut -c1-60)
    if out=$(nq rc "$(cat "$f")" 2>&1) && ! grep -q ERROR <<<"$out"; then
        tap OK "README Citus block $(basename "$f" .sql) runs: $first"
    else
        tap FAIL "README Citus block $(basename "$f" .sql) runs: $first"
        tail -n 5 <<<"$out" | sed 's/^/#   /'
    fi
done

exit $((fails > 0))
