#!/usr/bin/env bash
# test/pq/torch_interop.sh -- scripts/rnn_torch.py against the server:
#
#   1. a classifier trained in SQL (bidirectional GRU, max pooling, the
#      n-gram path of the defaults) exported
#      with rnn.export_model and loaded in PyTorch gives the same
#      P(positive) as rnn.sentiment, to 1e-5, on texts of vocabulary words
#      (token ids from rnn.models.vocabulary, so no tokenizer is needed);
#   2. a classifier built and trained a few Adam steps in PyTorch
#      (unidirectional LSTM, mean pooling, an n-gram path over some of the
#      texts' bigrams) and imported with rnn.import_model scores the same in
#      SQL as in PyTorch, to 1e-5;
#   3. forecasters trained in SQL (3 series at different scales), exported
#      with rnn.model_info as meta: `rnn_torch.py forecast` gives the same
#      value, lo and hi as rnn.forecast for every series and step, within
#      1e-5 absolute or 1e-4 relative (why: see section 3 below), for
#        a. a GRU with the defaults (window normalization, skip path),
#        b. the same through --values for one series, at another level,
#        d. a 2-layer LSTM with a covariate,
#        e. a tanh RNN with normalization => 'series' and no skip path, on
#           another relation with a series the model has not seen;
#      and (c) Forecaster.examples (windows in network units, for training
#      in PyTorch) gives rnn.evaluate's mse_normalized over every window;
#   4. a forecaster built and trained in PyTorch with Forecaster, imported
#      with rnn.import_model (info from `import --info`): rnn.forecast gives
#      the PyTorch forecasts, within the same tolerance;
#   5. with missing => 'interpolate' and gaps in the newest rows (one at a
#      window's first row) and in an unseen series: the same again;
#   6. a character language model trained in SQL, exported: PyTorch's
#      log-likelihood of texts (read from the boundary id 0, the text's end
#      predicted too) equals rnn.log_likelihood, to 1e-4 relative;
#   7. a tagger trained in SQL, exported: PyTorch's most probable tag and its
#      probability at every token equal rnn.tag's, to 1e-5;
#   8. a seasonal model (normalization => 'level', seasonal => true: log
#      values, a recurrent step a season, seasonal-naive base) on positive
#      series and one it has not seen: the same again, and its
#      Forecaster.examples give rnn.evaluate's mse_normalized.
#
# Every test is skipped ("ok N # SKIP") when /usr/bin/python3 has no torch.
# Needs a running server (PGHOST/PGPORT/PGUSER as set by pg_virtualenv) on
# which rnn_ext is installed and the connecting role is a superuser.
# Prints TAP.
set -uo pipefail

DB=rnn_torch_$$
OUT=
PY=/usr/bin/python3
SCRIPT=$(cd "$(dirname "$0")/../.." && pwd)/scripts/rnn_torch.py
. "$(dirname "$0")/tap.bash"

cleanup() {
    dropdb --if-exists "$DB" 2>/dev/null
    [ -n "$OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT

echo "1..15"
if ! "$PY" -c "import torch" 2>/dev/null; then
    for i in $(seq 1 15); do echo "ok $i # SKIP $PY has no torch (apt-get install python3-torch)"; done
    exit 0
fi
OUT=$(mktemp -d /tmp/rnn_torch.XXXXXX)
createdb "$DB" || { echo "Bail out! createdb failed"; exit 1; }
q "CREATE EXTENSION rnn_ext;
   SET client_min_messages = warning;
   CREATE TABLE reviews AS
   SELECT i, (SELECT string_agg(CASE WHEN (i + k) % 4 = 0
                                     THEN CASE WHEN i % 2 = 0 THEN 'good' ELSE 'bad' END
                                     ELSE 'w' || ((i * 31 + k * 17) % 40) END, ' ')
              FROM generate_series(1, 3 + i % 9) k) AS body,
          i % 2 = 0 AS positive
   FROM generate_series(1, 600) i;
   SELECT version FROM rnn.train_classifier('clf', 'reviews', 'body', 'positive', hidden_size => 8,
          embedding_dim => 6, epochs => 3, seed => 7);
   CREATE TABLE probe AS
   SELECT j, body FROM (SELECT row_number() OVER (ORDER BY i) AS j, body FROM reviews
                         WHERE i % 37 = 1) x;" >/dev/null

# texts as 0-based token ids (every word is in the vocabulary) and scores
ids_and_scores() {  # ids_and_scores MODEL -> "id,id,...<TAB>score" per probe text
    q "SELECT string_agg((array_position(m.vocabulary, w) - 1)::text, ',' ORDER BY o)
              || E'\t' || rnn.sentiment('$1', p.body)
         FROM probe p, rnn.models m,
              LATERAL unnest(string_to_array(p.body, ' ')) WITH ORDINALITY AS u(w, o)
        WHERE m.name = '$1'
        GROUP BY p.j, p.body ORDER BY p.j"
}

# 1. SQL -> PyTorch
q "COPY (SELECT encode(rnn.export_model('clf'), 'hex')) TO STDOUT" >"$OUT/clf.hex"
"$PY" "$SCRIPT" export "$OUT/clf.hex" "$OUT/clf.pt" 2>"$OUT/export.err"
check "export: a trained classifier becomes a .pt file" 0 "$?"
ids_and_scores clf >"$OUT/clf.scores"
res=$("$PY" - "$SCRIPT" "$OUT/clf.pt" "$OUT/clf.scores" <<'PYEOF' 2>&1
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location("rnn_torch", sys.argv[1])
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
net, _ = rt.load_pt(sys.argv[2])
worst, n = 0.0, 0
with torch.no_grad():
    for line in open(sys.argv[3]):
        ids, score = line.rstrip("\n").split("\t")
        x = torch.tensor([int(t) for t in ids.split(",")]).unsqueeze(1)
        p = torch.softmax(net(x).double(), dim=1)[0, 1].item()
        worst = max(worst, abs(p - float(score))); n += 1
print("%d %.3g" % (n, worst))
PYEOF
)
echo "# $res (texts, max |PyTorch - rnn.sentiment|)"
set -- $res
if [ "${1:-0}" -gt 5 ] && "$PY" -c "import sys; sys.exit(not float('$2') <= 1e-5)" 2>/dev/null; then
    tap OK "exported classifier: PyTorch matches rnn.sentiment to 1e-5"
else
    tap FAIL "exported classifier: PyTorch matches rnn.sentiment to 1e-5"; cat "$OUT/export.err"
fi

# 2. PyTorch -> SQL: a model trained in PyTorch, with the SQL model's vocabulary
V=$(q "SELECT cardinality(vocabulary) FROM rnn.models WHERE name = 'clf'")
"$PY" - "$SCRIPT" "$OUT/torch.pt" "$V" "$OUT/clf.scores" >"$OUT/torch.scores" 2>"$OUT/torch.err" <<'PYEOF'
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location("rnn_torch", sys.argv[1])
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
torch.manual_seed(3)
texts = [[int(t) for t in l.split("\t")[0].split(",")] for l in open(sys.argv[4])]
# an n-gram path over every other bigram of the texts (the rest have no row)
keys = sorted({a * (1 << 32) + b for ids in texts for a, b in zip(ids, ids[1:])})[::2]
cfg = rt.full_config({"cell": "lstm", "vocab_size": int(sys.argv[3]), "embedding_dim": 5,
                      "hidden_size": 7, "output_size": 2, "head": "classifier", "pooling": "mean",
                      "ngram_order": 2, "ngram_bigrams": len(keys)})
net = rt.RnnNet(cfg)
net.ngram.keys.copy_(torch.tensor(keys, dtype=torch.int64))
torch.nn.init.normal_(net.ngram.weight, std=0.2)
opt = torch.optim.Adam(net.parameters(), lr=0.05)
for step in range(5):                     # a few steps, one text at a time
    for k, ids in enumerate(texts):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.tensor(ids).unsqueeze(1)),
                                                 torch.tensor([k % 2]))
        loss.backward(); opt.step()
net.eval()
torch.save(net.state_dict(), sys.argv[2])          # a bare state_dict
import json; json.dump(cfg, open(sys.argv[2] + ".json", "w"))
with torch.no_grad():
    for ids in texts:
        print(repr(torch.softmax(net(torch.tensor(ids).unsqueeze(1)).double(), dim=1)[0, 1].item()))
PYEOF
"$PY" "$SCRIPT" import "$OUT/torch.pt" "$OUT/torch.hex" --config "$OUT/torch.pt.json" --hex 2>>"$OUT/torch.err"
imported=$(psql -X -q -At -d "$DB" -v blob="$(cat "$OUT/torch.hex")" 2>&1 <<'SQL'
SELECT rnn.import_model('from_torch', decode(:'blob', 'hex'), 'classifier',
       jsonb_build_object('vocabulary', to_jsonb(vocabulary), 'labels', to_jsonb(labels),
                          'hyperparams', hyperparams))
  FROM rnn.models WHERE name = 'clf';
SQL
)
check "import: a state_dict trained in PyTorch is accepted by rnn.import_model" 1 "$imported"
[ "$imported" = 1 ] || cat "$OUT/torch.err"
ids_and_scores from_torch | cut -f2 >"$OUT/sql.scores"
worst=$(paste "$OUT/torch.scores" "$OUT/sql.scores" | "$PY" -c "
import sys
d = [abs(float(a) - float(b)) for a, b in (l.split() for l in sys.stdin)]
print('%d %.3g' % (len(d), max(d)))" 2>&1)
echo "# $worst (texts, max |rnn.sentiment - PyTorch|)"
set -- $worst
if [ "${1:-0}" -gt 5 ] && "$PY" -c "import sys; sys.exit(not float('$2') <= 1e-5)" 2>/dev/null; then
    tap OK "imported PyTorch model: rnn.sentiment matches PyTorch to 1e-5"
else
    tap FAIL "imported PyTorch model: rnn.sentiment matches PyTorch to 1e-5"
fi

# 3. forecasters: `rnn_torch.py forecast` (the Forecaster module around the
# exported network) against rnn.forecast, row for row.  The series follow
# the logistic map (chaotic, so the ridge-started skip path cannot explain
# them and the recurrent part does real work) at three scales: around 100,
# 0.5 and -20, with different spreads, so per-series z-scoring matters.
#
# Tolerance: a number passes when it is within 1e-5 absolutely OR 1e-4
# relatively.  Both sides run the network in float32 (~6e-8 relative per
# operation, ~1e-6 over a window in z-units), and the result is scaled back
# by each series' std and shifted by its mean, so for a series around 100 a
# float32 difference is ~1e-5 absolute but ~1e-7 relative; for values near
# zero a relative bound alone would be meaningless.
q "SET client_min_messages = warning;
   CREATE TABLE lg AS
   WITH RECURSIVE m(k, i, x) AS (
     SELECT k, 1, (0.1 + 0.2 * k)::float8 FROM generate_series(1, 3) k
     UNION ALL SELECT k, i + 1, 3.9 * x * (1 - x) FROM m WHERE i < 200)
   SELECT 's' || k AS sensor, i AS t,
          (ARRAY[100, 0.5, -20])[k] + (ARRAY[10, 0.3, 4])[k] * x AS v,
          cos(i / 4.0) + k + x AS x
     FROM m;
   -- the last 20 rows of each series dropped, and a series no model has seen
   CREATE TABLE lg_new AS
   SELECT * FROM lg WHERE t <= 180
   UNION ALL
   SELECT 's9', i, 200 + 50 * sin(i / 3.0) + 5 * (i % 7), 0 FROM generate_series(1, 60) i;
   SELECT version FROM rnn.train_forecaster('fc_gru', 'lg', 't', 'v', series_column => 'sensor',
          cell => 'gru', hidden_size => 8, window_size => 16, horizon => 4,
          epochs => 3, batch_size => 16, learning_rate => 0.02);
   SELECT version FROM rnn.train_forecaster('fc_lstm', 'lg', 't', 'v', series_column => 'sensor',
          feature_columns => '{x}', cell => 'lstm', num_layers => 2, hidden_size => 6,
          window_size => 12, horizon => 3, epochs => 3, batch_size => 16, learning_rate => 0.02);
   SELECT version FROM rnn.train_forecaster('fc_series', 'lg', 't', 'v', series_column => 'sensor',
          cell => 'rnn', hidden_size => 8, window_size => 10, horizon => 2,
          normalization => 'series', linear_skip => false,
          epochs => 3, batch_size => 16, learning_rate => 0.02);" >/dev/null \
  || echo "# training the forecasters failed"
q "COPY (SELECT * FROM lg ORDER BY sensor, t) TO STDOUT CSV HEADER" >"$OUT/lg.csv"
q "COPY (SELECT * FROM lg_new ORDER BY sensor, t) TO STDOUT CSV HEADER" >"$OUT/lg_new.csv"
for m in fc_gru fc_lstm fc_series; do
    q "COPY (SELECT encode(rnn.export_model('$m'), 'hex')) TO STDOUT" >"$OUT/$m.hex"
    q "SELECT rnn.model_info('$m')" >"$OUT/$m.json"          # the meta: hyperparams, normalization
done
sql_fc() {      # sql_fc 'rnn.forecast(...)' [WHERE]: CSV series,step,value,lo,hi
    q "COPY (SELECT series, step, value, lo, hi FROM $1 ${2:-} ORDER BY 1, 2) TO STDOUT CSV HEADER"
}
sql_fc "rnn.forecast('fc_gru')" >"$OUT/fc_gru.sql.csv"
sql_fc "rnn.forecast('fc_gru', level => 0.8)" "WHERE series = 's2'" >"$OUT/fc_s2.sql.csv"
sql_fc "rnn.forecast('fc_lstm')" >"$OUT/fc_lstm.sql.csv"
sql_fc "rnn.forecast('fc_series', horizon => 1, relation => 'lg_new')" >"$OUT/fc_series.sql.csv"
mse_sql=$(q "SELECT mse_normalized FROM rnn.evaluate('fc_gru', 'lg')")

# The PyTorch side in one process (importing torch takes a second or two):
# the CLI commands run through rnn_torch.main, as from a shell, each writing
# its output to a file; errors go to fc.err.  Section 4's forecaster is
# built, trained and saved here too.
"$PY" - "$SCRIPT" "$OUT" >"$OUT/fc.stats" 2>>"$OUT/fc.err" <<'PYEOF'
import sys, contextlib, importlib.util, traceback, torch
spec = importlib.util.spec_from_file_location("rnn_torch", sys.argv[1])
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
O = sys.argv[2]

def cli(outfile, *args):        # rnn_torch.py ARGS > outfile
    try:
        with open(outfile, "w") as f, contextlib.redirect_stdout(f):
            rt.main(list(args))
    except BaseException:
        traceback.print_exc()

def step(fn):
    try:
        fn()
    except Exception:
        traceback.print_exc()

for m in ("fc_gru", "fc_lstm", "fc_series"):
    cli("/dev/null", "export", O + "/%s.hex" % m, O + "/%s.pt" % m, "--meta", O + "/%s.json" % m)
cli(O + "/fc_gru.py.csv", "forecast", O + "/fc_gru.pt", "--csv", O + "/lg.csv")
cli(O + "/fc_lstm.py.csv", "forecast", O + "/fc_lstm.pt", "--csv", O + "/lg.csv")
cli(O + "/fc_series.py.csv", "forecast", O + "/fc_series.pt", "--csv", O + "/lg_new.csv",
    "--horizon", "1")

def gru_checks():
    fm = rt.load_forecaster(O + "/fc_gru.pt")
    data = rt.read_series_csv(O + "/lg.csv", fm)
    # how much of the last windows' forecasts the recurrent part makes
    keys = list(data)
    st = [fm.stats_for(k, data[k]) for k in keys]
    x, skip, _ = fm.inputs(torch.stack([data[k][-fm.window:] for k in keys]),
                           torch.stack([m for m, _ in st]), torch.stack([s for _, s in st]))
    with torch.no_grad():
        out, _ = fm.net.rnn(x)
        rec = (fm.net.head(out[-1]) - fm.net.head.bias).abs().max().item()
        lin = fm.net.skip(skip).abs().max().item()
    print("recurrent %.3g %.3g" % (rec, lin))
    # MSE over every window of Forecaster.examples, in z-units
    ex = [fm.examples(data[k], k) for k in keys]
    x = torch.cat([e[0] for e in ex], 1); skip = torch.cat([e[1] for e in ex])
    y = torch.cat([e[2] for e in ex])
    with torch.no_grad():
        print("mse %r" % ((fm.net(x, skip).double() - y.double()) ** 2).mean().item())
step(gru_checks)

def torch_forecaster():
    torch.manual_seed(5)
    fm = rt.Forecaster.new(cell="gru", hidden_size=6, window=10, horizon=3, relation="lg",
                           time_column="t", value_column="v", series_column="sensor")
    data = rt.read_series_csv(O + "/lg.csv", fm)
    fm.set_stats({k: r[:160] for k, r in data.items()})      # training part only
    ex = [fm.examples(r[:160], k) for k, r in data.items()]
    x = torch.cat([e[0] for e in ex], 1); skip = torch.cat([e[1] for e in ex])
    y = torch.cat([e[2] for e in ex])
    opt = torch.optim.Adam(fm.net.parameters(), lr=0.02)
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(fm.net(x, skip), y)
        loss.backward(); opt.step()
    fm.net.eval()
    rt.save_forecaster(fm, O + "/fc_torch.pt")
step(torch_forecaster)
cli(O + "/fc_torch.hex", "import", O + "/fc_torch.pt", "-", "--hex", "--info", O + "/fc_torch.info")
cli(O + "/fc_torch.py.csv", "forecast", O + "/fc_torch.pt", "--csv", O + "/lg.csv")
PYEOF
stat() { awk -v k="$1" '$1 == k { $1 = ""; print substr($0, 2) }' "$OUT/fc.stats"; }

# compare SQL.csv PY.csv: "rows max_abs max_rel bad" (bad: numbers outside the tolerance)
compare() {
    "$PY" - "$1" "$2" <<'PYEOF' 2>&1
import csv, sys
a = {(r["series"], r["step"]): r for r in csv.DictReader(open(sys.argv[1]))}
b = {(r["series"], r["step"]): r for r in csv.DictReader(open(sys.argv[2]))}
if not a or set(a) != set(b):
    print("0 nan nan keys-differ sql=%d py=%d" % (len(a), len(b))); sys.exit()
mabs = mrel = 0.0; bad = 0
for k in a:
    for c in ("value", "lo", "hi"):
        x, y = a[k][c], b[k][c]
        if (x == "") != (y == ""):
            bad += 1; continue
        if x == "":
            continue
        x, y = float(x), float(y)
        d = abs(x - y); r = d / abs(x) if x else (0.0 if d == 0 else float("inf"))
        mabs = max(mabs, d); mrel = max(mrel, r)
        if not (d <= 1e-5 or r <= 1e-4):
            bad += 1
print("%d %.3g %.3g %d" % (len(a), mabs, mrel, bad))
PYEOF
}
# verdict DESCRIPTION SQL.csv PY.csv MIN_ROWS
verdict() {
    local res
    res=$(compare "$2" "$3")
    echo "# $res (rows, max |PyTorch - SQL| absolute, relative, numbers out of tolerance)"
    set -- "$1" $res "$4"
    if [ "${2:-0}" -ge "$6" ] 2>/dev/null && [ "${5:-1}" = 0 ]; then
        tap OK "$1"
    else
        tap FAIL "$1"; [ -s "$OUT/fc.err" ] && sed 's/^/#   /' "$OUT/fc.err" && : >"$OUT/fc.err"
    fi
}

# 3a. GRU, window normalization and skip path (the defaults), 3 series
set -- $(stat recurrent)
echo "# fc_gru, last windows: max |recurrent term| ${1:-?}, max |skip term| ${2:-?} (z-units)"
verdict "GRU forecaster (3 series, window normalization, skip path): PyTorch value/lo/hi = rnn.forecast" \
        "$OUT/fc_gru.sql.csv" "$OUT/fc_gru.py.csv" 12

# 3b. the command as a user runs it: one series' values on the command line
vals=$(q "SELECT string_agg(v::text, ',' ORDER BY t) FROM lg WHERE sensor = 's2'")
"$PY" "$SCRIPT" forecast "$OUT/fc_gru.pt" --values "$vals" --series s2 --level 0.8 \
    >"$OUT/fc_s2.py.csv" 2>>"$OUT/fc.err"
verdict "rnn_torch.py forecast --values ... --series s2 --level 0.8 = rnn.forecast(level => 0.8) of s2" \
        "$OUT/fc_s2.sql.csv" "$OUT/fc_s2.py.csv" 4

# 3c. Forecaster.examples (training windows in network units) against the
#     engine: the MSE over every window is rnn.evaluate's mse_normalized
mse_py=$(stat mse)
echo "# rnn.evaluate mse_normalized $mse_sql, PyTorch over Forecaster.examples ${mse_py:-?}"
if "$PY" -c "import sys; a, b = float('$mse_sql'), float('$mse_py'); sys.exit(not abs(a - b) <= 1e-4 * abs(a))" 2>/dev/null; then
    tap OK "Forecaster.examples: PyTorch MSE over every window = rnn.evaluate's mse_normalized (1e-4 relative)"
else
    tap FAIL "Forecaster.examples: PyTorch MSE over every window = rnn.evaluate's mse_normalized (1e-4 relative)"
fi

# 3d. LSTM, 2 layers, a covariate
verdict "2-layer LSTM forecaster with a covariate: PyTorch value/lo/hi = rnn.forecast" \
        "$OUT/fc_lstm.sql.csv" "$OUT/fc_lstm.py.csv" 9

# 3e. normalization => 'series', no skip path, tanh cell, on another relation
#     holding shorter series and one the model has not seen (own statistics)
verdict "series normalization, no skip, unseen series: PyTorch = rnn.forecast(relation => ...)" \
        "$OUT/fc_series.sql.csv" "$OUT/fc_series.py.csv" 4

# 4. a forecaster built and trained 30 Adam steps in PyTorch (GRU, window
#    normalization, skip path; statistics from the first 160 rows of each
#    series), imported with rnn.import_model and the info `import --info`
#    wrote: rnn.forecast gives the PyTorch forecasts
imported=$(psql -X -q -At -d "$DB" -v blob="$(cat "$OUT/fc_torch.hex" 2>/dev/null)" \
                -v info="$(cat "$OUT/fc_torch.info" 2>/dev/null)" 2>>"$OUT/fc.err" <<'SQL'
SELECT rnn.import_model('fc_torch', decode(:'blob', 'hex'), 'forecaster', :'info');
SQL
)
[ "$imported" = 1 ] || echo "# rnn.import_model of the PyTorch forecaster returned '$imported'"
sql_fc "rnn.forecast('fc_torch')" >"$OUT/fc_torch.sql.csv" 2>>"$OUT/fc.err"
verdict "forecaster trained in PyTorch, imported: rnn.forecast = PyTorch" \
        "$OUT/fc_torch.sql.csv" "$OUT/fc_torch.py.csv" 9

# 5. missing => 'interpolate': rnn.forecast reads each series' newest
#    window_size rows and interpolates among them only (a value missing at
#    the window's first row takes the nearest one inside it), and a series
#    the model has not seen gets statistics over its non-missing values;
#    the CSV path of rnn_torch.py forecast must do the same.
q "SET client_min_messages = warning;
   CREATE TABLE lg_gap AS SELECT * FROM lg;
   UPDATE lg_gap SET v = NULL WHERE (sensor = 's1' AND t IN (50, 51, 199))
      OR (sensor = 's2' AND t = 185);          -- t 185: the first row of s2's last window (16)
   SELECT version FROM rnn.train_forecaster('fc_gap', 'lg_gap', 't', 'v', series_column => 'sensor',
          cell => 'gru', hidden_size => 8, window_size => 16, horizon => 4, epochs => 2,
          batch_size => 16, learning_rate => 0.02, missing => 'interpolate');
   CREATE TABLE lg_gap2 AS
   SELECT * FROM lg_gap UNION ALL
   SELECT 's9', t, CASE WHEN t IN (3, 190) THEN NULL ELSE 2 * v END, x FROM lg WHERE sensor = 's3';" \
  >/dev/null || echo "# training fc_gap failed"
q "COPY (SELECT * FROM lg_gap2 ORDER BY sensor, t) TO STDOUT CSV HEADER" >"$OUT/lg_gap2.csv"
q "COPY (SELECT encode(rnn.export_model('fc_gap'), 'hex')) TO STDOUT" >"$OUT/fc_gap.hex"
q "SELECT rnn.model_info('fc_gap')" >"$OUT/fc_gap.json"
sql_fc "rnn.forecast('fc_gap', relation => 'lg_gap2')" >"$OUT/fc_gap.sql.csv" 2>>"$OUT/fc.err"
{ "$PY" "$SCRIPT" export "$OUT/fc_gap.hex" "$OUT/fc_gap.pt" --meta "$OUT/fc_gap.json" >/dev/null &&
  "$PY" "$SCRIPT" forecast "$OUT/fc_gap.pt" --csv "$OUT/lg_gap2.csv" >"$OUT/fc_gap.py.csv"; } 2>>"$OUT/fc.err"
verdict "missing => 'interpolate', within the newest rows, unseen series with gaps: PyTorch = rnn.forecast" \
        "$OUT/fc_gap.sql.csv" "$OUT/fc_gap.py.csv" 16

# 6. A language model: SQL -> PyTorch, log-likelihoods
q "SET client_min_messages = warning;
   CREATE TABLE lm_lines AS SELECT (ARRAY['abc abd', 'abd abc', 'bad cab'])[1 + i % 3] || ' ' || (i % 10) AS body
     FROM generate_series(1, 200) i;
   SELECT version FROM rnn.train_language_model('lm', 'lm_lines', 'body', num_layers => 2, hidden_size => 12,
          embedding_dim => 5, epochs => 2, bptt => 16, batch_size => 8)" >/dev/null
q "COPY (SELECT encode(rnn.export_model('lm'), 'hex')) TO STDOUT" >"$OUT/lm.hex"
# each probe text: its characters' ids (0-based positions in the vocabulary) and rnn.log_likelihood
q "SELECT string_agg((array_position(m.vocabulary, c) - 1)::text, ',' ORDER BY o)
          || E'\t' || rnn.log_likelihood('lm', p.body)
     FROM (SELECT DISTINCT body FROM lm_lines ORDER BY body LIMIT 8) p, rnn.models m,
          LATERAL regexp_split_to_table(p.body, '') WITH ORDINALITY AS u(c, o)
    WHERE m.name = 'lm' GROUP BY p.body ORDER BY p.body" >"$OUT/lm.scores"
res=$({ "$PY" "$SCRIPT" export "$OUT/lm.hex" "$OUT/lm.pt" && "$PY" - "$SCRIPT" "$OUT/lm.pt" "$OUT/lm.scores"; } 2>&1 <<'PYEOF'
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location("rnn_torch", sys.argv[1])
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
net, _ = rt.load_pt(sys.argv[2])
worst, n = 0.0, 0
with torch.no_grad():
    for line in open(sys.argv[3]):
        ids, ll = line.rstrip("\n").split("\t")
        seq = [0] + [int(t) for t in ids.split(",")] + [0]     # boundary, text, end
        logits = net(torch.tensor(seq[:-1]).unsqueeze(1))[:, 0].double()
        lp = torch.log_softmax(logits, dim=1)[torch.arange(len(seq) - 1), torch.tensor(seq[1:])].sum().item()
        worst = max(worst, abs(lp - float(ll)) / abs(float(ll))); n += 1
print("%d %.3g" % (n, worst))
PYEOF
)
echo "# $res (texts, max relative |PyTorch - rnn.log_likelihood|)"
set -- $res
if [ "${1:-0}" -ge 3 ] && "$PY" -c "import sys; sys.exit(not float('$2') <= 1e-4)" 2>/dev/null; then
    tap OK "exported language model: PyTorch log-likelihoods match rnn.log_likelihood to 1e-4"
else
    tap FAIL "exported language model: PyTorch log-likelihoods match rnn.log_likelihood to 1e-4"
fi

# 7. A tagger: SQL -> PyTorch, tags and probabilities
q "SET client_min_messages = warning;
   CREATE TABLE tag_rows AS
   SELECT ARRAY['the', (ARRAY['cat', 'dog'])[1 + i % 2], (ARRAY['runs', 'sleeps'])[1 + i % 3 % 2]] AS tokens,
          ARRAY['DET', 'NOUN', 'VERB'] AS tags FROM generate_series(1, 60) i;
   SELECT version FROM rnn.train_tagger('tg', 'tag_rows', 'tokens', 'tags', hidden_size => 6,
          embedding_dim => 4, epochs => 2)" >/dev/null
q "COPY (SELECT encode(rnn.export_model('tg'), 'hex')) TO STDOUT" >"$OUT/tg.hex"
q "SELECT string_agg(coalesce(array_position(m.vocabulary, t.token) - 1, 1)::text || ':' || t.tag || ':'
                     || t.probability, ',' ORDER BY t.position) || E'\t' || array_to_string(m.labels, ',')
     FROM (VALUES (ARRAY['the', 'dog', 'sleeps']), (ARRAY['the', 'cat', 'runs', 'the', 'dog'])) v(a),
          rnn.models m, rnn.tag('tg', v.a) t
    WHERE m.name = 'tg' GROUP BY v.a, m.labels" >"$OUT/tg.scores"
res=$({ "$PY" "$SCRIPT" export "$OUT/tg.hex" "$OUT/tg.pt" && "$PY" - "$SCRIPT" "$OUT/tg.pt" "$OUT/tg.scores"; } 2>&1 <<'PYEOF'
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location("rnn_torch", sys.argv[1])
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
net, _ = rt.load_pt(sys.argv[2])
worst, n, same = 0.0, 0, True
with torch.no_grad():
    for line in open(sys.argv[3]):
        toks, labels = line.rstrip("\n").split("\t")
        labels = labels.split(",")
        items = [t.split(":") for t in toks.split(",")]
        p = torch.softmax(net(torch.tensor([int(i) for i, _, _ in items]).unsqueeze(1))[:, 0].double(), dim=1)
        for t, (_, tag, prob) in enumerate(items):
            best = int(p[t].argmax())
            same &= labels[best] == tag
            worst = max(worst, abs(p[t, best].item() - float(prob))); n += 1
print("%d %.3g %s" % (n, worst, same))
PYEOF
)
echo "# $res (tokens, max |PyTorch - rnn.tag probability|, same tags)"
set -- $res
if [ "${1:-0}" -ge 8 ] && [ "${3:-}" = True ] && "$PY" -c "import sys; sys.exit(not float('$2') <= 1e-5)" 2>/dev/null; then
    tap OK "exported tagger: PyTorch gives rnn.tag's tags and probabilities to 1e-5"
else
    tap FAIL "exported tagger: PyTorch gives rnn.tag's tags and probabilities to 1e-5"
fi

# 8. seasonal => true, normalization => 'level' (season 4, 4 steps of 4
#    values), on the positive series |v| and an unseen one (own log scale)
q "SET client_min_messages = warning;
   CREATE TABLE lg_pos AS SELECT sensor, t, abs(v) AS v FROM lg;
   CREATE TABLE lg_pos_new AS SELECT sensor, t, abs(v) AS v FROM lg_new;
   SELECT version FROM rnn.train_forecaster('fc_seasonal', 'lg_pos', 't', 'v', series_column => 'sensor',
          cell => 'gru', hidden_size => 8, window_size => 16, horizon => 6, season_length => 4,
          normalization => 'level', seasonal => true, epochs => 3, batch_size => 16,
          learning_rate => 0.02);" >/dev/null || echo "# training fc_seasonal failed"
q "COPY (SELECT * FROM lg_pos_new ORDER BY sensor, t) TO STDOUT CSV HEADER" >"$OUT/lg_pos_new.csv"
q "COPY (SELECT * FROM lg_pos ORDER BY sensor, t) TO STDOUT CSV HEADER" >"$OUT/lg_pos.csv"
q "COPY (SELECT encode(rnn.export_model('fc_seasonal'), 'hex')) TO STDOUT" >"$OUT/fc_seasonal.hex"
q "SELECT rnn.model_info('fc_seasonal')" >"$OUT/fc_seasonal.json"
sql_fc "rnn.forecast('fc_seasonal', relation => 'lg_pos_new')" >"$OUT/fc_seasonal.sql.csv" 2>>"$OUT/fc.err"
mse_sql=$(q "SELECT mse_normalized FROM rnn.evaluate('fc_seasonal', 'lg_pos')")
{ "$PY" "$SCRIPT" export "$OUT/fc_seasonal.hex" "$OUT/fc_seasonal.pt" --meta "$OUT/fc_seasonal.json" >/dev/null &&
  "$PY" "$SCRIPT" forecast "$OUT/fc_seasonal.pt" --csv "$OUT/lg_pos_new.csv" >"$OUT/fc_seasonal.py.csv"; } 2>>"$OUT/fc.err"
mse_py=$("$PY" - "$SCRIPT" "$OUT" 2>>"$OUT/fc.err" <<'PYEOF'
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location("rnn_torch", sys.argv[1])
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
fm = rt.load_forecaster(sys.argv[2] + "/fc_seasonal.pt")
data = rt.read_series_csv(sys.argv[2] + "/lg_pos.csv", fm)
ex = [fm.examples(data[k], k) for k in data]
x = torch.cat([e[0] for e in ex], 1); skip = torch.cat([e[1] for e in ex]); y = torch.cat([e[2] for e in ex])
with torch.no_grad():
    print(((fm.net(x, skip).double() - y.double()) ** 2).mean().item())
PYEOF
)
echo "# fc_seasonal: rnn.evaluate mse_normalized $mse_sql, PyTorch over Forecaster.examples ${mse_py:-?}"
if "$PY" -c "import sys; a, b = float('$mse_sql'), float('$mse_py'); sys.exit(not abs(a - b) <= 1e-4 * abs(a))" 2>/dev/null; then
    verdict "seasonal => true, normalization 'level', unseen series: PyTorch = rnn.forecast; examples = rnn.evaluate" \
            "$OUT/fc_seasonal.sql.csv" "$OUT/fc_seasonal.py.csv" 24
else
    tap FAIL "seasonal => true, normalization 'level', unseen series: PyTorch = rnn.forecast; examples = rnn.evaluate"
    [ -s "$OUT/fc.err" ] && sed 's/^/#   /' "$OUT/fc.err"
fi

# 15. calendar_inputs and future_columns are not in the PyTorch module: the
# export refuses such a forecaster, naming what it lacks, and writes no file.
q "SET client_min_messages = warning;
   CREATE TABLE cal_h AS SELECT timestamp '2024-01-01' + make_interval(hours => i) AS ts,
          sin(i / 3.0) AS v, (i % 5)::float8 AS price FROM generate_series(0, 199) i;
   SELECT version FROM rnn.train_forecaster('fc_cal', 'cal_h', 'ts', 'v', window_size => 12,
          horizon => 3, epochs => 0, calendar_inputs => '{auto}', future_columns => '{price}');" >/dev/null
q "COPY (SELECT encode(rnn.export_model('fc_cal'), 'hex')) TO STDOUT" >"$OUT/fc_cal.hex"
q "SELECT rnn.model_info('fc_cal')" >"$OUT/fc_cal.json"
msg=$("$PY" "$SCRIPT" export "$OUT/fc_cal.hex" "$OUT/fc_cal.pt" --meta "$OUT/fc_cal.json" 2>&1 >/dev/null)
echo "# $msg"
case "$msg" in
    *"calendar_inputs and future_columns"*"rnn.forecast"*)
        [ ! -e "$OUT/fc_cal.pt" ] && tap OK "calendar_inputs / future_columns: export refused clearly" \
            || tap FAIL "calendar_inputs / future_columns: export refused clearly (a file was written)" ;;
    *) tap FAIL "calendar_inputs / future_columns: export refused clearly" ;;
esac

[ "$fails" -eq 0 ]
