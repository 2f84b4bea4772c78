"""M4 Hourly data and measures (the organisers' `Benchmarks and Evaluation.R`),
shared by test/bench/m4.py and prototypes.

load(dir) -> (ids, train list of np arrays, test np array (n, 48))
smape, mase: per series, averaged over the horizon; owa from the averages
against Naive2.  naive2: classical multiplicative decomposition when the 90%
seasonality test at lag 24 passes, then naive on the deseasonalized series.
"""
import csv
import os

import numpy as np

H, M = 48, 24


def load(d):
    def read(path):
        with open(path) as f:
            rows = list(csv.reader(f))[1:]
        return [r[0] for r in rows], [np.array([float(v) for v in r[1:] if v != ""]) for r in rows]
    ids, train = read(os.path.join(d, "Hourly-train.csv"))
    ids2, test = read(os.path.join(d, "Hourly-test.csv"))
    assert ids == ids2 and all(len(t) == H for t in test)
    return ids, train, np.stack(test)


def smape(y, f):
    return np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f)), axis=-1)


def mase(insample, y, f, m=M):
    scale = np.mean(np.abs(insample[m:] - insample[:-m]))
    return np.mean(np.abs(y - f), axis=-1) / scale


def seasonality_test(x, m=M):
    """M4's test: |acf(m)| > 1.645 sqrt((1 + 2 sum_{k<m} acf(k)^2) / n)."""
    if len(x) < 3 * m:
        return False
    xm = x - x.mean()
    denom = np.sum(xm * xm)
    acf = np.array([np.sum(xm[k:] * xm[:-k]) / denom for k in range(1, m + 1)])
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(acf[:-1] ** 2)) / len(x))
    return abs(acf[-1]) > limit


def seasonal_indices(x, m=M):
    """R's decompose(type = 'multiplicative'): ratio to a centred 2 x m moving
    average, averaged by position, scaled to mean 1; one index per point."""
    n = len(x)
    w = np.r_[0.5, np.ones(m - 1), 0.5] / m  # 2 x m MA for even m
    trend = np.full(n, np.nan)
    half = m // 2
    trend[half:n - half] = np.convolve(x, w, mode="valid")
    ratio = x / trend
    fig = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    fig = fig / fig.mean()
    return np.array([fig[i % m] for i in range(n)])


def naive2(x, h=H, m=M):
    if seasonality_test(x, m):
        si = seasonal_indices(x, m)
        des = x / si
        last = si[-m:]
        return des[-1] * np.resize(last, h)
    return np.repeat(x[-1], h)


def seasonal_naive(x, h=H, m=M):
    return np.resize(x[-m:], h)


def scores(train, test, fc):
    s = smape(test, fc)
    k = np.array([mase(train[i], test[i], fc[i]) for i in range(len(train))])
    return float(np.mean(s)), float(np.mean(k))


def owa(s, k, s2, k2):
    return 0.5 * (s / s2 + k / k2)
