#!/usr/bin/env python3
"""Retrain and watch on M4 Hourly: a warm start when the last week is added,
against a cold start, and the false-alarm rate of rnn.detect_anomalies.

The nightly job this stands for: yesterday's model was trained on the rows
up to a week ago; tonight the week's rows have arrived and the model is
retrained on all of them.  With the 414 series of M4 Hourly
(../shared/data/m4):

  yesterday   each series' training file minus its last 168 hours: one cold
              rnn.train_forecaster call (CALL) stores version 1
  no retrain  version 1 forecasting from the full training file
              (rnn.forecast(..., relation => 'm4')): what happens without
              the nightly job
  warm        the full training file, the same call with fewer epochs
              (--warm-epochs) and warm_start => true: version 2
  cold        the full training file, the same call from scratch

Each is scored on the test file's 48 hours (sMAPE, MASE, OWA against Naive2
of this run, M4's measures), with the training call's backend CPU seconds
(utime + stime of the backend process) and its epochs.  Every choice sees
only the training file: early stopping uses the last validation_fraction of
it, --warm-epochs is fixed before the run, and the test file is read for
the scores only.

Then rnn.detect_anomalies(model, 'm4_watch', level, all_rows => true) on
the test hours (each series' last window_size training hours, then its 48
test hours): the share of test hours flagged, at each level, beside
1 - level.  M4 has no labelled anomalies, so every flag counts as a false
alarm; a share near 1 - level says the one-step intervals hold on data the
model has not seen.

Usage: m4_retrain.py [--data DIR] [--call 'SQL arguments'] [--warm-epochs N] [--quick]
"""
import argparse
import io
import os
import sys
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m4_metrics as m4  # noqa: E402

# the call of README's M4 section
CALL = ("cell => 'gru', hidden_size => 128, window_size => 336, horizon => 48, "
        "season_length => 24, normalization => 'level', seasonal => true, "
        "linear_skip => false, validation_fraction => 0.07, "
        "batches_per_epoch => 1000, epochs => 30, patience => 10")
WEEK = 168
LEVELS = (0.8, 0.9, 0.95, 0.99, 0.995, 0.999)


def backend_cpu(cur):
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(cur, table, ids, series, start=None):
    """series[i] as rows (id, t, v), t from start[i] (default 0)."""
    cur.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    cur.execute(f"CREATE TABLE {table} (id text, t int, v float8)")
    buf = "".join(f"{i}\t{(start[k] if start else 0) + t}\t{x!r}\n"
                  for k, (i, s) in enumerate(zip(ids, series)) for t, x in enumerate(s))
    cur.copy_expert(f"COPY {table} FROM STDIN", io.StringIO(buf))
    cur.execute(f"ANALYZE {table}")


def call_with(call, **over):
    """call with some arguments replaced or added"""
    parts = [p for p in call.split(", ") if p.split(" =>")[0] not in over]
    return ", ".join(parts + [f"{k} => {v}" for k, v in over.items()])


def train(cur, name, relation, call):
    c0, t0 = backend_cpu(cur), time.time()
    cur.execute(f"SELECT version, epochs_run, best_epoch FROM rnn.train_forecaster(%s, %s, "
                f"time_column => 't', value_column => 'v', series_column => 'id', {call})",
                (name, relation))
    version, epochs, best = cur.fetchone()
    cpu, wall = backend_cpu(cur) - c0, time.time() - t0
    for n in cur.connection.notices:
        if "warm start" in n:
            print("  " + n.split("NOTICE:  ")[-1].rstrip())
    del cur.connection.notices[:]
    return version, epochs, best, cpu, wall


def forecast(cur, name, ids, relation=None):
    cur.execute("SELECT series, step, value FROM rnn.forecast(%s, relation => %s)",
                (name, relation))
    fc = {(s, h): v for s, h, v in cur.fetchall()}
    return np.array([[fc[(i, h + 1)] for h in range(m4.H)] for i in ids])


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(os.environ.get(
        "RNN_DATA_DIR", os.path.join(here, "..", "..", "..", "shared", "data")), "m4"))
    ap.add_argument("--call", default=CALL, help="arguments of the cold rnn.train_forecaster call")
    ap.add_argument("--warm-epochs", type=int, default=8,
                    help="epochs of the warm start (the cold call's other arguments)")
    ap.add_argument("--quick", action="store_true", help="short trainings (a smoke test)")
    args = ap.parse_args()
    call = args.call
    if args.quick:
        call = call_with(call, epochs=3, batches_per_epoch=100)
        args.warm_epochs = 1
    warm_call = call_with(call, epochs=args.warm_epochs) + ", warm_start => true"

    ids, train_file, test = m4.load(args.data)
    yesterday = [x[:-WEEK] for x in train_file]
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS rnn_ext")
    cur.execute("SET client_min_messages = notice")
    cur.execute("SET rnn.blas_threads = 1")
    cur.execute("SELECT rnn.drop_model(name) FROM rnn.model_list "
                "WHERE name IN ('m4_nightly', 'm4_cold')")
    load(cur, "m4_old", ids, yesterday)
    load(cur, "m4", ids, train_file)
    window = int(call.split("window_size => ")[1].split(",")[0])
    load(cur, "m4_watch", ids, [np.concatenate([x[-window:], y]) for x, y in zip(train_file, test)],
         start=[len(x) - window for x in train_file])
    cur.execute("DROP TABLE IF EXISTS m4_len; CREATE TABLE m4_len (id text, n int)")
    cur.executemany("INSERT INTO m4_len VALUES (%s, %s)", [(i, len(x)) for i, x in zip(ids, train_file)])
    print(f"M4 Hourly: {len(ids)} series; yesterday {sum(map(len, yesterday))} rows, "
          f"today {sum(map(len, train_file))} rows (the last {WEEK} hours of each added)")
    print(f"cold call: {call}")
    print(f"warm call: {warm_call}", flush=True)

    rows = []
    v1, e1, b1, cpu1, wall1 = train(cur, "m4_nightly", "m4_old", call)
    print(f"yesterday (version {v1}): {e1} epochs (best {b1}), {cpu1:.1f} s CPU", flush=True)
    rows.append(("no retrain: yesterday's model, today's rows", forecast(cur, "m4_nightly", ids, "m4"),
                 None, None))
    v2, e2, b2, cpu2, wall2 = train(cur, "m4_nightly", "m4", warm_call)
    print(f"warm (version {v2}): {e2} epochs (best {b2}), {cpu2:.1f} s CPU", flush=True)
    rows.append((f"warm start, {args.warm_epochs} epochs", forecast(cur, "m4_nightly", ids),
                 cpu2, (e2, b2)))
    v3, e3, b3, cpu3, wall3 = train(cur, "m4_cold", "m4", call)
    print(f"cold: {e3} epochs (best {b3}), {cpu3:.1f} s CPU", flush=True)
    rows.append(("cold start", forecast(cur, "m4_cold", ids), cpu3, (e3, b3)))

    n2 = np.stack([m4.naive2(x) for x in train_file])
    s2, k2 = m4.scores(train_file, test, n2)
    rows.append(("seasonal naive", np.stack([m4.seasonal_naive(x) for x in train_file]), None, None))
    rows.append(("Naive2", n2, None, None))
    print()
    print(f"{'M4 Hourly, test (48 h), today':<44} {'sMAPE':>7} {'MASE':>7} {'OWA':>7} "
          f"{'CPU s':>7} {'epochs':>8}")
    for label, f, cpu, ep in rows:
        s, k = m4.scores(train_file, test, f)
        print(f"{label:<44} {s:>7.3f} {k:>7.3f} {m4.owa(s, k, s2, k2):>7.3f} "
              f"{'' if cpu is None else f'{cpu:.1f}':>7} "
              f"{'' if ep is None else f'{ep[0]} ({ep[1]})':>8}")
    print(f"warm start CPU / cold start CPU: {cpu2 / cpu3:.2f} "
          f"(yesterday's cold training: {cpu1:.1f} s)")
    print("epochs: run (best); an epoch is batches_per_epoch batches; best 0 = the start")

    print()
    print("rnn.detect_anomalies on the 48 test hours of every series (19,872 rows), all flags "
          "counted as false alarms:")
    print(f"{'level':>7} {'1 - level':>10} " + " ".join(f"{m:>12}" for m in ("warm", "cold")))
    rates = {}
    for name in ("m4_nightly", "m4_cold"):
        c0 = backend_cpu(cur)
        for lv in LEVELS:
            cur.execute("SELECT count(*) FILTER (WHERE is_anomaly), count(*) "
                        "FROM rnn.detect_anomalies(%s, 'm4_watch', level => %s, all_rows => true) a "
                        "JOIN m4_len l ON l.id = a.series WHERE a.t >= l.n", (name, lv))
            flagged, n = cur.fetchone()
            rates[(name, lv)] = (flagged, n)
        cpu = (backend_cpu(cur) - c0) / len(LEVELS)
        rates[(name, "cpu")] = cpu
    for lv in LEVELS:
        cells = []
        for name in ("m4_nightly", "m4_cold"):
            f, n = rates[(name, lv)]
            cells.append(f"{100 * f / n:>11.2f}%")
        print(f"{lv:>7} {100 * (1 - lv):>9.1f}% " + " ".join(cells))
    print(f"one rnn.detect_anomalies call over {len(ids)} x {window + m4.H} rows: "
          f"{rates[('m4_nightly', 'cpu')]:.2f} s CPU (warm model), "
          f"{rates[('m4_cold', 'cpu')]:.2f} s (cold)")


if __name__ == "__main__":
    main()
