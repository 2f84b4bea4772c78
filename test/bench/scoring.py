#!/usr/bin/env python3
"""In-database scoring vs PyTorch: `SELECT rnn.sentiment(m, body) FROM t`.

Generates N rows of text by sampling MR (rt-polarity) sentences, imports a
bidirectional GRU classifier over the MR vocabulary (untrained weights from
rnn.untrained_weights: throughput does not depend on the values), and prints
rows/s of

  (i)   SELECT rnn.sentiment('m', body) FROM t, all rows fetched by the
        client, serial (max_parallel_workers_per_gather = 0) on every code
        path of the engine's kernels the CPU supports (SET rnn.isa =
        'generic', 'avx2', 'avx512'; src/core/kernels.h), so an AVX-512
        machine measures the AVX2 path too; then, on the best path, with 1
        and 2 parallel workers, and with 2 workers while the leader only
        gathers, with the EXPLAIN of the parallel plan;
  (ii)  PyTorch scoring one row at a time (the texts already in Python);
  (iii) a psycopg2 client fetching the rows (named cursor) and scoring them
        with PyTorch in batches of 256 (packed sequences, no padding work);

with the same weights: the blob is exported with rnn.export_model and loaded
into an equivalent torch module (state_dict order, names from
rnn.weights_info).  The PyTorch scores of the first rows are checked against
rnn.sentiment's.  No timed assertions; figures are medians of --repeat runs.

Measured (2 cores, 200,000 rows, 21 words a row, 1 thread each, no other
load): SQL serial 7,500 rows/s (4,100 before rnn_infer_prepare); 1 worker +
leader 14,300, 2 workers + leader 14,200, 2 workers with the leader only
gathering 16,100 (1.9-2.1x; with another session busy on the machine the
same scan gave 1.5x); PyTorch one row at a time 900 rows/s; psycopg2 +
PyTorch batches of 256 5,900 rows/s.

Usage: scoring.py [--rows N] [--repeat K] [--torch-rows N] [--threads N]
                  [--paths generic,avx2,avx512] [--data DIR] [--keep]
  --rows N        rows in the table (default 1,000,000)
  --torch-rows N  rows PyTorch one-at-a-time scores (default min(rows, 20000);
                  rows/s is what is compared)
  --threads N     torch.set_num_threads and rnn.blas_threads (default 1)
  --paths LIST    code paths measured serially (default: all the CPU supports)
Connects with the usual PG* environment variables.  The data directory is
$RNN_DATA_DIR/mr (default ../shared/data/mr from the repository root).
"""
import argparse
import json
import os
import random
import statistics
import struct
import sys
import time

import psycopg2

HIDDEN = 128
EMBED = 128


def parse():
    here = os.path.dirname(os.path.abspath(__file__))
    default_data = os.environ.get("RNN_DATA_DIR", os.path.join(here, "..", "..", "..", "shared", "data"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--torch-rows", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(default_data, "mr"))
    ap.add_argument("--paths", default=None)
    ap.add_argument("--keep", action="store_true", help="reuse table and model if present")
    ap.add_argument("--sql-only", action="store_true", help="only the SQL figures")
    return ap.parse_args()


def read_sentences(data_dir):
    out = []
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        with open(os.path.join(data_dir, name), "rb") as f:
            for line in f:
                s = line.decode("cp1252", errors="replace").strip()
                if s:
                    out.append(s)
    return out


def setup(cur, sentences, n_rows, keep):
    vocab_words = sorted({w for s in sentences for w in s.split()})
    vocab = ["<pad>", "<unk>"] + vocab_words
    if keep:
        cur.execute("SELECT to_regclass('scoring_t') IS NOT NULL AND "
                    "EXISTS (SELECT 1 FROM rnn.models WHERE name = 'scoring_gru')")
        if cur.fetchone()[0]:
            cur.execute("SELECT count(*) FROM scoring_t")
            if cur.fetchone()[0] == n_rows:
                return
    cur.execute("DROP TABLE IF EXISTS scoring_t")
    cur.execute("CREATE TABLE scoring_t (id int, body text)")
    rng = random.Random(1)
    chunk = 100000
    import io
    for start in range(0, n_rows, chunk):
        buf = io.StringIO()
        for i in range(start, min(n_rows, start + chunk)):
            s = sentences[rng.randrange(len(sentences))]
            buf.write("%d\t%s\n" % (i, s.replace("\\", "\\\\").replace("\t", " ")))
        buf.seek(0)
        cur.copy_expert("COPY scoring_t (id, body) FROM STDIN", buf)
    # the planner sizes workers by table size alone (1 for 100k rows): ask for 2
    cur.execute("ALTER TABLE scoring_t SET (parallel_workers = 2)")
    cur.execute("VACUUM ANALYZE scoring_t")
    cfg = dict(cell="gru", bidirectional=True, vocab_size=len(vocab), embedding_dim=EMBED,
               hidden_size=HIDDEN, output_size=2, head="classifier", pooling="max")
    cur.execute("SELECT rnn.drop_model('scoring_gru') FROM rnn.models WHERE name = 'scoring_gru' LIMIT 1")
    info = dict(vocabulary=vocab, labels=["neg", "pos"],
                hyperparams=dict(tokens="word", max_tokens=256, **cfg))
    cur.execute("SELECT rnn.import_model('scoring_gru', rnn.untrained_weights(%s, 7), 'classifier', %s)",
                (json.dumps(cfg), json.dumps(info)))


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


SQL = "SELECT rnn.sentiment('scoring_gru', body) FROM scoring_t"


def sql_scan(conn, workers, leader=True):
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = %d" % workers)
    cur.execute("SET parallel_leader_participation = %s" % ("on" if leader else "off"))
    cur.execute(SQL)
    rows = cur.fetchall()
    cur.close()
    return rows


def explain(conn, workers):
    cur = conn.cursor()
    cur.execute("SET max_parallel_workers_per_gather = %d" % workers)
    cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + SQL)
    lines = [r[0] for r in cur.fetchall()]
    cur.close()
    return lines


def build_torch(conn, threads):
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    cur = conn.cursor()
    cur.execute("SELECT rnn.export_model('scoring_gru')")
    exported = cur.fetchone()[0]
    if isinstance(exported, (memoryview, bytes)):
        blob = bytes(exported)
        meta = {}
    else:  # jsonb or record: find the weights inside
        blob = None
        meta = exported
    if blob is None:
        cur.execute("SELECT weights FROM rnn.models WHERE name = 'scoring_gru' ORDER BY version DESC LIMIT 1")
        blob = bytes(cur.fetchone()[0])
    cur.execute("SELECT rnn.weights_info(%s)", (psycopg2.Binary(blob),))
    info = cur.fetchone()[0]
    cur.execute("SELECT vocabulary FROM rnn.models WHERE name = 'scoring_gru' ORDER BY version DESC LIMIT 1")
    vocab = cur.fetchone()[0]
    cur.close()
    n_params = int(info["parameters"])
    floats = struct.unpack_from("<%df" % n_params, blob, len(blob) - 4 - 4 * n_params)
    flat = torch.tensor(floats, dtype=torch.float32)

    class Net(nn.Module):
        def __init__(self, V):
            super().__init__()
            self.embedding = nn.Embedding(V, EMBED)
            self.rnn = nn.GRU(EMBED, HIDDEN, bidirectional=True, batch_first=True)
            self.head = nn.Linear(2 * HIDDEN, 2)

        def forward_one(self, ids):
            y, _ = self.rnn(self.embedding(ids.unsqueeze(0)))
            return torch.softmax(self.head(y.max(dim=1).values), dim=1)[0, 1]

        def forward_batch(self, seqs):
            lengths = torch.tensor([len(s) for s in seqs])
            padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
            packed = nn.utils.rnn.pack_padded_sequence(self.embedding(padded), lengths,
                                                       batch_first=True, enforce_sorted=False)
            y, _ = self.rnn(packed)
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, padding_value=float("-inf"))
            return torch.softmax(self.head(y.max(dim=1).values), dim=1)[:, 1]

    net = Net(len(vocab))
    sd = net.state_dict()
    tensors = info["tensors"]
    assert len(tensors) == len(sd), (list(sd), [t["name"] for t in tensors])
    off = 0
    new = {}
    for (name, ref), t in zip(sd.items(), tensors):
        n = ref.numel()
        new[name] = flat[off:off + n].view_as(ref).clone()
        off += n
    assert off == n_params, (off, n_params)
    net.load_state_dict(new)
    net.eval()
    index = {w: i for i, w in enumerate(vocab)}
    return torch, net, index


def tokenize(torch, index, text):
    ids = [index.get(w, 1) for w in text.lower().split()]
    return torch.tensor(ids or [1], dtype=torch.long)


def main():
    args = parse()
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS rnn_ext")
    cur.execute("SET rnn.blas_threads = %d" % args.threads)
    sentences = read_sentences(args.data)
    t0 = time.perf_counter()
    setup(cur, sentences, args.rows, args.keep)
    print("setup: %d rows, %.1f s" % (args.rows, time.perf_counter() - t0), flush=True)
    cur.execute("SELECT pg_backend_pid()")
    print("backend pid %d" % cur.fetchone()[0], flush=True)

    # warm the model cache of this backend (decode, vocabulary)
    cur.execute("SELECT rnn.sentiment('scoring_gru', body) FROM scoring_t LIMIT 10")
    cur.fetchall()

    res = {}
    cur.execute("SELECT isa, setting, cpu_supports FROM rnn.isa_info()")
    isa, setting, supported = cur.fetchone()
    cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t")
    print("cpu: %s; code paths it supports: %s; rnn.isa = %s runs %s"
          % (cpu, ", ".join(supported), setting, isa), flush=True)
    paths = args.paths.split(",") if args.paths else supported
    for path in paths:
        cur.execute("SET rnn.isa = %s", (path,))
        cur.execute("SELECT rnn.sentiment('scoring_gru', body) FROM scoring_t LIMIT 10")
        cur.fetchall()
        med, times = timed(lambda: sql_scan(conn, 0, True), args.repeat)
        res["sql0:" + path] = args.rows / med
        print("SQL, serial, rnn.isa = %s: %s s -> %.0f rows/s"
              % (path, " ".join("%.2f" % t for t in times), args.rows / med), flush=True)
    cur.execute("RESET rnn.isa")
    res["sql0"] = res["sql0:" + isa] if ("sql0:" + isa) in res else None
    # (workers, leader participates), on the best path: with 2 workers and
    # the leader scanning too, three processes share the machine's cores
    for workers, leader in ((0, True), (1, True), (2, True), (2, False)):
        if workers == 0 and res["sql0"] is not None:
            continue
        med, times = timed(lambda: sql_scan(conn, workers, leader), args.repeat)
        key = "sql%d%s" % (workers, "" if leader else "x")
        res[key] = args.rows / med
        print("SQL, %d workers%s, rnn.isa = auto (%s): %s s -> %.0f rows/s"
              % (workers, "" if leader else " (leader only gathers)", isa,
                 " ".join("%.2f" % t for t in times), args.rows / med), flush=True)
    cur.execute("RESET parallel_leader_participation")
    plan = explain(conn, 2)
    print("EXPLAIN (ANALYZE) with max_parallel_workers_per_gather = 2:")
    for line in plan:
        print("   " + line)

    if not args.sql_only:
        torch, net, index = build_torch(conn, args.threads)
        cur.execute("SET max_parallel_workers_per_gather = 0")
        # rows where a whitespace split is exactly rnn_ext's word tokenizer
        cur.execute("SELECT body, rnn.sentiment('scoring_gru', body) FROM scoring_t"
                    " WHERE body ~ '^[a-z0-9 ]+$' ORDER BY id LIMIT 200")
        check = cur.fetchall()
        with torch.no_grad():
            diff = max(abs(float(net.forward_one(tokenize(torch, index, b))) - s) for b, s in check)
        print("max |PyTorch - rnn.sentiment| over %d rows of plain words: %.2e" % (len(check), diff))
        cur.execute("SELECT avg(array_length(regexp_split_to_array(body, '\\s+'), 1)) FROM scoring_t")
        print("words per row (whitespace split): %.1f" % cur.fetchone()[0])

        n_torch = args.torch_rows or min(args.rows, 20000)
        cur.execute("SELECT body FROM scoring_t ORDER BY id LIMIT %d" % n_torch)
        texts = [r[0] for r in cur.fetchall()]

        def one_at_a_time():
            with torch.no_grad():
                for t in texts:
                    float(net.forward_one(tokenize(torch, index, t)))

        med, times = timed(one_at_a_time, args.repeat)
        res["torch1"] = n_torch / med
        print("PyTorch one row at a time (%d rows, texts in memory): %.0f rows/s" % (n_torch, n_torch / med),
              flush=True)

        def client_batches():
            c = conn.cursor(name="scoring_fetch")
            c.itersize = 10000
            c.execute("SELECT body FROM scoring_t")
            out = []
            batch = []
            with torch.no_grad():
                for (body,) in c:
                    batch.append(tokenize(torch, index, body))
                    if len(batch) == 256:
                        out.extend(net.forward_batch(batch).tolist())
                        batch = []
                if batch:
                    out.extend(net.forward_batch(batch).tolist())
            c.close()
            conn.commit()
            return out

        conn.autocommit = False
        med, times = timed(client_batches, args.repeat)
        conn.autocommit = True
        res["client256"] = args.rows / med
        print("psycopg2 fetch + PyTorch batches of 256: %s s -> %.0f rows/s"
              % (" ".join("%.2f" % t for t in times), args.rows / med), flush=True)

    print()
    print("| measure | rows/s | ratio |")
    print("| --- | ---: | ---: |")
    for path in paths:
        r = res["sql0:" + path]
        vs = ""
        if "torch1" in res:
            vs = "%.1fx PyTorch one row at a time, %.2fx psycopg2 + PyTorch batches" % (
                r / res["torch1"], r / res["client256"])
        print("| SELECT rnn.sentiment, serial, rnn.isa = %s | %.0f | %s |" % (path, r, vs))
    print("| SELECT rnn.sentiment, 1 parallel worker + leader (%s) | %.0f | %.2fx serial |" % (isa, res["sql1"], res["sql1"] / res["sql0"]))
    print("| SELECT rnn.sentiment, 2 parallel workers + leader (%s) | %.0f | %.2fx serial |" % (isa, res["sql2"], res["sql2"] / res["sql0"]))
    print("| SELECT rnn.sentiment, 2 parallel workers, leader only gathers (%s) | %.0f | %.2fx serial |" % (isa, res["sql2x"], res["sql2x"] / res["sql0"]))
    if "torch1" in res:
        for key, label in (("torch1", "PyTorch, one row at a time"),
                           ("client256", "psycopg2 client, PyTorch batches of 256")):
            print("| %s | %.0f | SQL serial (%s) %.1fx, parallel %.1fx |"
                  % (label, res[key], isa, res["sql0"] / res[key], res["sql2"] / res[key]))

if __name__ == "__main__":
    sys.exit(main())
