#!/usr/bin/python3
"""ETTh1 h24: a PyTorch replica of rnn.train_forecaster's model, to try
variants cheaply before building one in C.  Not part of any test.

Replicates (src/pg/forecast_*.c, src/core/fit.c): OT z-scored with the
training months' statistics; window normalization (every value of the
window minus its last one); a direct head on the recurrent network's last
state plus a linear skip path over the window's values, started at the
ridge solution of the training windows (strength chosen on validation,
head weights zero); Adam, clip 1, batch 64; each epoch validated, the best
epoch kept (epoch 0, the ridge start, competes).  Training windows have
their targets in the 12 training months, validation windows in the next 4;
test windows (the 4 months after) are scored only when asked (--test).

Variants (chosen on validation MSE, normalized; figures and what they show:
test/bench/RESULTS-etth1-torch.md):
  --read hourly|daily     one value a step (336 steps) or one day a step
                          (14 steps of 24 values), as seasonal => true reads
  --base last|snaive      what the outputs are added to: the window's last
                          value, or the seasonal-naive forecast
  --loss mse|l1           training loss (seasonal => true trains on l1)
  --avg                   Polyak averaging of the weights, decay 1 - 1/batches
                          an epoch, as rnn_fit's average_decay
  --freeze-skip           keep the linear path (skip weights and head bias)
                          at its ridge start: train the network and head only
  --level                 the z-scored values (not window-relative) as a
                          second input channel
  --doy, --hod            day of year, hour of day (sine, cosine) as inputs
                          of the network
  --covariates [window]   the six load columns as inputs of the network
                          ('MS', not the univariate protocol); 'window':
                          minus their window's last value
  --ridge-loads N         the last N lags of each load column, minus its last
                          value, as inputs of the linear path too (MS)
  --multi [--ridge-ot]    the load columns as more training series (not as
                          inputs); ridge on all series, or on OT only
  --extra FILE            another ETT file's OT as a second training series
  --cell, --hidden, --lr, --wd, --epochs, --patience, --batch, --dropout
                          as rnn.train_forecaster's arguments (wd: Adam's L2)
  --seeds N               ensemble mean of N seeds
  --holdout               choose the epoch on the first half of the
                          validation windows (July-August) and score the
                          second half (September-October): does a gain on
                          validation carry to later months?  (The ridge
                          strength is still chosen on all of validation, the
                          same for the linear path and the model.)
  --test                  also score the test months (for the variant
                          validation picks, once)

Usage: /usr/bin/python3 test/bench/etth1_torch.py [--data FILE] [options];
prints one line: the options, then linear path and model MSE, best epochs,
the validation curve and the process's CPU seconds.  One thread.
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn as nn

TRAIN, VALID, TEST = 8640, 2880, 2880


def load(path):
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=range(1, 8))
    mu, sd = raw[:TRAIN].mean(0), raw[:TRAIN].std(0)
    return ((raw - mu) / sd).astype(np.float32)  # columns HUFL..LULL, OT last


def windows(z, lo, hi, W, H):
    """windows whose targets lie in [lo, hi): (X (N, W, C), Y (N, H))"""
    starts = np.arange(lo - W, hi - W - H + 1)
    idx = starts[:, None] + np.arange(W + H)[None, :]
    seg = z[idx]  # (N, W+H, C)
    return seg[:, :W, :], seg[:, W:, -1]


def prepare(X, Y, base_kind, covariates, level=False, ridge_loads=0, season=24):
    """network input, skip input, target (relative to base), base"""
    ot = X[:, :, -1]
    ref = ot[:, -1:]
    if base_kind == "last":
        base = np.repeat(ref, Y.shape[1], 1)
    else:
        H = Y.shape[1]
        base = ot[:, -season + (np.arange(H) % season)]
    xin = ot - ref
    if covariates:
        cov = X[:, :, :-1]
        if covariates == "window":  # relative to their last values, as OT
            cov = cov - cov[:, -1:, :]
        xin = np.concatenate([cov, xin[:, :, None]], 2)
    else:
        xin = xin[:, :, None]
    if level:  # the z-scored values themselves as a second channel
        xin = np.concatenate([ot[:, :, None], xin], 2)
    skip = ot - ref
    if ridge_loads:  # the loads' last lags, minus their last value, in the linear path too
        cov = X[:, -ridge_loads:, :-1] - X[:, -1:, :-1]
        skip = np.hstack([skip, cov.reshape(len(X), -1)])
    return xin.astype(np.float32), skip.astype(np.float32), (Y - base).astype(np.float32), base


def ridge(S, T, Sv, Tv, grid=(1e-4, 1e-3, 1e-2, 1e-1, 1.0)):
    """as fc_fit_linear: intercept unpenalised, strength relative to the
    mean input energy, chosen on validation SSE"""
    K = S.shape[1]
    Xa = np.hstack([S, np.ones((len(S), 1))]).astype(np.float64)
    A0 = Xa.T @ Xa
    b = Xa.T @ T
    tr = np.trace(A0[:K, :K]) / K
    best = None
    for g in grid:
        A = A0.copy()
        A[np.arange(K), np.arange(K)] += g * tr
        A[K, K] += 1e-9 * max(tr, 1.0)
        Wt = np.linalg.solve(A, b)
        sse = np.mean((np.hstack([Sv, np.ones((len(Sv), 1))]) @ Wt - Tv) ** 2)
        if best is None or sse < best[0]:
            best = (sse, g, Wt)
    return best


class Net(nn.Module):
    def __init__(self, read, cell, n_in, hidden, K, H, dropout, Wridge):
        super().__init__()
        self.read = read
        I = n_in * 24 if read == "daily" else n_in
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(I, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, H)
        self.skip = nn.Linear(K, H, bias=False)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.copy_(torch.tensor(Wridge[-1], dtype=torch.float32))
            self.skip.weight.copy_(torch.tensor(Wridge[:-1].T, dtype=torch.float32))

    def forward(self, x, s):
        if self.read == "daily":
            B, W, C = x.shape
            x = x.reshape(B, W // 24, 24 * C)
        h = self.rnn(x)[0][:, -1]
        return self.head(self.drop(h)) + self.skip(s)


def predict(net, x, s, bs=512):
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i:i + bs], s[i:i + bs]) for i in range(0, len(x), bs)])


def train_one(args, seed, tr, va, Wridge):
    torch.manual_seed(seed)
    net = Net(args.read, args.cell, tr[0].shape[2], args.hidden, tr[1].shape[1], tr[2].shape[1],
              args.dropout, Wridge)
    if args.freeze_skip:
        net.skip.weight.requires_grad_(False)
        net.head.bias.requires_grad_(False)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.wd)
    lossf = nn.L1Loss() if args.loss == "l1" else nn.MSELoss()
    n = len(tr[0])
    nb = (n + args.batch - 1) // args.batch
    decay = 1.0 - 1.0 / nb
    avg = [p.detach().clone() for p in params] if args.avg else None

    def vloss():
        with torch.no_grad():
            P = predict(net, va[0], va[1])
            return float(lossf(P, va[2])), float(((P - va[2]) ** 2).mean())

    best = (vloss()[0], 0, [p.detach().clone() for p in params])
    curve = [best[0]]
    g = torch.Generator().manual_seed(seed)
    step = 0
    since = 0
    for ep in range(1, args.epochs + 1):
        net.train()
        perm = torch.randperm(n, generator=g)
        for k in range(nb):
            i = perm[k * args.batch:(k + 1) * args.batch]
            opt.zero_grad()
            loss = lossf(net(tr[0][i], tr[1][i]), tr[2][i])
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if avg is not None:
                d = min((1.0 + step) / (10.0 + step), decay)
                with torch.no_grad():
                    for a, p in zip(avg, params):
                        a.add_((1 - d) * (p - a))
            step += 1
        if avg is not None:
            raw = [p.detach().clone() for p in params]
            with torch.no_grad():
                for a, p in zip(avg, params):
                    p.copy_(a)
        vl = vloss()[0]
        curve.append(vl)
        if vl < best[0]:
            best = (vl, ep, [p.detach().clone() for p in params])
            since = 0
        else:
            since += 1
        if avg is not None:
            with torch.no_grad():
                for r, p in zip(raw, params):
                    p.copy_(r)
        if args.patience and since >= args.patience:
            break
    with torch.no_grad():
        for b, p in zip(best[2], params):
            p.copy_(b)
    return net, best[1], curve


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "..", "shared", "data", "ett",
                                                   "ETTh1.csv"))
    ap.add_argument("--window", type=int, default=336)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--read", default="hourly")
    ap.add_argument("--base", default="last")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--loss", default="mse")
    ap.add_argument("--avg", action="store_true")
    ap.add_argument("--multi", action="store_true",
                    help="the load columns as more training series (not inputs)")
    ap.add_argument("--extra", default=None, help="another ETT file whose OT trains too")
    ap.add_argument("--ridge-ot", action="store_true", help="with --multi: ridge on OT only")
    ap.add_argument("--ridge-loads", type=int, default=0,
                    help="N lags of each load column in the linear path too (MS)")
    ap.add_argument("--hod", action="store_true", help="hour of day as the network's input too")
    ap.add_argument("--doy", action="store_true", help="day of year as the network's input too")
    ap.add_argument("--level", action="store_true", help="the z-scored values as an input too")
    ap.add_argument("--freeze-skip", action="store_true", help="train the recurrent part only")
    ap.add_argument("--covariates", nargs="?", const="z", default=None,
                    help="the six load columns as network inputs ('MS'): z-scores, or "
                         "'window' (minus their window's last value)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--holdout", action="store_true",
                    help="choose epochs on the first half of validation, score the second")
    ap.add_argument("--test", action="store_true", help="also score the test months")
    args = ap.parse_args()
    if (args.doy or args.hod) and (args.multi or args.covariates or args.ridge_loads):
        ap.error("--doy replaces the load columns: not with --multi or --covariates")
    torch.set_num_threads(1)
    t0 = time.process_time()

    z = load(args.data)
    if args.doy or args.hod:
        # day of year (the data start on 2016-07-01 00:00, day 182 from 0)
        # and hour of day as sine and cosine, the network's only covariates
        t = np.arange(len(z))
        cols = []
        if args.doy:
            ph = 2 * np.pi * ((182 + t / 24.0) % 365.25) / 365.25
            cols += [np.sin(ph), np.cos(ph)]
        if args.hod:
            ph = 2 * np.pi * (t % 24) / 24.0
            cols += [np.sin(ph), np.cos(ph)]
        z = np.column_stack(cols + [z[:, -1]]).astype(np.float32)
        args.covariates = "z"
    W, H = args.window, args.horizon
    sets = {}
    for name, lo, hi in (("train", W, TRAIN), ("valid", TRAIN, TRAIN + VALID),
                         ("test", TRAIN + VALID, TRAIN + VALID + TEST)):
        X, Y = windows(z, lo, hi, W, H)
        sets[name] = prepare(X, Y, args.base, args.covariates, args.level,
                                args.ridge_loads) + (Y,)
    tr, va, te = sets["train"], sets["valid"], sets["test"]
    if args.ridge_ot:
        ridge_tr = tr
    if args.multi:
        # the six load columns as more training series (each one alone, as OT)
        parts = [tr]
        for c in range(z.shape[1] - 1):
            X, Y = windows(z[:, [c]], W, TRAIN, W, H)
            parts.append(prepare(X, Y, args.base, False) + (Y,))
        tr = tuple(np.concatenate(a) for a in zip(*parts))
    if args.extra:
        # another data set's OT (its training months, its own statistics) as
        # a second training series: does more data of the kind help?
        z2 = load(args.extra)[:, -1:]
        X, Y = windows(z2, W, TRAIN, W, H)
        tr = tuple(np.concatenate(a) for a in zip(tr, prepare(X, Y, args.base, False) + (Y,)))
    rt = ridge_tr if args.ridge_ot else tr
    sse, g, Wr = ridge(rt[1], rt[2], va[1], va[2])

    def lin(S, base, Y):
        return float(np.mean((np.hstack([S, np.ones((len(S), 1))]) @ Wr + base - Y) ** 2))

    out = {"linear_valid": lin(va[1], va[3], va[4]), "alpha": g}
    if args.test:
        out["linear_test"] = lin(te[1], te[3], te[4])
    if args.holdout:
        # early stopping on the first half of the validation windows, the
        # second half (targets after theirs) scored: is the gain real?
        m = len(va[0]) // 2
        ho = tuple(a[m + H:] for a in va)
        va = tuple(a[:m] for a in va)
        out["linear_valid"] = lin(va[1], va[3], va[4])
        out["linear_holdout"] = lin(ho[1], ho[3], ho[4])
    T = [tuple(torch.tensor(a) for a in s[:3]) for s in (tr, va, te)]
    preds_v, preds_t, preds_h, bests = [], [], [], []
    if args.epochs > 0:
        for k in range(args.seeds):
            net, bep, curve = train_one(args, args.seed + k, T[0], T[1], Wr)
            bests.append(bep)
            preds_v.append(predict(net, T[1][0], T[1][1]).numpy())
            if args.holdout:
                preds_h.append(predict(net, torch.tensor(ho[0]), torch.tensor(ho[1])).numpy())
            if args.test:
                preds_t.append(predict(net, T[2][0], T[2][1]).numpy())
        pv = np.mean(preds_v, 0)
        out["valid"] = float(np.mean((pv + va[3] - va[4]) ** 2))
        if args.holdout:
            out["holdout"] = float(np.mean((np.mean(preds_h, 0) + ho[3] - ho[4]) ** 2))
        out["valid_each"] = [round(float(np.mean((p + va[3] - va[4]) ** 2)), 5) for p in preds_v]
        if args.test:
            out["test"] = float(np.mean((np.mean(preds_t, 0) + te[3] - te[4]) ** 2))
        out["best_epochs"] = bests
        out["curve"] = [round(c, 5) for c in curve]
    out["cpu_s"] = round(time.process_time() - t0, 1)
    cfg = {k: v for k, v in vars(args).items() if k not in ("data",)}
    print(cfg, {k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()}, flush=True)


if __name__ == "__main__":
    main()
