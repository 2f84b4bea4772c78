#!/usr/bin/env bash
# test/pq/torch_interop.sh -- scripts/rnn_torch.py against the server:
#
#   1. a classifier trained in SQL (bidirectional GRU, max pooling) exported
#      with rnn.export_model and loaded in PyTorch gives the same
#      P(positive) as rnn.sentiment, to 1e-5, on texts of vocabulary words
#      (token ids from rnn.models.vocabulary, so no tokenizer is needed);
#   2. a classifier built and trained a few Adam steps in PyTorch
#      (unidirectional LSTM, mean pooling) and imported with
#      rnn.import_model scores the same in SQL as in PyTorch, to 1e-5;
#   3. a forecaster trained in SQL exports to a state_dict that loads
#      strictly into the PyTorch module with the engine's parameter count
#      (outputs are not compared: they need the window normalization of
#      rnn.models.normalization, see README).
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

q() {       # q SQL: one value, unaligned
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"
}
cleanup() {
    dropdb --if-exists "$DB" 2>/dev/null
    [ -n "$OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT

echo "1..5"
if ! "$PY" -c "import torch" 2>/dev/null; then
    for i in 1 2 3 4 5; do echo "ok $i # SKIP $PY has no torch (apt-get install python3-torch)"; done
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
cfg = rt.full_config({"cell": "lstm", "vocab_size": int(sys.argv[3]), "embedding_dim": 5,
                      "hidden_size": 7, "output_size": 2, "head": "classifier", "pooling": "mean"})
net = rt.RnnNet(cfg)
texts = [[int(t) for t in l.split("\t")[0].split(",")] for l in open(sys.argv[4])]
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

# 3. a forecaster's state_dict
q "SET client_min_messages = warning;
   CREATE TABLE s AS SELECT i AS t, sin(i / 5.0) + (i % 7) * 0.1 AS v FROM generate_series(1, 300) i;
   SELECT version FROM rnn.train_forecaster('fc', 's', 't', 'v', hidden_size => 6, window_size => 16,
          horizon => 3, epochs => 2)" >/dev/null
q "COPY (SELECT encode(rnn.export_model('fc'), 'hex')) TO STDOUT" | "$PY" "$SCRIPT" export - "$OUT/fc.pt"
want=$(q "SELECT rnn.model_config('fc') ->> 'parameters'")
got=$("$PY" -c "
import sys, importlib.util
spec = importlib.util.spec_from_file_location('rnn_torch', '$SCRIPT')
rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)
net, _ = rt.load_pt('$OUT/fc.pt')
print(sum(p.numel() for p in net.parameters()))" 2>&1)
check "exported forecaster loads strictly with the engine's parameter count" "$want" "$got"

[ "$fails" -eq 0 ]
