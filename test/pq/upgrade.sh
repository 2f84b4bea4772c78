#!/usr/bin/env bash
# test/pq/upgrade.sh -- ALTER EXTENSION rnn_ext UPDATE from 0.1, through
# every hop of the chain to the current version (default_version in
# rnn_ext.control), keeps every model and ends with the schema of a fresh
# install.
#
#   1. CREATE EXTENSION rnn_ext VERSION '0.1' still works; a forecaster (two
#      versions, one deployed, shared with a role) and a classifier (owned by
#      another role, shared with public) are trained under it, and their
#      rows, scores, model_info and exports recorded;
#   2. after ALTER EXTENSION rnn_ext UPDATE (in a new session, so nothing is
#      cached from before): extversion is the current one, every row of rnn.models is the
#      same (md5 of the whole row), every score, model_info and export is
#      identical, and each role sees what it saw;
#   3. the 0.2 errors: every PL/pgSQL model function raises 42704 with the C
#      functions' message and hint for an unknown model, and 22023 with the
#      length, not the name, for a name of more than 200 characters (0.1
#      echoed it whole);
#   4. the updated database and a fresh CREATE EXTENSION rnn_ext database
#      have the same extension: members, function definitions, owners,
#      ACLs, comments, columns, defaults, constraints, indexes, triggers,
#      policies, views, sequences and initial privileges (a listing of the
#      catalogs, diffed; before the update it differs);
#   5. pg_dump of the updated database restores into a new one with the same
#      models, scores and schema.
#
# Needs a running server (PGHOST/PGPORT/PGUSER as set by pg_virtualenv) on
# which rnn_ext (every version's scripts) is installed and the connecting role
# is a superuser.  Prints TAP.
set -uo pipefail

OLD=rnn_upg_old_$$          # created at 0.1, then updated
NEW=rnn_upg_new_$$          # created at the current version
CUR=$(sed -n "s/^default_version = '\\(.*\\)'$/\\1/p" "$(dirname "$0")/../../rnn_ext.control")
RST=rnn_upg_rst_$$          # the updated one, dumped and restored
OWNER=regress_rnn_upg_owner
READER=regress_rnn_upg_reader
DUMP=$(mktemp /tmp/rnn_upg_dump.XXXXXX)
TMP=$(mktemp -d /tmp/rnn_upg.XXXXXX)
. "$(dirname "$0")/tap.bash"

q() {       # q DB SQL: the result, unaligned
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "SET client_min_messages = warning" -c "$2"
}
# err DB SQL [ROLE]: "SQLSTATE|message|detail|hint" of the error SQL raises
ERRFN='CREATE FUNCTION pg_temp.err(s text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE st text; m text; d text; h text;
BEGIN
    EXECUTE s;
    RETURN $$no error$$;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
                            d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN concat_ws($$|$$, st, m, d, h);
END $f$'
err() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$ERRFN" -c "SET ROLE ${3:-NONE}" \
         -c "SELECT pg_temp.err(\$sql\$$2\$sql\$)"
}
drop_all() {
    for db in "$OLD" "$NEW" "$RST"; do dropdb --if-exists "$db" 2>/dev/null; done
    for r in $OWNER $READER; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" 2>/dev/null; done
}
trap 'drop_all; rm -rf "$DUMP" "$TMP"' EXIT

# A listing of everything the extension is, one object per line or block,
# in an order that does not depend on OIDs or on the order of creation.
LISTING=$(cat <<'SQL'
WITH ext AS (SELECT * FROM pg_extension WHERE extname = 'rnn_ext'),
members AS (
    SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT c.* FROM pg_class c WHERE c.relnamespace = 'rnn'::regnamespace)
SELECT line FROM (
    SELECT format('extension %s schema=%s relocatable=%s config=%s condition=%s',
                  extname, extnamespace::regnamespace, extrelocatable,
                  extconfig::regclass[], extcondition) AS line FROM ext
    UNION ALL
    SELECT format('schema %s owner=%s acl=%s comment=%s', nspname, nspowner::regrole, nspacl,
                  obj_description(oid, 'pg_namespace'))
      FROM pg_namespace WHERE nspname = 'rnn'
    UNION ALL
    SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM members
    UNION ALL
    SELECT format(E'function %s owner=%s acl=%s\n%s\ncomment=%s', p.oid::regprocedure,
                  p.proowner::regrole, p.proacl,
                  CASE WHEN p.prokind = 'a'
                       THEN (SELECT format('aggregate sfunc=%s stype=%s finalfunc=%s finalmodify=%s parallel=%s',
                                           a.aggtransfn, a.aggtranstype::regtype, a.aggfinalfn,
                                           a.aggfinalmodify, p.proparallel)
                               FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
                       ELSE pg_get_functiondef(p.oid) END,
                  obj_description(p.oid, 'pg_proc'))
      FROM pg_proc p WHERE p.pronamespace = 'rnn'::regnamespace
    UNION ALL
    SELECT format('relation %s kind=%s owner=%s acl=%s rls=%s force_rls=%s options=%s comment=%s',
                  c.oid::regclass, c.relkind, c.relowner::regrole, c.relacl, c.relrowsecurity,
                  c.relforcerowsecurity, c.reloptions, obj_description(c.oid, 'pg_class'))
      FROM rels c
    UNION ALL
    SELECT format('column %s.%s #%s %s notnull=%s identity=%s generated=%s default=%s acl=%s comment=%s',
                  c.oid::regclass, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, a.attidentity, a.attgenerated,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attacl, col_description(c.oid, a.attnum))
      FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      FROM pg_constraint WHERE connamespace = 'rnn'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN rels c ON c.oid = i.indrelid
    UNION ALL
    SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s on %s cmd=%s permissive=%s roles=%s using=%s check=%s',
                  p.polname, p.polrelid::regclass, p.polcmd, p.polpermissive,
                  (SELECT array_agg(CASE r WHEN 0 THEN 'public' ELSE r::regrole::text END ORDER BY 1)
                     FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_policy p JOIN rels c ON c.oid = p.polrelid
    UNION ALL
    SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid)) FROM rels c WHERE c.relkind = 'v'
    UNION ALL
    SELECT format('sequence %s type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',
                  s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement,
                  s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
      FROM pg_sequence s JOIN rels c ON c.oid = s.seqrelid
    UNION ALL
    SELECT format('type %s type=%s', t.oid::regtype, t.typtype)
      FROM pg_type t WHERE t.typnamespace = 'rnn'::regnamespace
    UNION ALL
    SELECT format('init_privs %s %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid),
                  i.privtype, i.initprivs)
      FROM pg_init_privs i JOIN members m
        ON m.classid = i.classoid AND m.objid = i.objoid AND i.objsubid IN (0, m.objsubid)
) l ORDER BY line COLLATE "C";
SQL
)
listing() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$LISTING"; }

# Everything a user of the models could observe: the rows themselves (the
# whole row, id and created_at included), scores of both models, model_info
# of every version, the exported blobs, and what each role sees.
ROWS="SELECT count(*) || ' ' || string_agg(md5(m::text), ' ' ORDER BY id) FROM rnn.models m"
SCORES="SELECT concat_ws(E'\n',
  (SELECT string_agg(concat_ws('|', series, step, ts, value, lo, hi), ' ' ORDER BY series, step)
     FROM rnn.forecast('upg_temp', level => 0.8)),
  (SELECT e::text FROM rnn.evaluate('upg_temp', 'readings') e),
  (SELECT string_agg(p::text, ' ' ORDER BY sensor)
     FROM (SELECT sensor, rnn.predict_next('upg_temp', temp, sensor ORDER BY ts) p
             FROM readings GROUP BY sensor) x),
  (SELECT string_agg(concat_ws('|', b, rnn.sentiment('upg_mood', b), rnn.classify('upg_mood', b),
                               (SELECT string_agg(label || ':' || probability, ',')
                                  FROM rnn.class_probs('upg_mood', b))), ' ' ORDER BY b)
     FROM (VALUES ('a great film'), ('the plot was awful'), ('zzz unknown')) v(b)),
  (SELECT string_agg(concat_ws('|', name, version, rnn.model_info(name, version),
                               md5(rnn.export_model(name, version))), ' ' ORDER BY name, version)
     FROM rnn.models),
  (SELECT rnn.model_info('upg_temp')::text),
  (SELECT string_agg(format('%s|%s|%s|%s|%s|%s', name, latest_version, deployed_version, versions, owner, readers),
                     ' ' ORDER BY name) FROM rnn.model_list))"
SEEN="SELECT coalesce(string_agg(name, ' ' ORDER BY name), '') FROM rnn.model_list"

echo "1..32"
drop_all >/dev/null 2>&1
createdb "$OLD" && createdb "$NEW" && createdb "$RST" || { echo "Bail out! createdb failed"; exit 1; }
q postgres "CREATE ROLE $OWNER; CREATE ROLE $READER" >/dev/null

# --- 1. models stored under 0.1 ----------------------------------------------
check "CREATE EXTENSION rnn_ext VERSION '0.1' installs 0.1" "0.1" \
    "$(q "$OLD" "CREATE EXTENSION rnn_ext VERSION '0.1';
                 SELECT extversion FROM pg_extension WHERE extname = 'rnn_ext'")"
listing "$OLD" > "$TMP/before"

t0=$(now_ms)
q "$OLD" "
CREATE TABLE readings AS
SELECT 'sensor_' || s AS sensor, timestamp '2025-01-01' + make_interval(hours => i) AS ts,
       10 * s + 3 * sin(i * 2 * pi() / 24) + ((i * 7919 + s * 104729) % 100) / 100.0 AS temp
  FROM generate_series(1, 2) s, generate_series(0, 199) i;
CREATE TABLE reviews AS
SELECT i AS id, (ARRAY['a', 'the', 'this'])[1 + i % 3] || ' ' || (ARRAY['film', 'plot'])[1 + i % 5 % 2] || ' was ' ||
       CASE WHEN i % 2 = 0 THEN (ARRAY['great', 'superb', 'moving'])[1 + i % 7 % 3]
            ELSE (ARRAY['awful', 'dull', 'tired'])[1 + i % 7 % 3] END AS body,
       i % 2 = 0 AS positive
  FROM generate_series(1, 200) i;
GRANT SELECT ON reviews TO $OWNER;
SELECT t.version FROM generate_series(1, 2) s,
       rnn.train_forecaster('upg_temp', 'readings', 'ts', 'temp', series_column => 'sensor',
                            hidden_size => 8, window_size => 24, horizon => 6, epochs => 2, seed => s) t;
SELECT rnn.deploy_model('upg_temp', 1);
SELECT rnn.grant_model('upg_temp', '$READER');
SET ROLE $OWNER;
SELECT version FROM rnn.train_classifier('upg_mood', 'reviews', 'body', 'positive',
       embedding_dim => 8, hidden_size => 8, epochs => 2, seed => 1);
SELECT rnn.grant_model('upg_mood', 'public');" >/dev/null
check "a forecaster (version 1 of 2 deployed, shared) and another role's classifier stored under 0.1" \
    "upg_mood|1||1|$OWNER|{public} upg_temp|2|1|2|postgres|{$READER}" \
    "$(q "$OLD" "SELECT string_agg(format('%s|%s|%s|%s|%s|%s', name, latest_version, deployed_version, versions, owner, readers),
                                   ' ' ORDER BY name) FROM rnn.model_list")"
echo "# trained in $(( $(now_ms) - t0 )) ms"

rows_before=$(q "$OLD" "$ROWS")
scores_before=$(q "$OLD" "$SCORES")
seq_before=$(q "$OLD" "SELECT last_value FROM rnn.models_id_seq")
seen_reader_before=$(q "$OLD" "SET ROLE $READER; $SEEN")
seen_other_before=$(q "$OLD" "SET ROLE $OWNER; $SEEN")
long_before=$(err "$OLD" "SELECT rnn.drop_model(repeat('x', 1000000))")
check "0.1 echoes a 1,000,000-character name back whole (what 0.2 fixes)" "t" \
    "$([ ${#long_before} -gt 1000000 ] && echo t || echo "f (${#long_before} characters)")"

# --- 2. the update keeps every model ------------------------------------------
check "ALTER EXTENSION rnn_ext UPDATE succeeds" "" "$(q "$OLD" "ALTER EXTENSION rnn_ext UPDATE" 2>&1)"
check "extversion is $CUR" "$CUR" "$(q "$OLD" "SELECT extversion FROM pg_extension WHERE extname = 'rnn_ext'")"
check "every row of rnn.models is unchanged (md5 of the whole row)" "$rows_before" "$(q "$OLD" "$ROWS")"
check "the id sequence is unchanged" "$seq_before" "$(q "$OLD" "SELECT last_value FROM rnn.models_id_seq")"
check "forecasts, evaluate, predict_next, sentiment, model_info, exports: identical" \
    "$scores_before" "$(q "$OLD" "$SCORES")"
check "the reader still sees what was shared with it" "$seen_reader_before" \
    "$(q "$OLD" "SET ROLE $READER; $SEEN")"
check "the classifier's owner still sees what it saw" "$seen_other_before" \
    "$(q "$OLD" "SET ROLE $OWNER; $SEEN")"

# --- 3. the 0.2 errors ---------------------------------------------------------
NOMODEL='42704|model "no_such_model" does not exist||SELECT name FROM rnn.model_list lists the stored models.'
LONG='22023|model name must be 1 to 200 characters long|The name given is 1000000 characters long.|'
for f in "model_info(%s)" "export_model(%s)" "drop_model(%s)" "deploy_model(%s)" "undeploy_model(%s)" \
         "grant_model(%s, 'public')" "revoke_model(%s, 'public')"; do
    unknown=$(err "$OLD" "SELECT rnn.$(printf "$f" "'no_such_model'")")
    long=$(err "$OLD" "SELECT rnn.$(printf "$f" "repeat('x', 1000000)")" | cut -c 1-300)
    check "rnn.${f%%(*}: unknown model is 42704 with the C hint; a 1,000,000-character name is 22023, not echoed" \
        "$NOMODEL $LONG" "$unknown $long"
done
check "model_info and model_config (C) raise the same error for an unknown model" \
    "$(err "$OLD" "SELECT rnn.model_config('no_such_model')")" \
    "$(err "$OLD" "SELECT rnn.model_info('no_such_model')")"
check "... and for an unknown version" \
    "$(err "$OLD" "SELECT rnn.model_config('upg_temp', 99)")" \
    "$(err "$OLD" "SELECT rnn.model_info('upg_temp', 99)")"
check "... and for an over-long name" \
    "$(err "$OLD" "SELECT rnn.model_config(repeat('é', 201))")" \
    "$(err "$OLD" "SELECT rnn.model_info(repeat('é', 201))")"
check "a model another role cannot see is as unknown to it (the helper runs for every role)" \
    "$NOMODEL" "$(err "$OLD" "SELECT rnn.drop_model('upg_temp')" $OWNER | sed 's/upg_temp/no_such_model/')"

# --- 4. the same schema as a fresh install -------------------------------------------
q "$NEW" "CREATE EXTENSION rnn_ext" >/dev/null
listing "$NEW" > "$TMP/fresh"
listing "$OLD" > "$TMP/updated"
kinds=""
for kind in "functions:^function rnn\." "helper:^function rnn\._raise_model_not_found(text,integer)" \
            "members:^member " "columns:^column rnn\.models\." "policies:^policy " "triggers:^trigger " \
            "views:^view " "sequences:^sequence " "init_privs:^init_privs "; do
    kinds="$kinds ${kind%%:*}=$(grep -c "${kind#*:}" "$TMP/fresh")"
done
echo "# listing of a fresh $CUR:$kinds"
check "the listing has every kind of object the extension has" "" "$(echo "$kinds" | grep -o ' [a-z_]*=0')"
check "before the update, the 0.1 database's listing differs from a fresh $CUR's" "differ" \
    "$(cmp -s "$TMP/before" "$TMP/fresh" && echo same || echo differ)"
if diff -u "$TMP/fresh" "$TMP/updated" > "$TMP/diff"; then
    tap OK "the updated database's extension equals a fresh CREATE EXTENSION rnn_ext ($(wc -l < "$TMP/fresh") lines)"
else
    tap FAIL "the updated database's extension equals a fresh CREATE EXTENSION rnn_ext"
    sed 's/^/#   /' "$TMP/diff" | head -60
fi

# --- 5. pg_dump of the updated database restores ---------------------------------
pg_dump -Fc -f "$DUMP" "$OLD"
check "pg_dump of the updated database succeeds" 0 "$?"
pg_restore --exit-on-error -d "$RST" "$DUMP" 2>&1 | sed 's/^/# /' | head -5
check "pg_restore into a new database succeeds" 0 "${PIPESTATUS[0]}"
check "the restored database is at $CUR" "$CUR" \
    "$(q "$RST" "SELECT extversion FROM pg_extension WHERE extname = 'rnn_ext'")"
check "every row restored as it was before the update" "$rows_before" "$(q "$RST" "$ROWS")"
check "scores in the restored database identical to 0.1's" "$scores_before" "$(q "$RST" "$SCORES")"
listing "$RST" > "$TMP/restored"
if diff -u "$TMP/fresh" "$TMP/restored" > "$TMP/diff"; then
    tap OK "the restored database's extension equals a fresh one"
else
    tap FAIL "the restored database's extension equals a fresh one"
    sed 's/^/#   /' "$TMP/diff" | head -60
fi

# --- and the replaced functions still do their work --------------------------------
check "after the update: deploy, undeploy, revoke, drop a version, model_info" "2 2 2 1 2 {}" \
    "$(echo $(q "$OLD" "SELECT rnn.deploy_model('upg_temp', 2)") $(q "$OLD" "SELECT rnn.undeploy_model('upg_temp')") \
            $(q "$OLD" "SELECT rnn.revoke_model('upg_temp', '$READER')") $(q "$OLD" "SELECT rnn.drop_model('upg_temp', 1)") \
            $(q "$OLD" "SELECT rnn.model_info('upg_temp') ->> 'version'") \
            $(q "$OLD" "SELECT readers FROM rnn.model_list WHERE name = 'upg_temp'"))"
check "another role still cannot drop the classifier's owner's model" "42501" \
    "$(err "$OLD" "SELECT rnn.drop_model('upg_mood')" $READER | cut -d'|' -f1)"

[ $fails -eq 0 ]
