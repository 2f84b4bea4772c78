#!/usr/bin/env python3
"""How rnn.train_forecaster's time grows with rows and with hidden size.

Two tables, figures only (no timed assertions):

(a) Rows: 1M, 2M, 4M, 8M rows (1,000 hourly readings a series, 1,000 to
    8,000 series, scale.py's data, stored in time order), one GRU-64
    forecaster each (window 48, horizon 24, batch 256, validation_fraction
    0.2, 3 epochs) with batches_per_epoch proportional to rows
    (--bpe-per-million, default 40: about 1.4% of the training windows an
    epoch), so every phase should cost the same per million rows.  The call
    is split with the epoch NOTICEs, stamped as they arrive (the server
    flushes each one):

      read+prepare  query start -> the fit starts: the SPI read (one scan,
                    rows put in order in C), checks, statistics, and the
                    ridge start (at most 250,000 training windows);
      epoch         the epoch's batches alone.  With batches_per_epoch each
                    epoch also scores the same 20,000 validation windows for
                    early stopping, whatever the rows: an epoch of one batch
                    on the first table measures that (v1 = V + one batch),
                    and with step = e_k - e_(k-1) = V + bpe x batch (k >= 2),
                    the batches are bpe x (step - v1) / (bpe - 1);
      after fit     the metrics over 20,000 training windows and at most
                    100,000 validation windows (so about constant past 2M
                    rows), the conformal quantiles, and storing the model.

    The fit's start is the last epoch's NOTICE minus the fit seconds the call
    returns.

(b) Hidden size 32..512 on the 1M-row table, GRU, validation_fraction 0
    (no validation pass: an epoch is its batches alone), a fixed
    --hidden-bpe batches of 256 an epoch, 2 epochs.  FLOPs count the matrix
    products only (gate elementwise work, Adam and data loading excluded),
    forward + backward = 3 x forward (backward: one product for the weight
    gradient and one for the input/state gradient per forward product):

      per window: 3 x [ T x 2 x 3H x (I + H)        GRU: input and recurrent
                                                    products of 3 gates
                        + 2 x H x horizon           head
                        + 2 x window x horizon ]    linear skip path

    with T = window = 48 steps, I = 1 input channel, horizon 24.  If time
    tracked FLOPs, time ratio / FLOP ratio would stay near 1.

Times are the backend's CPU seconds, read from /proc/<pid>/schedstat (run it
on the database host), because the machine's CPUs may be shared: another
process's load stretches wall time, not CPU time.  Wall seconds are printed
beside them.  Each figure is the minimum over --repeat calls (and, in (b),
over the two epochs of a call).

Usage: growth.py [--quick] [--rows 1,2,4,8] [--readings 1000]
                 [--hidden 32,64,128,256,512] [--repeat N] [--keep]
                 [--no-rows] [--no-hidden] [--bpe-per-million 40]
                 [--hidden-bpe 20] [--rows-hidden 64] [--epochs 3]
  --quick   rows 0.25,0.5,1 (millions), hidden 32..256 on 0.25M rows,
            one call a point (about a minute)
Connects with the usual PG* environment variables.  The default run takes
about 10 minutes (2 cores).
"""
import argparse
import bisect
import os
import select
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import generate_readings  # noqa: E402

WINDOW, HORIZON, BATCH = 48, 24, 256


# ---------------------------------------------------------------------------
# A connection whose NOTICEs carry their arrival time.

class TimedNotices(list):
    """psycopg2 appends each NOTICE here as it is read (async connection);
    each is stamped with the time and the backend's CPU seconds then."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock

    def append(self, msg):
        super().append((self.clock.mark(), msg))


def wait(conn):
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [])
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [])


class SchedClock:
    """A backend's /proc/<pid>/schedstat every 10 ms: seconds on a CPU and
    seconds runnable but waiting for one.  The 2 CPUs are shared, so phases
    are compared by the backend's CPU time; wall time is printed beside it."""

    def __init__(self, pid):
        self.pid = pid
        self.samples = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def read(self):
        with open("/proc/%d/schedstat" % self.pid) as f:
            on_cpu, waiting = f.read().split()[:2]
        return time.perf_counter(), int(on_cpu) / 1e9, int(waiting) / 1e9

    def mark(self):
        """Sample now (exact at the events we time); returns the time."""
        sample = self.read()
        with self.lock:
            bisect.insort(self.samples, sample)
        return sample[0]

    def _run(self):
        while self.running:
            self.mark()
            time.sleep(0.01)

    def at(self, t):
        """(cpu, waiting) seconds at time t, interpolated between samples."""
        with self.lock:
            s = list(self.samples)
        i = bisect.bisect_left(s, (t,))
        if i <= 0:
            return s[0][1:]
        if i >= len(s):
            return s[-1][1:]
        (ta, ca, wa), (tb, cb, wb) = s[i - 1], s[i]
        f = (t - ta) / (tb - ta) if tb > ta else 0.0
        return ca + f * (cb - ca), wa + f * (wb - wa)

    def cpu(self, start, stop):
        return self.at(stop)[0] - self.at(start)[0]

    def stop(self):
        self.running = False
        self.thread.join()


class Session:
    def __init__(self):
        self.conn = psycopg2.connect("", async_=1)
        wait(self.conn)
        self.cur = self.conn.cursor()
        for sql in ("CREATE EXTENSION IF NOT EXISTS rnn_ext",
                    "SET rnn.blas_threads = 1",
                    "SET rnn.max_train_memory = '4GB'"):
            self.run(sql)
        self.pid = self.one("SELECT pg_backend_pid()")[0]
        self.clock = SchedClock(self.pid)
        self.conn.notices = TimedNotices(self.clock)

    def run(self, sql, params=None):
        self.cur.execute(sql, params)
        wait(self.conn)

    def one(self, sql, params=None):
        self.run(sql, params)
        return self.cur.fetchone()

    def timed(self, sql, params=None):
        """(start, end, row, [(arrival, notice text)]) of one statement."""
        del self.conn.notices[:]
        t0 = self.clock.mark()
        self.run(sql, params)
        t1 = self.clock.mark()
        row = self.cur.fetchone()
        notes = [(t, m.strip()) for t, m in self.conn.notices]
        return t0, t1, row, notes


def train_sql(name, table, hidden, epochs, bpe, vf):
    return ("SELECT seconds, train_windows, series FROM rnn.train_forecaster("
            "'%s', '%s', 'ts', 'temp', series_column => 'sensor', cell => 'gru', "
            "hidden_size => %d, window_size => %d, horizon => %d, epochs => %d, "
            "batches_per_epoch => %d, batch_size => %d, validation_fraction => %g, "
            "patience => 0)" % (name, table, hidden, WINDOW, HORIZON, epochs, bpe, BATCH, vf))


def split_call(sess, sql):
    """Time one train_forecaster call and split it at the fit's start and
    end, in wall seconds and in the backend's CPU seconds."""
    t0, t1, (fit_s, windows, series), notes = sess.timed(sql)
    epochs = [t for t, m in notes if ": epoch " in m]
    fit_start = epochs[-1] - fit_s
    cpu = sess.clock.cpu
    return dict(total=t1 - t0, pre=fit_start - t0, post=t1 - epochs[-1], fit=fit_s,
                e=[t - fit_start for t in epochs],  # e_k: epoch k's NOTICE, from the fit's start
                total_cpu=cpu(t0, t1), pre_cpu=cpu(t0, fit_start), post_cpu=cpu(epochs[-1], t1),
                e_cpu=[cpu(fit_start, t) for t in epochs],
                windows=windows, series=series)


def drop_model(sess, name):
    sess.run("SELECT rnn.drop_model(%s)", (name,))


# ---------------------------------------------------------------------------
# Table (a): rows

def fmt_m(rows):
    m = rows / 1e6
    return ("%gM" % m) if m >= 1 else ("%gk" % (rows / 1e3))


def steps(e):
    """Epoch k's time, k >= 2: e_k - e_(k-1).  Epoch 1 (e_1, from the fit's
    start) also holds the fit's setup and the starting point's validation
    pass, so it is left out."""
    return [b - a for a, b in zip(e, e[1:])]


def rows_table(sess, args):
    print("== (a) rows: GRU-%d, window %d, horizon %d, batch %d, validation_fraction 0.2, "
          "%d epochs, batches_per_epoch = %g per million rows; min of %d call(s) ==" %
          (args.rows_hidden, WINDOW, HORIZON, BATCH, args.epochs, args.bpe_per_million,
           args.repeat), flush=True)
    results = []
    keys = ("pre_cpu", "step_cpu", "post_cpu", "total_cpu", "total", "fit_cpu")
    v1 = None
    for m in args.rows:
        rows = int(round(m * 1e6))
        series = rows // args.readings
        table = "growth_%d" % series
        gen = make_table(sess, table, series, args.readings, args.keep)
        if gen:
            print("  generated %s rows (%d series) in %.0f s" % (fmt_m(rows), series, gen), flush=True)
        if v1 is None:
            # An epoch of 1 batch: the validation pass (20,000 windows, as
            # many at every size) plus one batch
            for r in range(args.repeat):
                c = split_call(sess, train_sql("growth_rows", table, args.rows_hidden,
                                               args.epochs, 1, 0.2))
                drop_model(sess, "growth_rows")
                st = steps(c["e_cpu"])
                print("  an epoch of 1 batch + the 20,000-window validation pass: %s s CPU"
                      % " ".join("%.2f" % x for x in st), flush=True)
                v1 = min(st + ([v1] if v1 is not None else []))
        bpe = max(2, int(round(args.bpe_per_million * m)))
        best = None
        for r in range(args.repeat):
            c = split_call(sess, train_sql("growth_rows", table, args.rows_hidden,
                                           args.epochs, bpe, 0.2))
            drop_model(sess, "growth_rows")
            c["step_cpu"] = min(steps(c["e_cpu"]))
            c["fit_cpu"] = c["e_cpu"][-1]
            print("  %s rows: call %.1f s wall, %.1f s CPU; read+prepare %.1f wall %.1f CPU; "
                  "fit %.1f wall (epoch NOTICEs at %s s; CPU at %s s); after fit %.1f wall %.1f CPU"
                  % (fmt_m(rows), c["total"], c["total_cpu"], c["pre"], c["pre_cpu"], c["fit"],
                     " ".join("%.2f" % x for x in c["e"]), " ".join("%.2f" % x for x in c["e_cpu"]),
                     c["post"], c["post_cpu"]), flush=True)
            best = c if best is None else dict(best, **{k: min(best[k], c[k]) for k in keys})
        # step = V + bpe t_b and v1 = V + t_b: the batches of an epoch are bpe t_b
        best["epoch_cpu"] = bpe * (best["step_cpu"] - v1) / (bpe - 1)
        best["rows"] = rows
        best["bpe"] = bpe
        results.append(best)
        if not args.keep and table != hidden_table_name(args):
            sess.run("DROP TABLE %s" % table)

    base = results[0]
    bm = base["rows"] / 1e6
    b = fmt_m(base["rows"])
    print()
    print("Backend CPU seconds (schedstat), min over calls; 'vs %s' = seconds per million rows "
          "relative to the %s point (1.00 = linear)." % (b, b))
    print()
    print("| rows | series | train windows | batches/epoch | read+prepare s | s/M rows | vs %s |"
          " epoch s (batches) | s/M rows | vs %s | after fit s | s/M rows | vs %s |"
          " whole call s | s/M rows | vs %s | fit s (all epochs) | whole call, wall s |" % ((b,) * 4))
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
          " ---: | ---: | ---: | ---: | ---: |")
    for c in results:
        m = c["rows"] / 1e6
        cells = []
        for k in ("pre_cpu", "epoch_cpu", "post_cpu", "total_cpu"):
            per = c[k] / m
            cells.append("%.2f | %.2f | %.2f" % (c[k], per, per / (base[k] / bm)))
        print("| %s | %d | %d | %d | %s | %.1f | %.1f |"
              % (fmt_m(c["rows"]), c["series"], c["windows"], c["bpe"], " | ".join(cells),
                 c["fit_cpu"], c["total"]))
    print()
    print("(epoch: the batches alone, from epochs 2..%d; each epoch also scores the same 20,000 "
          "validation windows for early stopping, %.2f s CPU with one batch, subtracted)"
          % (args.epochs, v1))
    print(flush=True)
    return results


def make_table(sess, table, series, readings, keep):
    if keep:
        exists = sess.one("SELECT to_regclass(%s) IS NOT NULL", (table,))[0]
        if exists and sess.one("SELECT count(*) FROM %s" % table)[0] == series * readings:
            return 0.0
    t0 = time.perf_counter()
    generate_readings(SyncCursor(sess), table, series, readings)
    return time.perf_counter() - t0


class SyncCursor:
    """The execute() that generate_readings needs, on the async session."""

    def __init__(self, sess):
        self.sess = sess

    def execute(self, sql, params=None):
        self.sess.run(sql, params)


# ---------------------------------------------------------------------------
# Table (b): hidden size

def gru_flops_per_window(hidden, inputs=1):
    fwd = WINDOW * 2 * 3 * hidden * (inputs + hidden) + 2 * hidden * HORIZON + 2 * WINDOW * HORIZON
    return 3 * fwd


def hidden_table_name(args):
    return "growth_%d" % (int(round(args.hidden_rows * 1e6)) // args.readings)


def hidden_table(sess, args):
    rows = int(round(args.hidden_rows * 1e6))
    series = rows // args.readings
    table = hidden_table_name(args)
    print("== (b) hidden size: GRU, %s rows, window %d, horizon %d, %d batches of %d an epoch, "
          "validation_fraction 0, min of 2 epochs x %d call(s) ==" %
          (fmt_m(rows), WINDOW, HORIZON, args.hidden_bpe, BATCH, args.repeat), flush=True)
    gen = make_table(sess, table, series, args.readings, args.keep)
    if gen:
        print("  generated %s rows in %.0f s" % (fmt_m(rows), gen))
    results = []
    for h in args.hidden:
        best = None
        for r in range(args.repeat):
            c = split_call(sess, train_sql("growth_hidden", table, h, 2, args.hidden_bpe, 0.0))
            drop_model(sess, "growth_hidden")
            # no validation: epoch k is e_k - e_(k-1)
            walls = [b - a for a, b in zip([0.0] + c["e"], c["e"])]
            cpus = [b - a for a, b in zip([0.0] + c["e_cpu"], c["e_cpu"])]
            print("  H=%d: call %.1f s wall; read+prepare %.1f, epochs %s s wall, %s s CPU, after fit %.1f"
                  % (h, c["total"], c["pre"], " ".join("%.2f" % x for x in walls),
                     " ".join("%.2f" % x for x in cpus), c["post"]), flush=True)
            pt = (min(cpus), min(walls))
            best = pt if best is None else (min(best[0], pt[0]), min(best[1], pt[1]))
        flops = gru_flops_per_window(h) * args.hidden_bpe * BATCH
        results.append((h, best[0], best[1], flops))
    if not args.keep:
        sess.run("DROP TABLE %s" % table)

    h0, t0, _, f0 = results[0]
    print()
    print("Seconds per epoch: backend CPU (schedstat), min over epochs and calls; wall beside it.")
    print()
    print("| hidden | s/epoch (CPU) | s/epoch (wall) | GFLOP/epoch | GFLOP/s (CPU) | time vs H=%d | FLOPs vs H=%d |"
          " time ratio / FLOP ratio | same, vs the previous row |" % (h0, h0))
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    prev = results[0]
    for h, t, w, f in results:
        print("| %d | %.2f | %.2f | %.1f | %.1f | %.2fx | %.2fx | %.2f | %s |"
              % (h, t, w, f / 1e9, f / 1e9 / t, t / t0, f / f0, (t / t0) / (f / f0),
                 "%.2f" % ((t / prev[1]) / (f / prev[3])) if h != h0 else ""))
        prev = (h, t, w, f)
    print()
    print("(FLOPs: 3 x [48 x 2 x 3H x (1 + H) + 2 x H x 24 + 2 x 48 x 24] per window, "
          "%d windows an epoch; matrix products only)" % (args.hidden_bpe * BATCH))
    print(flush=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", default=None, help="millions of rows, comma-separated (1,2,4,8)")
    ap.add_argument("--readings", type=int, default=1000, help="readings a series")
    ap.add_argument("--rows-hidden", type=int, default=64, help="hidden size of table (a)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs of table (a), at least 2")
    ap.add_argument("--bpe-per-million", type=float, default=40.0)
    ap.add_argument("--hidden", default=None, help="hidden sizes (32,64,128,256,512)")
    ap.add_argument("--hidden-rows", type=float, default=1.0, help="millions of rows of table (b)")
    ap.add_argument("--hidden-bpe", type=int, default=20, help="batches an epoch in table (b)")
    ap.add_argument("--repeat", type=int, default=None, help="calls per point (default 2, quick 1)")
    ap.add_argument("--keep", action="store_true", help="keep (and reuse) the generated tables")
    ap.add_argument("--no-rows", action="store_true")
    ap.add_argument("--no-hidden", action="store_true")
    args = ap.parse_args()
    if args.rows is None:
        args.rows = "0.25,0.5,1" if args.quick else "1,2,4,8"
    if args.hidden is None:
        args.hidden = "32,64,128,256" if args.quick else "32,64,128,256,512"
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    if args.quick:
        args.hidden_rows = min(args.hidden_rows, 0.25)
    args.rows = [float(x) for x in args.rows.split(",")]
    args.hidden = [int(x) for x in args.hidden.split(",")]
    if args.epochs < 2:
        ap.error("--epochs must be at least 2")

    sess = Session()
    print("backend pid %d, rnn.blas_threads 1; %d CPUs (shared: figures are minima over repeats)"
          % (sess.pid, os.cpu_count()), flush=True)
    t0 = time.perf_counter()
    if not args.no_rows:
        rows_table(sess, args)
    if not args.no_hidden:
        hidden_table(sess, args)
    elif not args.keep:
        sess.run("DROP TABLE IF EXISTS %s" % hidden_table_name(args))
    sess.clock.stop()
    print("growth.py: %.0f s in all" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
