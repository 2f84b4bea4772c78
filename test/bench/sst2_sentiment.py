#!/usr/bin/env python3
"""SST-2 sentence sentiment (binary, sentence level), through rnn_ext's SQL functions.

Data: ../shared/data/sst2 (stsa.binary.train / .dev / .test: 6,920 / 872 /
1,821 sentences, see SOURCE.md), no pretrained vectors.  rnn.train_classifier
trains on the training split (holding out validation_fraction 0.1 of it for
early stopping); the dev split is only used to compare settings (--select),
the test split only ever scored, with rnn.sentiment.

Baselines in the same run (test/bench/text_baselines.py), trained on the same
training split: multinomial naive Bayes and NBSVM on unigrams + bigrams, and
rnn_ext's n-gram path alone (the stored model at its start: one epoch at
learning rate 1e-9 leaves the network reading nothing).

With --pretrain-mr, MR's sentences (../shared/data/mr, their labels not read)
are unlabelled text: rnn.train_classifier's pretrain_relation.  SST is built
from the same Rotten Tomatoes snippets, so most SST-2 dev and test sentences
are MR sentences too; every MR sentence equal to a dev or test sentence
(compared on lower-case letters and digits only) is left out, so no dev or
test text is seen in pretraining.  MR sentences equal to SST-2 training
sentences stay (their text is training text anyway).

Usage: sst2_sentiment.py [--data DIR] [--seeds K] [--select] [--only A,B]
                         [--config NAME] [--threads N] [--pretrain-mr]
                         [--set KEY=VALUE ...]
Connects with the usual PG* environment variables.
"""
import argparse
import os
import re
import statistics
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import text_baselines  # noqa: E402
from mr_sentiment import CANDIDATES, backend_cpu  # noqa: E402

PUBLISHED = [("NB (Socher et al. 2013)", 81.8), ("BiNB, bigram NB (Socher et al. 2013)", 83.1),
             ("CNN-rand (Kim 2014)", 82.7), ("RNTN (Socher et al. 2013)", 85.4)]


def load(cur, data_dir):
    cur.execute("DROP TABLE IF EXISTS sst2 CASCADE")
    cur.execute("CREATE TABLE sst2 (id serial PRIMARY KEY, split text NOT NULL, body text NOT NULL,"
                " positive boolean NOT NULL)")
    data = {}
    for split in ("train", "dev", "test"):
        rows = []
        with open(os.path.join(data_dir, "stsa.binary." + split), encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append((line[2:], line[0] == "1"))
        data[split] = rows
        cur.executemany("INSERT INTO sst2 (split, body, positive) VALUES (%s, %s, %s)",
                        [(split, b, p) for b, p in rows])
    cur.execute("CREATE VIEW sst2_train AS SELECT body, positive FROM sst2 WHERE split = 'train'")
    cur.execute("ANALYZE sst2")
    return data


def norm(text):
    return "".join(re.findall(r"[a-z0-9]", text.lower()))


def load_mr_unlabelled(cur, mr_dir, data):
    """MR's sentences without their labels, minus those equal to SST-2 dev/test sentences."""
    held = {norm(b) for split in ("dev", "test") for b, _ in data[split]}
    texts, dropped = [], 0
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        with open(os.path.join(mr_dir, name), encoding="windows-1252", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if norm(line) in held:
                    dropped += 1
                else:
                    texts.append(line)
    cur.execute("DROP TABLE IF EXISTS mr_unlabelled")
    cur.execute("CREATE TABLE mr_unlabelled (body text NOT NULL)")
    cur.executemany("INSERT INTO mr_unlabelled (body) VALUES (%s)", [(t,) for t in texts])
    return len(texts), dropped


def value(v):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v, v)


def train(cur, name, params, seed):
    args = ", ".join("%s => %%(%s)s" % (key, key) for key in params)
    cur.execute("SELECT validation_accuracy, epochs_run, best_epoch, seconds"
                " FROM rnn.train_classifier(%%(name)s, 'sst2_train', 'body', 'positive',"
                " validation_fraction => 0.1, seed => %%(seed)s, %s)" % args,
                dict(params, name=name, seed=seed))
    return cur.fetchone()


def accuracy(cur, names, split):
    score = " + ".join("rnn.sentiment(%s, body)" for _ in names)
    cur.execute("SELECT 100.0 * avg((((%s) / %d > 0.5) = positive)::int) FROM sst2 WHERE split = %%s"
                % (score, len(names)), tuple(names) + (split,))
    return float(cur.fetchone()[0])


def baseline(fn, data, split):
    tr = data["train"]
    pred = fn([b for b, _ in tr], [int(p) for _, p in tr], [b for b, _ in data[split]])
    return 100.0 * sum(int(q == int(p)) for q, (_, p) in zip(pred, data[split])) / len(data[split])


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(
        os.environ.get("RNN_DATA_DIR", os.path.join(root, "..", "shared", "data")), "sst2"))
    ap.add_argument("--seeds", type=int, default=1, help="models averaged (default 1)")
    ap.add_argument("--select", action="store_true", help="compare settings on dev only")
    ap.add_argument("--only", help="with --select: comma-separated candidate names")
    ap.add_argument("--config", default="bigru-max", choices=sorted(CANDIDATES))
    ap.add_argument("--threads", type=int, default=1, help="rnn.blas_threads (default 1)")
    ap.add_argument("--pretrain-mr", action="store_true",
                    help="MR's sentences (labels unused, SST-2 dev/test sentences left out) as "
                         "pretrain_relation")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a train_classifier argument (repeatable)")
    a = ap.parse_args()
    overrides = dict((kv.split("=", 1)[0], value(kv.split("=", 1)[1])) for kv in a.set)

    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS rnn_ext")
    cur.execute("SET rnn.blas_threads = %s", (a.threads,))
    cur.execute("SET client_min_messages = warning")
    data = load(cur, a.data)
    print("SST-2: %s sentences (train / dev / test)" % " / ".join(str(len(data[s])) for s in data))
    if a.pretrain_mr:
        kept, dropped = load_mr_unlabelled(cur, os.path.join(os.path.dirname(a.data), "mr"), data)
        print("unlabelled: %d MR sentences (%d equal to an SST-2 dev or test sentence left out)"
              % (kept, dropped))
        overrides["pretrain_relation"] = "mr_unlabelled"

    if a.select:
        print("\nsettings on the dev split, %d seed%s" % (a.seeds, "s" if a.seeds > 1 else ""))
        for cname, params in CANDIDATES.items():
            if a.only and cname not in a.only.split(","):
                continue
            params = dict(params, **overrides)
            accs = []
            for s in range(a.seeds):
                va, ep, best, sec = train(cur, "sst2_select", params, seed=1 + s)
                accs.append(accuracy(cur, ["sst2_select"], "dev"))
            print("  %-16s dev %.2f  (validation %.2f, best epoch %d/%d, %.0fs)" %
                  (cname, statistics.mean(accs), 100 * va, best, ep, sec), flush=True)
        cur.execute("SELECT rnn.drop_model('sst2_select')")
        return

    params = dict(CANDIDATES[a.config], **overrides)
    print("model: %s %s, seeds %d" % (a.config, params, a.seeds))
    t0 = time.time()
    names, secs, cpus = [], [], []
    for s in range(a.seeds):
        name = "sst2_s%d" % s
        cpu0 = backend_cpu(cur)
        va, ep, best, sec = train(cur, name, params, seed=1 + s)
        cpus.append(backend_cpu(cur) - cpu0)
        names.append(name)
        secs.append(sec)
        cur.execute("SELECT metrics->'pretraining', metrics->'ngram' FROM rnn.models WHERE name = %s"
                    " ORDER BY version DESC LIMIT 1", (name,))
        pre, ngram = cur.fetchone()
        print("  seed %d: validation %.2f (n-gram path alone %s), best epoch %d/%d, %.0fs%s" %
              (1 + s, 100 * va, "-" if ngram is None else "%.2f, %s" % (
                  100 * ngram["validation_accuracy"], ngram.get("fit", "naive_bayes")), best, ep, sec,
               "" if pre is None else "; pretraining %d/%d epochs, %.0fs of it, held-out %.3f nats/token"
               % (pre["best_epoch"], pre["epochs"], pre["seconds"], pre["validation_loss"] or float("nan"))),
              flush=True)
    path_params = dict(params, epochs=1, learning_rate=1e-9, pretrain_epochs=0)
    path_params.pop("pretrain_relation", None)
    train(cur, "sst2_path", path_params, seed=1)

    rows = [("rnn_ext %s x%d" % (a.config, a.seeds), accuracy(cur, names, "dev"),
             accuracy(cur, names, "test")),
            ("rnn_ext n-gram path alone", accuracy(cur, ["sst2_path"], "dev"),
             accuracy(cur, ["sst2_path"], "test")),
            ("MNB uni+bigrams (this run)", baseline(text_baselines.mnb, data, "dev"),
             baseline(text_baselines.mnb, data, "test")),
            ("NBSVM uni+bigrams (this run)", baseline(text_baselines.nbsvm, data, "dev"),
             baseline(text_baselines.nbsvm, data, "test"))]
    print("\nSST-2 accuracy (%):")
    print("  %-36s %6s %6s" % ("", "dev", "test"))
    for label, dev, test in rows:
        print("  %-36s %6.2f %6.2f" % (label, dev, test))
    for label, v in PUBLISHED:
        print("  %-36s %6s %6.1f  (published)" % (label, "", v))
    print("training time per model: %.0fs mean; whole run %.0fs" % (statistics.mean(secs), time.time() - t0))
    print("backend CPU per train_classifier call (reading, n-gram fit, training, metrics): %.1fs mean"
          % statistics.mean(cpus))
    for name in names + ["sst2_path"]:
        cur.execute("SELECT rnn.drop_model(%s)", (name,))


if __name__ == "__main__":
    sys.exit(main())
