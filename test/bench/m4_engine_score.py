#!/usr/bin/env python3
"""Input and scores for test/bench/m4_engine.sh.

  m4_engine_score.py input val|test DATA FILE   the series, one a line
  m4_engine_score.py score val|test DATA PREFIX PREFIX.fc / PREFIX.res: OWA,
                                                coverage (pooled / by series)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m4_metrics as m  # noqa: E402


def main():
    what, mode, data, path = sys.argv[1:5]
    ids, tr, te = m.load(data)
    if mode == "val":
        te = np.stack([x[-m.H:] for x in tr])
        tr = [x[:-m.H] for x in tr]
    if what == "input":
        with open(path, "w") as f:
            f.write("".join(" ".join(repr(float(v)) for v in x) + "\n" for x in tr))
        return
    F = np.loadtxt(path + ".fc")
    sd, F = F[:, m.H], F[:, :m.H]
    n2 = np.stack([m.naive2(x) for x in tr])
    s2, k2 = m.scores(tr, te, n2)
    s, k = m.scores(tr, te, F)
    print(f"{mode}: sMAPE {s:.3f} MASE {k:.3f} OWA {m.owa(s, k, s2, k2):.4f}")
    R = np.loadtxt(path + ".res")
    sid, R = R[:, 0].astype(int), np.abs(R[:, 1:])
    cnt = np.bincount(sid, minlength=len(tr))
    lens = np.array([len(x) for x in tr])

    def quantile(r, w, lv):
        o = np.argsort(r)
        c = np.cumsum(w[o])
        ne = len(r) if np.all(w == 1) else (cnt > 0).sum()
        return r[o][np.searchsorted(c, min(1, lv * (ne + 1) / ne) * c[-1] * (1 - 1e-9))]

    for name, w in (("pooled by window", np.ones(len(sid))), ("weighted by series", 1.0 / cnt[sid])):
        out = []
        for lv in (0.8, 0.95):
            q = np.array([quantile(R[:, h], w, lv) for h in range(m.H)])
            inside = (te >= F * np.exp(-q * sd[:, None])) & (te <= F * np.exp(q * sd[:, None]))
            by = "/".join(f"{100 * inside[lens == n].mean():.1f}" for n in sorted(set(lens)))
            out.append(f"{lv:.0%}: {100 * inside.mean():.1f}% (by length {by})")
        print(f"  coverage, widths {name}: " + ", ".join(out))


if __name__ == "__main__":
    main()
