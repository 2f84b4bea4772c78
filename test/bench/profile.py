#!/usr/bin/env python3
"""Where the time goes: perf profiles of a backend running rnn_ext workloads.

Attaches `perf record -g -e cpu-clock -k CLOCK_MONOTONIC -p <backend pid>`
(the pid from pg_backend_pid()) while a workload runs in that backend, then
prints the top symbols by self time (`perf report --no-children --sort
dso,symbol`) for the phase of interest only (`perf report --time`, with the
phase's start and end taken from CLOCK_MONOTONIC on this side), and the
share of each library.  Workloads (setup, data generation and model
training for later workloads are not profiled):

  read      rnn.train_forecaster on --read-rows million rows (scale.py's
            data, GRU-64, window 48, horizon 24, 1 epoch of 1 batch): two
            phases, "read+prepare" (query start -> the fit starts: SPI read,
            rows put in order in C, checks, statistics, ridge start) and
            "after fit" (metrics over at most 100,000 validation windows,
            storing);
  forecast  SELECT * FROM rnn.forecast(<that model>): every series of the
            same table (--passes times);
  train     rnn.train_forecaster epochs on --train-rows million rows
            (GRU of --train-hidden units (64), batch 256, --train-batches
            batches an epoch, 2 epochs, validation_fraction 0, so there is
            no validation pass): the fit only;
  sentiment SELECT count(rnn.sentiment(m, body)) FROM t, serial, over
            --sentiment-rows rows of generated text (about 21 words a row
            from a 20,000-word vocabulary) with a bidirectional GRU-128
            classifier (embedding 128) trained for one epoch on 4,000 of
            them (--passes times).

Each phase also gives the backend's CPU time and its time runnable but
waiting for a CPU (/proc/<pid>/schedstat): the CPUs may be shared.

Needs root (perf record -p), perf, and the server on this machine.  The
postgres binary of Debian is stripped: its static functions show as
addresses; rnn_ext.so is built with -g (PGXS) and OpenBLAS has its symbols.

Usage: profile.py [--workloads read,forecast,train,sentiment] [--top 12]
                  [--freq 999] [--read-rows 4] [--train-rows 1]
                  [--train-batches 200] [--train-hidden 64] [--sentiment-rows 50000]
                  [--passes 2] [--keep] [--dir DIR]
Connects with the usual PG* environment variables.
"""
import argparse
import io
import os
import random
import re
import signal
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from growth import Session, SyncCursor  # noqa: E402
from scale import generate_readings  # noqa: E402


def now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------------------
# perf

class Perf:
    """perf record on a backend, from construction to stop()."""

    def __init__(self, pid, path, freq):
        self.path = path
        self.proc = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", str(freq), "-g", "-k", "CLOCK_MONOTONIC",
             "-p", str(pid), "-o", path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)            # let it attach before the workload starts
        if self.proc.poll() is not None:
            sys.exit("perf record failed: %s" % self.proc.stderr.read().decode())

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()


# "  12.34%  rnn_ext.so  [.] cell_gru_forward   -   -" (the dashes: IPC columns)
LINE = re.compile(r"^\s*([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)(\s+-\s+-)?\s*$")


def report(path, start, stop, top, freq):
    """Top symbols (self %) and shares per library between start and stop."""
    out = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "--no-children", "--sort", "dso,symbol",
         "-g", "none", "--percent-limit", "0", "--time", "%.6f,%.6f" % (start, stop)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    # cpu-clock counts nanoseconds: the event count is the CPU time sampled
    m = re.search(r"# Event count \(approx.\): (\d+)", out)
    cpu = int(m.group(1)) / 1e9 if m else 0.0
    rows, by_dso = [], {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        mm = LINE.match(line)
        if not mm:
            continue
        pct, dso, kind, sym = float(mm.group(1)), mm.group(2), mm.group(3), mm.group(4)
        if kind == "k":
            dso = "[kernel]"
        rows.append((pct, dso, sym))
        by_dso[dso] = by_dso.get(dso, 0.0) + pct
    return cpu, rows[:top], sorted(by_dso.items(), key=lambda kv: -kv[1])


CHILD = re.compile(r"^\s*([0-9.]+)%\s+([0-9.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)")

# Where a workload's time goes, by inclusive time of these functions: the
# phases of the rnn_ext entry points, and PostgreSQL's sort and executor.
INCLUSIVE = ("fc_read", "fc_compute_stats", "fc_apply_stats", "fc_fit_linear", "rnn_fit",
             "rnn_forward", "rnn_backward", "rnn_optim_step", "fc_score_windows",
             "conformal_quantiles", "rnn_store_model", "read_row", "infer_windows",
             "rnn_infer", "rnn_tokenize", "rnn_classifier_probs", "PortalRunFetch", "tuplesort_puttupleslot",
             "tuplesort_performsort", "tuplesort_gettupleslot", "ExecScan", "SPI_getvalue",
             "SPI_getbinval", "heap_getnextslot")


def inclusive(path, start, stop):
    """Inclusive (children) shares of the INCLUSIVE functions present."""
    out = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "--children", "--sort", "dso,symbol",
         "-g", "none", "--percent-limit", "1", "--time", "%.6f,%.6f" % (start, stop)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    found = {}
    for line in out.splitlines():
        mm = CHILD.match(line)
        if mm and mm.group(5) in INCLUSIVE and mm.group(5) not in found:
            found[mm.group(5)] = float(mm.group(1))
    return sorted(found.items(), key=lambda kv: -kv[1])


def short_dso(d):
    d = os.path.basename(d)
    return re.sub(r"\.so[.0-9]*$", "", d)


def print_phase(sess, title, perf, start, stop, args):
    cpu, rows, by_dso = report(perf.path, start, stop, args.top, args.freq)
    on_cpu = sess.clock.at(stop)[0] - sess.clock.at(start)[0]
    waiting = sess.clock.at(stop)[1] - sess.clock.at(start)[1]
    wall = stop - start
    print("### %s" % title)
    print()
    print("%.1f s wall: the backend on a CPU %.1f s (sampled %.1f s), runnable but waiting for a CPU "
          "%.1f s, other (I/O, client) %.1f s" % (wall, on_cpu, cpu, waiting, wall - on_cpu - waiting))
    print()
    print("| self % | library | symbol |")
    print("| ---: | --- | --- |")
    for pct, dso, sym in rows:
        print("| %.1f | %s | `%s` |" % (pct, short_dso(dso), sym))
    print()
    print("by library: " + ", ".join("%s %.1f%%" % (short_dso(d), p) for d, p in by_dso[:6] if p >= 0.1))
    print()
    print("inclusive (self + callees; call chains through OpenBLAS's kernels are cut, so engine "
          "functions miss most of their BLAS time): "
          + ", ".join("%s %.0f%%" % kv for kv in inclusive(perf.path, start, stop)))
    print(flush=True)


# ---------------------------------------------------------------------------
# Workloads

def ensure_readings(sess, millions, keep):
    series = int(round(millions * 1000))
    table = "growth_%d" % series
    if keep:
        exists = sess.one("SELECT to_regclass(%s) IS NOT NULL", (table,))[0]
        if exists and sess.one("SELECT count(*) FROM %s" % table)[0] == series * 1000:
            return table
    t0 = now()
    generate_readings(SyncCursor(sess), table, series, 1000)
    print("(generated %s: %d series x 1,000 readings in %.0f s)" % (table, series, now() - t0), flush=True)
    return table


def train_call(sess, name, table, epochs, bpe, vf=0.2, hidden=64):
    """Run train_forecaster; (query start, fit start, fit end, query end)."""
    del sess.conn.notices[:]
    t0 = now()
    sess.run("SELECT seconds FROM rnn.train_forecaster(%s, %s, 'ts', 'temp', series_column => 'sensor', "
             "cell => 'gru', hidden_size => %s, window_size => 48, horizon => 24, epochs => %s, "
             "batches_per_epoch => %s, batch_size => 256, validation_fraction => %s, patience => 0)",
             (name, table, hidden, epochs, bpe, vf))
    fit_s = sess.cur.fetchone()[0]
    t1 = now()
    # growth.TimedNotices stamps with perf_counter, which is CLOCK_MONOTONIC on Linux
    last = [t for t, m in sess.conn.notices if ": epoch " in m][-1]
    return t0, last - fit_s, last, t1


def w_read(sess, args, perf_path):
    table = ensure_readings(sess, args.read_rows, args.keep)
    sess.run("SELECT rnn.drop_model('profile_fc') FROM rnn.models WHERE name = 'profile_fc' LIMIT 1")
    perf = Perf(sess.pid, perf_path, args.freq)
    t0, fs, fe, t1 = train_call(sess, "profile_fc", table, 1, 1)
    perf.stop()
    label = "%gM rows" % args.read_rows
    print_phase(sess, "read: train_forecaster read+prepare, %s (query start -> fit start)" % label,
                perf, t0, fs, args)
    print_phase(sess, "read: train_forecaster after the fit, %s (metrics over at most 100,000 validation windows, store)"
                % label, perf, fe, t1, args)
    return table


def w_forecast(sess, args, perf_path, table):
    n_series = sess.one("SELECT count(DISTINCT sensor) FROM %s" % table)[0]
    sess.run("SELECT rnn.model_config('profile_fc')")   # decode into the backend's cache
    perf = Perf(sess.pid, perf_path, args.freq)
    t0 = now()
    for _ in range(args.passes):
        sess.run("SELECT * FROM rnn.forecast('profile_fc')")
        sess.cur.fetchall()
    t1 = now()
    perf.stop()
    print_phase(sess, "forecast: SELECT * FROM rnn.forecast(...), %d series of 1,000 rows, %d pass(es), %.1f s a pass"
                % (n_series, args.passes, (t1 - t0) / args.passes), perf, t0, t1, args)


def w_train(sess, args, perf_path):
    table = ensure_readings(sess, args.train_rows, args.keep)
    perf = Perf(sess.pid, perf_path, args.freq)
    t0, fs, fe, t1 = train_call(sess, "profile_train", table, 2, args.train_batches, vf=0.0,
                                hidden=args.train_hidden)
    perf.stop()
    sess.run("SELECT rnn.drop_model('profile_train')")
    print_phase(sess, "train: train_forecaster fit, GRU-%d, %gM rows, 2 epochs of %d batches of 256, "
                "no validation (fit only)"
                % (args.train_hidden, args.train_rows, args.train_batches), perf, fs, fe, args)
    return table


def make_text(n, seed=1, vocab=20000):
    """Texts of 8..34 words (about 21) drawn log-uniformly from `vocab`
    words; positive rows carry more of the first 100 words."""
    rng = random.Random(seed)
    buf = io.StringIO()
    for i in range(n):
        positive = i % 2 == 0
        words = []
        for _ in range(rng.randint(8, 34)):
            if rng.random() < 0.15:
                k = rng.randrange(100) + (0 if positive else 100)
            else:
                k = int(vocab ** rng.random()) - 1
            words.append("w%d" % k)
        buf.write("%d\t%s\t%s\n" % (i, "t" if positive else "f", " ".join(words)))
    buf.seek(0)
    return buf


def w_sentiment(sess, args, perf_path):
    n = args.sentiment_rows
    ready = False
    if args.keep:
        ready = (sess.one("SELECT to_regclass('profile_text') IS NOT NULL")[0]
                 and sess.one("SELECT count(*) FROM profile_text")[0] == n
                 and sess.one("SELECT count(*) FROM rnn.models WHERE name = 'profile_gru'")[0] > 0)
    if not ready:
        t0 = now()
        sess.run("DROP TABLE IF EXISTS profile_text CASCADE")
        sess.run("CREATE TABLE profile_text (id int, positive boolean, body text)")
        sync = psycopg2.connect("")
        with sync, sync.cursor() as c:
            c.copy_expert("COPY profile_text FROM STDIN", make_text(n))
        sync.close()
        sess.run("VACUUM ANALYZE profile_text")
        sess.run("CREATE TEMP VIEW profile_text_train AS SELECT * FROM profile_text WHERE id < 4000")
        sess.run("SELECT rnn.drop_model('profile_gru') FROM rnn.models WHERE name = 'profile_gru' LIMIT 1")
        sess.run("SELECT validation_accuracy FROM rnn.train_classifier('profile_gru', 'profile_text_train', "
                 "'body', 'positive', epochs => 1)")
        acc = sess.cur.fetchone()[0]
        print("(generated %d texts and trained profile_gru, biGRU-128, 1 epoch on 4,000: "
              "validation accuracy %.2f, %.0f s)" % (n, acc, now() - t0), flush=True)
    sess.run("SET max_parallel_workers_per_gather = 0")
    sess.run("SELECT count(rnn.sentiment('profile_gru', body)) FROM profile_text WHERE id < 10")
    perf = Perf(sess.pid, perf_path, args.freq)
    t0 = now()
    for _ in range(args.passes):
        sess.run("SELECT count(rnn.sentiment('profile_gru', body)) FROM profile_text")
        sess.cur.fetchall()
    t1 = now()
    perf.stop()
    print_phase(sess, "sentiment: SELECT count(rnn.sentiment(m, body)) FROM t, %d rows, serial, %d pass(es), "
                "%.0f rows/s" % (n, args.passes, n * args.passes / (t1 - t0)), perf, t0, t1, args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", default="read,forecast,train,sentiment")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--freq", type=int, default=999)
    ap.add_argument("--read-rows", type=float, default=4.0, help="millions (read, forecast)")
    ap.add_argument("--train-rows", type=float, default=1.0, help="millions (train)")
    ap.add_argument("--train-batches", type=int, default=200)
    ap.add_argument("--train-hidden", type=int, default=64)
    ap.add_argument("--sentiment-rows", type=int, default=50000)
    ap.add_argument("--passes", type=int, default=2, help="statements a forecast/sentiment profile runs")
    ap.add_argument("--keep", action="store_true", help="keep and reuse tables and models")
    ap.add_argument("--dir", default="/tmp", help="where perf.data files go")
    args = ap.parse_args()
    work = args.workloads.split(",")
    if os.geteuid() != 0:
        print("note: perf record -p usually needs root (or kernel.perf_event_paranoid <= 1)", file=sys.stderr)

    sess = Session()
    print("backend pid %d; perf record -e cpu-clock -F %d -g; self time by dso,symbol; top %d"
          % (sess.pid, args.freq, args.top))
    print(flush=True)
    path = lambda w: os.path.join(args.dir, "rnn-profile-%s.data" % w)  # noqa: E731
    table = None
    if "read" in work or "forecast" in work:
        if "read" in work or not args.keep:
            table = w_read(sess, args, path("read"))
        else:
            table = "growth_%d" % int(round(args.read_rows * 1000))
    if "forecast" in work:
        w_forecast(sess, args, path("forecast"), table)
    if "train" in work:
        t = w_train(sess, args, path("train"))
        if not args.keep and t != table:
            sess.run("DROP TABLE %s" % t)
    if "sentiment" in work:
        w_sentiment(sess, args, path("sentiment"))
    if not args.keep:
        if table:
            sess.run("DROP TABLE %s" % table)
        sess.run("DROP TABLE IF EXISTS profile_text CASCADE")
        sess.run("SELECT rnn.drop_model(name) FROM (SELECT DISTINCT name FROM rnn.models "
                 "WHERE name IN ('profile_fc', 'profile_gru')) m")


if __name__ == "__main__":
    main()
