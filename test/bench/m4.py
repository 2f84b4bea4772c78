#!/usr/bin/env python3
"""M4 Hourly through rnn_ext's SQL functions, scored with M4's own measures.

The 414 hourly series (../shared/data/m4, see SOURCE.md there) go into one
table m4 (id, t, v) with integer time.  One rnn.train_forecaster call trains
one model for all series (CALL below); rnn.forecast gives the 48 next hours
with 80% and 95% intervals.  In the same run and on the same forecasts:

  its linear path   the same call with epochs => 0 (the ridge start alone)
  seasonal naive    the last 24 hours repeated (also the untrained seasonal
                    model: what the recurrent correction starts from)
  Naive2            M4's benchmark: classical multiplicative decomposition
                    when the 90% seasonality test at lag 24 passes

sMAPE, MASE (in-sample seasonal differences at lag 24) and OWA (against
Naive2 of this run) are averaged over the series; the published table is
printed beside them, and the empirical coverage of the 80% and 95%
intervals (also by series length and by step).  Every choice (arguments,
early stopping, weight averaging, interval calibration) sees only the
training file: the test file is read after training, for the scores.
Training time is the backend's CPU time (utime + stime of its process) and
the wall-clock time of the call.

--validate is how choices are made: the last 48 hours of every training
series are held out and scored as the test horizon would be (the test file
is not read); validation_fraction 0.07 becomes 0.075 there, so the
652-hour series keep 48 validation hours as the 700-hour ones do at 0.07.
--set NAME=VALUE sets a session setting before the training (repeatable).
test/bench/m4_engine.sh runs the same model on the engine alone (no
PostgreSQL, no lock) for comparing options; what it chose for seasonal
models (weight averaging, absolute errors, 30 epochs) and the README's
figures of one run of each mode are in README.md, "Seasonal data".

Usage: m4.py [--data DIR] [--call 'SQL arguments'] [--quick] [--validate]
             [--set NAME=VALUE]
"""
import argparse
import os
import sys
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m4_metrics as m4  # noqa: E402

CALL = ("cell => 'gru', hidden_size => 128, window_size => 336, horizon => 48, "
        "season_length => 24, normalization => 'level', seasonal => true, "
        "linear_skip => false, validation_fraction => 0.07, "
        "batches_per_epoch => 1000, epochs => 30, patience => 10")
PUBLISHED = [("ES-RNN (Smyl, M4 winner)", 9.328, 0.893, 0.440),
             ("Doornik (best hourly)", 8.913, 0.801, 0.410),
             ("M4 RNN benchmark", 14.698, 3.048, 1.036),
             ("seasonal naive (M4)", 13.912, 1.193, 0.627)]


def backend_cpu(cur):
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(cur, train):
    cur.execute("DROP TABLE IF EXISTS m4 CASCADE")
    cur.execute("CREATE TABLE m4 (id text, t int, v float8)")
    buf = "".join(f"{i}\t{t}\t{x!r}\n" for i, s in zip(IDS, train) for t, x in enumerate(s))
    import io
    cur.copy_expert("COPY m4 FROM STDIN", io.StringIO(buf))
    cur.execute("ANALYZE m4")


def train_and_forecast(cur, name, call):
    c0, t0 = backend_cpu(cur), time.time()
    cur.execute(f"SELECT epochs_run, best_epoch, seconds FROM rnn.train_forecaster(%s, 'm4', "
                f"time_column => 't', value_column => 'v', series_column => 'id', {call})", (name,))
    epochs, best, _ = cur.fetchone()
    cpu, wall = backend_cpu(cur) - c0, time.time() - t0
    for n in cur.connection.notices:
        if ": epoch " in n:
            print("  " + n.split("NOTICE:  ")[-1].rstrip())
    del cur.connection.notices[:]
    fc = {}
    for level in (0.8, 0.95):
        cur.execute("SELECT series, step, value, lo, hi FROM rnn.forecast(%s, level => %s)",
                    (name, level))
        for sid, step, v, lo, hi in cur.fetchall():
            fc.setdefault(sid, {})[(step, level)] = (v, lo, hi)
    pred = np.array([[fc[i][(h + 1, 0.8)][0] for h in range(m4.H)] for i in IDS])
    bands = {lv: np.array([[fc[i][(h + 1, lv)][1:] for h in range(m4.H)] for i in IDS])
             for lv in (0.8, 0.95)}
    return pred, bands, epochs, best, cpu, wall


def main():
    global IDS
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(os.environ.get(
        "RNN_DATA_DIR", os.path.join(here, "..", "..", "..", "shared", "data")), "m4"))
    ap.add_argument("--call", default=CALL, help="arguments of the one rnn.train_forecaster call")
    ap.add_argument("--quick", action="store_true", help="a short training (epochs => 2)")
    ap.add_argument("--validate", action="store_true",
                    help="choose on validation: drop the last 48 hours of each training series, "
                         "train on the rest and score on them (the test file is not read)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for the session (SET NAME = 'VALUE'), repeatable")
    args = ap.parse_args()
    call = args.call + (", epochs => 2, batches_per_epoch => 200" if args.quick else "")

    IDS, train, test = m4.load(args.data)
    part = "test (48 h)"
    if args.validate:
        test = np.stack([x[-m4.H:] for x in train])
        train = [x[:-m4.H] for x in train]
        part = "VALIDATION: last 48 h of train"
        # 652-hour series keep a validation part (48 h) as 700-hour ones do at 0.07
        call = call.replace("validation_fraction => 0.07", "validation_fraction => 0.075")
    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS rnn_ext")
    cur.execute("SET client_min_messages = notice")
    cur.execute("SET rnn.blas_threads = 1")
    for kv in args.set:
        k, v = kv.split("=", 1)
        cur.execute(f"SET {k} = %s", (v,))
    load(cur, train)
    print(f"M4 Hourly: {len(IDS)} series, {sum(map(len, train))} rows, horizon {m4.H}")
    print(f"call: rnn.train_forecaster('m4_rnn', 'm4', 't', 'v', series_column => 'id', {call})",
          flush=True)

    pred, bands, epochs, best, cpu, wall = train_and_forecast(cur, "m4_rnn", call)
    lin_call = ", ".join(p for p in call.split(", ") if not p.startswith("epochs =>")) + ", epochs => 0"
    print(f"trained in {cpu:.0f} s backend CPU; the same call with epochs => 0:", flush=True)
    lpred, _, _, _, lcpu, lwall = train_and_forecast(cur, "m4_linear", lin_call)

    n2 = np.stack([m4.naive2(x) for x in train])
    sn = np.stack([m4.seasonal_naive(x) for x in train])
    s2, k2 = m4.scores(train, test, n2)
    rows = [("rnn_ext", pred), ("its linear path alone (epochs => 0)", lpred),
            ("seasonal naive", sn), ("Naive2", n2)]
    print()
    print(f"{'M4 Hourly, ' + part:<38} {'sMAPE':>7} {'MASE':>7} {'OWA':>7}")
    res = {}
    for label, f in rows:
        s, k = m4.scores(train, test, f)
        res[label] = m4.owa(s, k, s2, k2)
        print(f"{label:<38} {s:>7.3f} {k:>7.3f} {res[label]:>7.3f}")
    print("published (M4, Evaluation and Ranks):")
    for label, s, k, o in PUBLISHED:
        print(f"  {label:<36} {s:>7.3f} {k:>7.3f} {o:>7.3f}")
    print()
    print(f"training: {epochs} epochs (best {best}), backend CPU {cpu:.0f} s, wall {wall:.0f} s "
          f"(with the forecasts); linear path alone: CPU {lcpu:.0f} s")
    ref = min(res["its linear path alone (epochs => 0)"], res["seasonal naive"])
    print(f"rnn_ext OWA vs the better of its linear path and seasonal naive: "
          f"{100 * (1 - res['rnn_ext'] / ref):.1f}% lower")
    for lv, b in bands.items():
        inside = (test >= b[..., 0]) & (test <= b[..., 1])
        print(f"{int(lv * 100)}% interval: empirical coverage on the {part.split(':')[0].lower()} "
              f"horizon {100 * inside.mean():.1f}%")
        lens = np.array([len(x) for x in train])
        by_len = ", ".join(f"{(lens == n).sum()} series of {n} h: {100 * inside[lens == n].mean():.1f}%"
                           for n in sorted(set(lens)))
        thirds = ", ".join(f"h {a + 1}-{a + 16}: {100 * inside[:, a:a + 16].mean():.1f}%"
                           for a in (0, 16, 32))
        print(f"  by series length: {by_len}; by step: {thirds}")


if __name__ == "__main__":
    main()
