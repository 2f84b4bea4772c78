#!/usr/bin/env python3
"""Forecasting at scale: many series, one rnn.train_forecaster call.

Generates SERIES x READINGS hourly rows (default 10,000 x 1,000 = 10M),
trains one forecaster on all of them with rnn.max_train_memory bounding the
run (rows streamed through the SPI cursor and packed at 4 bytes a value;
windows sampled per batch with batches_per_epoch, never materialised), then
forecasts every series.  Prints rows/s read, seconds per epoch, forecast
seconds, and the backend's peak RSS (VmHWM, read from /proc: run it on the
database host).  Asserts nothing.

Usage: scale.py [--series N] [--readings N] [--epochs N] [--batches N]
Connects with the usual PG* environment variables.
"""
import argparse
import time

import psycopg2


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def generate_readings(cur, table, series, readings):
    """SERIES x READINGS hourly rows (sensor int, ts timestamp, temp float8):
    a level per sensor, a daily cycle and a deterministic jitter, stored in
    time order (all sensors at one hour, then the next), as readings arrive.
    The order is explicit because the planner's join order would otherwise
    depend on SERIES vs READINGS, and reading a table already stored by
    series sorts 4-6x faster.  Also used by growth.py and profile.py."""
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("""CREATE UNLOGGED TABLE %s AS
                   SELECT s AS sensor, timestamp '2024-01-01' + make_interval(hours => i) AS ts,
                          (s %%%% 50) + 3 * sin((i + s) * 2 * pi() / 24)
                            + ((i * 7919 + s * 104729) %%%% 1000) / 1000.0 AS temp
                   FROM generate_series(1, %%s) s, generate_series(0, %%s) i
                   ORDER BY i, s""" % table,
                (series, readings - 1))
    cur.execute("ANALYZE %s" % table)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--readings", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=200, help="batches_per_epoch")
    ap.add_argument("--memory", default="1GB", help="rnn.max_train_memory")
    args = ap.parse_args()

    conn = psycopg2.connect("")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS rnn_ext")
    cur.execute("SET client_min_messages = warning")
    cur.execute("SET rnn.blas_threads = 1")
    cur.execute("SET rnn.max_train_memory = %s", (args.memory,))
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]

    rows = args.series * args.readings
    t0 = time.time()
    generate_readings(cur, "scale_readings", args.series, args.readings)
    print(f"generated {rows:,} rows ({args.series:,} series x {args.readings:,}) in "
          f"{time.time() - t0:.0f} s; backend VmHWM {vm(pid, 'VmHWM') / 1024:.0f} MB before training")

    t0 = time.time()
    cur.execute("""SELECT epochs_run, seconds, series, train_windows,
                          valid_mse < naive_valid_mse
                   FROM rnn.train_forecaster('scale', 'scale_readings', 'ts', 'temp',
                          series_column => 'sensor', cell => 'gru', hidden_size => 32,
                          window_size => 48, horizon => 24, epochs => %s,
                          batches_per_epoch => %s, batch_size => 256)""",
                (args.epochs, args.batches))
    epochs, fit_s, series, windows, beats = cur.fetchone()
    total = time.time() - t0
    read_s = total - fit_s
    print(f"train_forecaster: {total:.0f} s in all; reading, checking, ordering and scaling "
          f"{rows:,} rows, the ridge start (at most 250,000 evenly spaced training windows) and "
          f"the metrics (at most 100,000 validation windows) {read_s:.1f} s "
          f"({rows / max(read_s, 1e-9):,.0f} rows/s); "
          f"training {fit_s / max(epochs, 1):.1f} s per epoch of {args.batches} batches of 256 "
          f"windows ({epochs} epochs); {series:,} series, {windows:,} training windows; "
          f"validation beats naive: {beats}")
    print(f"backend peak RSS (VmHWM) {vm(pid, 'VmHWM') / 1024:.0f} MB; rnn.max_train_memory {args.memory}")

    t0 = time.time()
    cur.execute("SELECT count(*), count(DISTINCT series) FROM rnn.forecast('scale')")
    n, ns = cur.fetchone()
    print(f"rnn.forecast for every series: {n:,} rows for {ns:,} series in {time.time() - t0:.1f} s")
    print(f"backend peak RSS (VmHWM) {vm(pid, 'VmHWM') / 1024:.0f} MB")
    cur.execute("DROP TABLE scale_readings")


if __name__ == "__main__":
    main()
