#!/usr/bin/python3
"""rnn_torch.py -- move rnn_ext models to and from PyTorch, and forecast with them.

  rnn_torch.py export BLOB OUT.pt [--meta META.json]
      BLOB: a weights blob from rnn.export_model, raw or hex ('-' reads
      stdin), e.g.
        psql -Atc "COPY (SELECT encode(rnn.export_model('m'), 'hex')) TO STDOUT" \
          | scripts/rnn_torch.py export - m.pt
      OUT.pt holds {'config': ..., 'state_dict': ..., 'meta': ...}; load it
      with load_pt(), which returns an RnnNet (below) with those weights.
      META (optional JSON) is stored as is.  A forecaster needs its
      rnn.model_info as META (hyperparams and normalization, for the same
      version export_model picks):
        psql -Atc "SELECT rnn.model_info('m')" > m.json

  rnn_torch.py forecast IN.pt (--csv FILE | --values V1,V2,... [--feature ...])
                        [--series KEY] [--horizon N] [--level 0.9]
      The next values of every series in FILE (a CSV with a header naming
      the model's value, series and feature columns, rows in time order),
      or of one series given on the command line, exactly as rnn.forecast
      computes them (value and split-conformal lo/hi in the series' units);
      prints CSV series,step,value,lo,hi:
        psql -c "COPY (SELECT * FROM readings ORDER BY sensor, ts) TO STDOUT CSV HEADER" > r.csv
        scripts/rnn_torch.py forecast m.pt --csv r.csv

  rnn_torch.py import IN.pt OUT [--config CONFIG.json] [--hex] [--info INFO.json]
      IN.pt: a dict {'config': ..., 'state_dict': ...} (as written by export,
      save_pt or save_forecaster) or a bare state_dict of an RnnNet with
      --config.  Writes the weights blob rnn.import_model accepts (hex text
      with --hex, '-' for stdout), and with --info the info argument
      (hyperparams, normalization, vocabulary, labels from the .pt's meta).
      psql interpolates :'var' in SQL read from stdin, not in -c:
        scripts/rnn_torch.py import m.pt m.hex --hex --info m.info
        echo "SELECT rnn.import_model('m', decode(:'blob', 'hex'), 'forecaster', :'info')" \
          | psql -v blob="$(cat m.hex)" -v info="$(cat m.info)"

RnnNet is the PyTorch twin of the engine's network: optional nn.Embedding,
nn.GRU / nn.LSTM / nn.RNN (batch_first=False, PyTorch's gate order and
biases, so the state_dict names and order are the engine's flat layout:
embedding.weight, rnn.weight_ih_l0[_reverse], ..., head.weight, head.bias,
skip.weight), pooling over time (last: forward direction's last step and
the reverse direction's first; max; mean), a Linear head, an optional
bias-free skip Linear added to the head's output, and for a classifier with
an n-gram path (ngram_order > 0, src/core/ngram.h) an NgramPath adding its
weights summed over the text's unigrams and bigrams of token ids
(ngram.keys, ngram.weight: the "RNNG" table after the network in the blob).
A classifier's probabilities are softmax(head output [+ n-gram path]).  A forecaster's network works in
normalized units; Forecaster (below) wraps it with the normalization
rnn.forecast applies, so its outputs are rnn.forecast's.

Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import argparse
import csv
import json
import math
import struct
import sys
import zlib

import torch
from torch import nn

MAGIC = b"RNNW"
FORMAT_VERSION = 1
HEADER_BYTES = 68
CELLS = ["tanh", "gru", "lstm"]
HEADS = ["regression", "classifier", "steps"]
POOLINGS = ["last", "max", "mean"]
FIELDS = ["cell", "num_layers", "bidirectional", "input_size", "vocab_size",
          "embedding_dim", "hidden_size", "output_size", "head", "pooling",
          "skip_size"]


def gates(cell):
    return {"tanh": 1, "gru": 3, "lstm": 4}[cell]


def tensor_shapes(cfg):
    """(name, shape) of every parameter, in the blob's (state_dict) order."""
    out = []
    H, G = cfg["hidden_size"], gates(cfg["cell"])
    dirs = 2 if cfg["bidirectional"] else 1
    if cfg["vocab_size"] > 0:
        out.append(("embedding.weight", (cfg["vocab_size"], cfg["embedding_dim"])))
    for layer in range(cfg["num_layers"]):
        if layer == 0:
            i = cfg["embedding_dim"] if cfg["vocab_size"] > 0 else cfg["input_size"]
        else:
            i = H * dirs
        for d in range(dirs):
            sfx = "_l%d%s" % (layer, "_reverse" if d else "")
            out += [("rnn.weight_ih" + sfx, (G * H, i)), ("rnn.weight_hh" + sfx, (G * H, H)),
                    ("rnn.bias_ih" + sfx, (G * H,)), ("rnn.bias_hh" + sfx, (G * H,))]
    out += [("head.weight", (cfg["output_size"], H * dirs)), ("head.bias", (cfg["output_size"],))]
    if cfg["skip_size"] > 0:
        out.append(("skip.weight", (cfg["output_size"], cfg["skip_size"])))
    return out


NGRAM_MAGIC = b"RNNG"
NGRAM_HEADER_BYTES = 32


class NgramPath(nn.Module):
    """The n-gram linear path: logits (B, C) += sum over t of weight[x[t]] +
    weight[V + k] where keys[k] == x[t-1] << 32 | x[t] (a bigram unseen in
    training adds nothing)."""

    def __init__(self, vocab_size, n_bigrams, n_classes, order=2):
        super().__init__()
        self.vocab_size, self.order = vocab_size, order
        self.register_buffer("keys", torch.zeros(n_bigrams, dtype=torch.int64))
        self.weight = nn.Parameter(torch.zeros(vocab_size + n_bigrams, n_classes))

    def forward(self, x):
        """x: (T, B) token ids."""
        y = self.weight[x].sum(dim=0)
        if self.order >= 2 and x.shape[0] > 1 and self.keys.numel() > 0:
            key = x[:-1].to(torch.int64) * (1 << 32) + x[1:].to(torch.int64)
            pos = torch.searchsorted(self.keys, key).clamp(max=self.keys.numel() - 1)
            found = (self.keys[pos] == key).unsqueeze(-1).to(self.weight.dtype)
            y = y + (self.weight[self.vocab_size + pos] * found).sum(dim=0)
        return y


def decode_ngram(blob):
    """(order, state_dict entries) of an n-gram table blob."""
    if blob[:4] != NGRAM_MAGIC:
        raise ValueError("bytes after the network are not an n-gram table (no RNNG magic)")
    version, order, C, V, reserved, nb = struct.unpack_from("<IIIIIQ", blob, 4)
    if version != 1 or reserved != 0:
        raise ValueError("unsupported n-gram table version %d" % version)
    rows = V + nb
    if len(blob) != NGRAM_HEADER_BYTES + 8 * nb + 4 * rows * C + 4:
        raise ValueError("n-gram table size does not match its header")
    (crc,) = struct.unpack_from("<I", blob, len(blob) - 4)
    if zlib.crc32(blob[:-4]) != crc:
        raise ValueError("n-gram table checksum mismatch")
    keys = torch.tensor(struct.unpack_from("<%dQ" % nb, blob, NGRAM_HEADER_BYTES), dtype=torch.int64)
    w = torch.frombuffer(bytearray(blob[NGRAM_HEADER_BYTES + 8 * nb:-4]), dtype=torch.float32)
    if sys.byteorder != "little":
        w = w.byteswap()
    return order, {"ngram.keys": keys, "ngram.weight": w.reshape(rows, C).clone()}


def encode_ngram(order, keys, weight):
    keys = [int(k) for k in keys.tolist()]
    w = weight.detach().to(torch.float32).cpu().contiguous()
    rows, C = w.shape
    body = (NGRAM_MAGIC + struct.pack("<IIIIIQ", 1, order, C, rows - len(keys), 0, len(keys))
            + struct.pack("<%dQ" % len(keys), *keys) + w.numpy().astype("<f4").tobytes())
    return body + struct.pack("<I", zlib.crc32(body))


def n_params(cfg):
    total = 0
    for _, shape in tensor_shapes(cfg):
        k = 1
        for s in shape:
            k *= s
        total += k
    return total


class RnnNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        cell = {"tanh": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cfg["cell"]]
        if cfg["vocab_size"] > 0:
            self.embedding = nn.Embedding(cfg["vocab_size"], cfg["embedding_dim"])
            in_size = cfg["embedding_dim"]
        else:
            self.embedding = None
            in_size = cfg["input_size"]
        self.rnn = cell(in_size, cfg["hidden_size"], num_layers=cfg["num_layers"],
                        bidirectional=bool(cfg["bidirectional"]),
                        dropout=cfg.get("dropout", 0.0) if cfg["num_layers"] > 1 else 0.0)
        dirs = 2 if cfg["bidirectional"] else 1
        self.head = nn.Linear(cfg["hidden_size"] * dirs, cfg["output_size"])
        self.skip = (nn.Linear(cfg["skip_size"], cfg["output_size"], bias=False)
                     if cfg["skip_size"] > 0 else None)
        self.ngram = (NgramPath(cfg["vocab_size"], cfg.get("ngram_bigrams", 0), cfg["output_size"],
                                cfg["ngram_order"])
                      if cfg.get("ngram_order", 0) > 0 else None)

    def forward(self, x, skip=None, state=None):
        """x: (T, B) token ids or (T, B, input_size) floats, every sequence
        T steps long; skip: (B, skip_size) when the model has a skip path.
        Returns the head outputs (B, output_size); for a per-step head
        ("steps": language models and taggers) the logits at every step,
        (T, B, output_size), from the initial state (h0 or (h0, c0)) when
        given -- see steps()."""
        if self.cfg["head"] == "steps":
            return self.steps(x, state)[0]
        ids = x
        if self.embedding is not None:
            x = self.embedding(x)
        out, _ = self.rnn(x)                     # (T, B, H * dirs)
        H = self.cfg["hidden_size"]
        pooling = self.cfg["pooling"]
        if pooling == "max":
            feat = out.max(dim=0).values
        elif pooling == "mean":
            feat = out.mean(dim=0)
        elif self.cfg["bidirectional"]:
            feat = torch.cat([out[-1, :, :H], out[0, :, H:]], dim=1)
        else:
            feat = out[-1]
        y = self.head(feat)
        if self.skip is not None:
            y = y + self.skip(skip)
        if self.ngram is not None:
            y = y + self.ngram(ids)
        return y


    def steps(self, x, state=None):
        """Per-step head: (logits (T, B, output_size), final state).  A
        language model reads token ids starting from id 0 (<pad>, the text
        boundary) and predicts the next token at every step; feeding a text
        in pieces, each from the previous piece's state, gives the same
        logits as feeding it whole (rnn.log_likelihood reads it that way).
        A tagger's logits are the tags' at every token."""
        if self.embedding is not None:
            x = self.embedding(x)
        out, state = self.rnn(x, state)
        return self.head(out), state


def decode_blob(blob):
    """(config dict, state_dict) of a weights blob; checks magic, sizes, CRC."""
    if blob[:4] != MAGIC:
        raise ValueError("not an rnn_ext weights blob (no RNNW magic)")
    version, header = struct.unpack_from("<II", blob, 4)
    if version != FORMAT_VERSION or header != HEADER_BYTES:
        raise ValueError("unsupported blob format version %d (header %d)" % (version, header))
    ints = struct.unpack_from("<11i", blob, 12)
    (dropout,) = struct.unpack_from("<f", blob, 56)
    (count,) = struct.unpack_from("<Q", blob, 60)
    cfg = dict(zip(FIELDS, ints))
    cfg["cell"] = CELLS[cfg["cell"]]
    cfg["head"] = HEADS[cfg["head"]]
    cfg["pooling"] = POOLINGS[cfg["pooling"]]
    cfg["bidirectional"] = bool(cfg["bidirectional"])
    cfg["dropout"] = dropout
    engine = HEADER_BYTES + 4 * count + 4
    if len(blob) < engine or count != n_params(cfg):
        raise ValueError("blob size does not match its header")
    ngram_sd = {}
    if len(blob) > engine:
        if cfg["head"] != "classifier":
            raise ValueError("blob has bytes after the network")
        cfg["ngram_order"], ngram_sd = decode_ngram(blob[engine:])
        cfg["ngram_bigrams"] = ngram_sd["ngram.keys"].numel()
        if ngram_sd["ngram.weight"].shape != (cfg["vocab_size"] + cfg["ngram_bigrams"],
                                              cfg["output_size"]):
            raise ValueError("n-gram table does not fit the network")
    (crc,) = struct.unpack_from("<I", blob, HEADER_BYTES + 4 * count)
    if zlib.crc32(blob[:HEADER_BYTES + 4 * count]) != crc:
        raise ValueError("blob checksum mismatch")
    flat = torch.frombuffer(bytearray(blob[HEADER_BYTES:HEADER_BYTES + 4 * count]),
                            dtype=torch.float32)
    if sys.byteorder != "little":
        flat = flat.byteswap()
    sd, off = {}, 0
    for name, shape in tensor_shapes(cfg):
        k = 1
        for s in shape:
            k *= s
        sd[name] = flat[off:off + k].reshape(shape).clone()
        off += k
    sd.update(ngram_sd)
    return cfg, sd


def encode_blob(cfg, state_dict):
    """The weights blob of a config and an RnnNet state_dict."""
    vals = []
    for f in FIELDS:
        v = cfg[f]
        if f == "cell":
            v = CELLS.index(v)
        elif f == "head":
            v = HEADS.index(v)
        elif f == "pooling":
            v = POOLINGS.index(v)
        vals.append(int(v))
    parts = []
    for name, shape in tensor_shapes(cfg):
        t = state_dict[name].detach().to(torch.float32).cpu().contiguous()
        if tuple(t.shape) != tuple(shape):
            raise ValueError("%s has shape %s, expected %s" % (name, tuple(t.shape), shape))
        parts.append(t.reshape(-1))
    extra = set(state_dict) - {n for n, _ in tensor_shapes(cfg)} - {"ngram.keys", "ngram.weight"}
    if extra:
        raise ValueError("unexpected tensors: %s" % ", ".join(sorted(extra)))
    flat = torch.cat(parts).numpy().astype("<f4").tobytes()
    count = len(flat) // 4
    body = (MAGIC + struct.pack("<II", FORMAT_VERSION, HEADER_BYTES) + struct.pack("<11i", *vals)
            + struct.pack("<f", float(cfg.get("dropout", 0.0))) + struct.pack("<Q", count) + flat)
    blob = body + struct.pack("<I", zlib.crc32(body))
    if cfg.get("ngram_order", 0) > 0:
        blob += encode_ngram(cfg["ngram_order"], state_dict["ngram.keys"], state_dict["ngram.weight"])
    return blob


def full_config(cfg):
    """Defaults for the keys a hand-written config may leave out."""
    c = {"num_layers": 1, "bidirectional": False, "input_size": 1, "vocab_size": 0,
         "embedding_dim": 0, "output_size": 1, "head": "regression", "pooling": "last",
         "skip_size": 0, "dropout": 0.0}
    c.update(cfg)
    return c


def load_pt(path):
    """An RnnNet (eval mode) and the meta dict from a file written by export."""
    d = torch.load(path)
    net = RnnNet(d["config"])
    net.load_state_dict(d["state_dict"], strict=True)
    net.eval()
    return net, d.get("meta", {})


def save_pt(net, path, meta=None):
    torch.save({"config": net.cfg, "state_dict": net.state_dict(), "meta": meta or {}}, path)


# ---------------------------------------------------------------------------
# Forecasters: the network plus the normalization around it
#
# rnn.forecast (src/pg/forecast_score.c, forecast_data.c) turns the last
# window_size rows of a series into its next `horizon` values like this, and
# Forecaster repeats every step, rounding included:
#   1. values arrive as float8 and are kept as float32;
#   2. each channel (the value, then the feature_columns covariates) is
#      z-scored in float64 with the series' training mean and std from
#      rnn.models.normalization, and rounded to float32; a series the model
#      was not trained on uses the mean and population std of all the rows
#      given for it (std 1 for a constant channel);
#   3. with normalize = 'window' (the default) the window's last z-value of
#      the value channel is subtracted from that channel (in float32);
#      covariates keep their z-values;
#   4. the skip path (skip_size > 0, linear_skip) gets the last skip_size
#      entries of that channel, i.e. the same window offsets;
#   5. the head predicts all horizon steps at once; the forecast is
#      (output + last z-value) * std + mean in float64 (with 'series', the
#      output alone), and lo/hi are it -/+ the conformal width at `level`
#      (normalization.conformal_q, z-units) times std.
# With normalize = 'level' the value channel is log(value) (float32) over a
# scale, mean 0 and std = the square root of the mean |log x_t - log
# x_(t - season)| of the series' training part (of the rows read, for a
# series the model has not seen); the reference subtracted is the mean of the window's last season
# of those z-values, and the forecast is exp(z * std), lo/hi exp((z -/+
# width) * std).  With seasonal = true the network reads the window as
# window / season steps of season values (channels interleaved), and its
# output at step h is added to the z-value one season earlier (the window's
# last season repeated) instead of the reference.
# ---------------------------------------------------------------------------

def series_stats(rows):
    """(mean, std), float64 tensors (C,), of rows (n, C) or values (n,), as
    the engine computes them: on float32 values, missing (NaN) ones left
    out, population std, 1 where a channel is constant (std <= 1e-8 *
    max(1, |mean|))."""
    v = torch.as_tensor(rows, dtype=torch.float64)
    if v.dim() == 1:
        v = v.unsqueeze(1)
    v = v.to(torch.float32).to(torch.float64)
    have = ~torch.isnan(v)
    n = have.sum(0).clamp(min=1)
    mean = torch.where(have, v, torch.zeros_like(v)).sum(0) / n
    sd = (torch.where(have, v - mean, torch.zeros_like(v)) ** 2).sum(0).div(n).sqrt()
    sd = torch.where(sd > 1e-8 * mean.abs().clamp(min=1.0), sd, torch.ones_like(sd))
    return mean, sd


def interpolate_missing(col, name="value"):
    """Fill NaNs of one channel (a list of floats, in time order) as
    missing => 'interpolate' does: linear between neighbours in float32, the
    nearest value at either end.  rnn.forecast applies it to the newest
    max(window_size, 2) rows of a series only (see Forecaster.last_rows)."""
    f32 = torch.tensor(col, dtype=torch.float32).tolist()
    out = [torch.tensor(x, dtype=torch.float32) for x in f32]
    n, prev = len(out), -1
    for i in range(n + 1):
        if i < n and math.isnan(f32[i]):
            continue
        if i - prev > 1:
            if prev < 0 and i == n:
                raise ValueError("column \"%s\" has no value in the last %d rows" % (name, n))
            for k in range(prev + 1, i):
                if prev < 0:
                    out[k] = out[i]
                elif i == n:
                    out[k] = out[prev]
                else:
                    a, b = out[prev], out[i]
                    out[k] = (a + (b - a) * torch.tensor(float(k - prev), dtype=torch.float32)
                              / torch.tensor(float(i - prev), dtype=torch.float32))
        prev = i
    return [float(x) for x in out]


class Forecaster(nn.Module):
    """An RnnNet with a regression head and the normalization rnn.forecast
    applies around it (see above).

    From SQL:      fm = load_forecaster('fc.pt')   (written by export --meta)
    In PyTorch:    fm = Forecaster.new(cell='gru', hidden_size=16, window=48,
                                       horizon=12, value_column='v', ...)
                   fm.set_stats({'s1': rows1, ...}); train fm.net;
                   save_forecaster(fm, 'fc.pt')     (then import --info)

    fm(values, mean, std): raw windows (B, window[, C]) -> forecasts
    (B, horizon) in the series' units, differentiable in fm.net's weights.
    fm.forecast(values, series=...) and fm.predict(...) take one series'
    raw rows (at least window of them, the last window are used)."""

    def __init__(self, net, window, normalize="window", series=(), mean=(), std=(),
                 levels=None, q=None, hyperparams=None, seasonal=False, season=None):
        super().__init__()
        cfg = net.cfg
        if cfg["head"] != "regression" or cfg["vocab_size"] != 0:
            raise ValueError("a forecaster needs a regression head on float inputs")
        if window < 1 or cfg["skip_size"] > window:
            raise ValueError("window_size %d does not fit skip_size %d" % (window, cfg["skip_size"]))
        if normalize not in ("window", "series", "level"):
            raise ValueError("normalize must be 'window', 'series' or 'level', not %r" % (normalize,))
        self.seasonal = bool(seasonal)
        self.season = int(season) if season else cfg["output_size"]
        if (self.seasonal or normalize == "level") and not 1 <= self.season <= window:
            raise ValueError("season_length %d does not fit window_size %d" % (self.season, window))
        if self.seasonal and (window % self.season or cfg["input_size"] % self.season):
            raise ValueError("a seasonal model reads whole seasons: window_size %d, season_length %d, "
                             "input_size %d" % (window, self.season, cfg["input_size"]))
        self.net = net
        self.window = int(window)
        self.horizon = cfg["output_size"]
        self.channels = cfg["input_size"] // (self.season if self.seasonal else 1)
        self.skip_size = cfg["skip_size"]
        self.normalize = normalize
        C = self.channels
        self.series = [str(k) for k in series]
        self.mean = torch.tensor(list(mean), dtype=torch.float64).reshape(len(self.series), C)
        self.std = torch.tensor(list(std), dtype=torch.float64).reshape(len(self.series), C)
        self.levels, self.q = None, None
        if levels and q and len(q) == len(levels) * self.horizon:
            self.levels, self.q = [float(x) for x in levels], [float(x) for x in q]
        self.hyperparams = dict(hyperparams or {})
        self.hyperparams.update({"window_size": self.window, "horizon": self.horizon,
                                 "normalize": normalize, "seasonal": self.seasonal,
                                 "season_length": self.season})
        self.time_type = None

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_meta(cls, net, meta):
        """From an exported network and its meta (rnn.model_info output)."""
        hp = meta.get("hyperparams") or {}
        nz = meta.get("normalization") or {}
        if "window_size" not in hp or "series" not in nz:
            raise ValueError("the meta has no hyperparams.window_size or normalization.series: "
                             "export with --meta holding rnn.model_info(name) of the forecaster")
        known = [k for k in ("calendar_inputs", "future_columns", "season_steps") if hp.get(k)]
        if known:
            raise ValueError("the forecaster uses %s (rnn_ext 0.4), which this script does not "
                             "support: forecast it with rnn.forecast" % " and ".join(known))
        C = net.cfg["input_size"] // (int(hp.get("season_length") or 1) if hp.get("seasonal") else 1)
        if len(nz.get("mean", [])) != len(nz["series"]) * C or \
           len(nz.get("std", [])) != len(nz["series"]) * C:
            raise ValueError("normalization statistics do not match %d series x %d channels"
                             % (len(nz["series"]), C))
        if len(hp.get("feature_columns") or []) + 1 != C:
            raise ValueError("the network has %d input channels but hyperparams name %d "
                             "feature columns" % (C, len(hp.get("feature_columns") or [])))
        norm = hp.get("normalize") if hp.get("normalize") in ("series", "level") else "window"
        fm = cls(net, hp["window_size"], norm, nz["series"], nz["mean"], nz["std"],
                 nz.get("conformal_levels"), nz.get("conformal_q"), hp,
                 seasonal=hp.get("seasonal", False), season=hp.get("season_length"))
        fm.time_type = nz.get("time_type")
        return fm

    @classmethod
    def new(cls, cell="lstm", hidden_size=64, window=96, horizon=24, num_layers=1,
            feature_columns=(), linear_skip=True, normalize="window", dropout=0.0,
            time_column=None, value_column=None, series_column=None, relation=None,
            missing="error", seasonal=False, season=None):
        """A freshly initialised forecaster shaped as rnn.train_forecaster
        makes them (pooling 'last', skip over the whole window); the column
        names and relation are what rnn.forecast will read after import."""
        cfg = full_config({"cell": {"rnn": "tanh"}.get(cell, cell), "num_layers": num_layers,
                           "input_size": (1 + len(feature_columns)) * (season if seasonal else 1),
                           "hidden_size": hidden_size,
                           "output_size": horizon, "skip_size": window if linear_skip else 0,
                           "dropout": dropout})
        hp = {"relation": relation, "time_column": time_column, "value_column": value_column,
              "series_column": series_column, "feature_columns": list(feature_columns),
              "cell": cfg["cell"], "hidden_size": hidden_size, "num_layers": num_layers,
              "dropout": dropout, "missing": missing, "linear_skip": bool(linear_skip)}
        return cls(RnnNet(cfg), window, normalize, hyperparams=hp, seasonal=seasonal, season=season)

    def series_stats(self, rows):
        """(mean, std) of a series' rows as this model's training takes them."""
        mean, sd = series_stats(rows)
        if self.normalize == "level":
            v = torch.as_tensor(rows, dtype=torch.float64)
            v = (v if v.dim() == 1 else v[:, 0]).to(torch.float32)
            lv = torch.log(v).to(torch.float64)
            lag = self.season if len(lv) > self.season else 1
            d = (lv[lag:] - lv[:-lag]).abs().mean().item() if len(lv) > lag else 1.0
            mean, sd = mean.clone(), sd.clone()
            mean[0], sd[0] = 0.0, math.sqrt(d if d > 1e-8 else 1.0)
        return mean, sd

    def set_stats(self, rows_by_series):
        """Per-series statistics from training rows {key: (n, C) or (n,)}."""
        self.series = [str(k) for k in rows_by_series]
        st = [self.series_stats(rows_by_series[k]) for k in rows_by_series]
        C = self.channels
        self.mean = torch.stack([m for m, _ in st]) if st else torch.zeros(0, C, dtype=torch.float64)
        self.std = torch.stack([s for _, s in st]) if st else torch.zeros(0, C, dtype=torch.float64)
        if self.mean.shape[1:] != (C,):
            raise ValueError("rows have %d channels, the network %d" % (self.mean.shape[1], C))
        self.levels, self.q = None, None   # intervals belong to other statistics

    def meta(self):
        """kind, hyperparams and normalization, as rnn.models stores them."""
        nz = {"series": self.series, "mean": self.mean.reshape(-1).tolist(),
              "std": self.std.reshape(-1).tolist()}
        if self.time_type:
            nz["time_type"] = self.time_type
        if self.levels:
            nz["conformal_levels"], nz["conformal_q"] = self.levels, self.q
        return {"kind": "forecaster", "hyperparams": dict(self.hyperparams), "normalization": nz}

    # -- scoring --------------------------------------------------------------
    def inputs(self, values, mean, std):
        """Network inputs of raw windows values (B, window[, C]) with per-window
        statistics mean, std (B, C): x (window, B, C) and skip (B, skip_size)
        float32, and base (B, horizon): what the network's output at each step
        is added to."""
        v = torch.as_tensor(values, dtype=torch.float64)
        if v.dim() == 2:
            v = v.unsqueeze(-1)
        if v.shape[1] != self.window or v.shape[2] != self.channels:
            raise ValueError("windows are %s, expected (B, %d, %d)"
                             % (tuple(v.shape), self.window, self.channels))
        mean = torch.as_tensor(mean, dtype=torch.float64)
        std = torch.as_tensor(std, dtype=torch.float64)
        v = v.to(torch.float32)
        if self.normalize == "level":
            if not (v[:, :, 0] > 0).all():
                raise ValueError("normalization 'level' needs positive values")
            v = torch.cat([torch.log(v[:, :, :1]), v[:, :, 1:]], dim=2)
        v = v.to(torch.float64)
        z = ((v - mean[:, None, :]) / std[:, None, :]).to(torch.float32)
        W, S, B = self.window, self.season, z.shape[0]
        if self.normalize == "window":
            ref = z[:, -1, 0]
        elif self.normalize == "level":
            ref = z[:, W - S:, 0].to(torch.float64).sum(1).div(S).to(torch.float32)
        else:
            ref = torch.zeros_like(z[:, -1, 0])
        x = torch.cat([z[:, :, :1] - ref[:, None, None], z[:, :, 1:]], dim=2)
        skip = x[:, W - self.skip_size:, 0] if self.skip_size else None
        h = torch.arange(self.horizon)
        base = z[:, W - S + h % S, 0] if self.seasonal else ref[:, None].expand(B, self.horizon)
        if self.seasonal:
            x = x.reshape(B, W // S, S * self.channels)
        return x.transpose(0, 1).contiguous(), skip, base

    def to_values(self, z, mean, std):
        """Network units (B, horizon) float64 -> the series' units."""
        v = z * std[:, :1] + mean[:, :1]
        return torch.exp(v) if self.normalize == "level" else v

    def forward(self, values, mean, std):
        x, skip, base = self.inputs(values, mean, std)
        z = self.net(x, skip).to(torch.float64) + base.to(torch.float64)
        std = torch.as_tensor(std, dtype=torch.float64)
        mean = torch.as_tensor(mean, dtype=torch.float64)
        return self.to_values(z, mean, std)

    def stats_for(self, series, rows):
        """The (mean, std) rnn.forecast uses for a series: the model's for a
        series it was trained on (or its only series when series is None),
        else those of all the rows given."""
        if series is None and len(self.series) == 1:
            return self.mean[0], self.std[0]
        if series is not None and str(series) in self.series:
            k = self.series.index(str(series))
            return self.mean[k], self.std[k]
        if self.normalize == "level":
            # rnn.forecast's level scale comes from the rows it reads
            mean, _ = series_stats(rows)
            _, sd = self.series_stats(self.last_rows(torch.as_tensor(rows, dtype=torch.float64)
                                                     .reshape(len(rows), -1)))
            return mean, torch.cat([sd[:1], series_stats(rows)[1][1:]])
        return series_stats(rows)

    def rows_of(self, values, features=None):
        """(n, C) rows from a value sequence and per-feature sequences."""
        cols = [list(map(float, values))]
        for f in features or []:
            cols.append(list(map(float, f)))
        if len(cols) != self.channels:
            raise ValueError("the model takes %d feature column(s) (%s), %d given"
                             % (self.channels - 1, ", ".join(self.hyperparams.get("feature_columns") or []),
                                len(cols) - 1))
        if any(len(c) != len(cols[0]) for c in cols):
            raise ValueError("features and values have different lengths")
        if len(cols[0]) < self.window:
            raise ValueError("%d values, fewer than window_size %d" % (len(cols[0]), self.window))
        return torch.tensor(cols, dtype=torch.float64).T

    def forecast_many(self, rows_list, series_list):
        """Forecasts (S, horizon) float64 for S series, each given as its
        rows (n_i, C), raw, in time order."""
        if not rows_list:
            return torch.zeros(0, self.horizon, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
        st = [self.stats_for(k, r) for k, r in zip(series_list, rows_list)]
        mean = torch.stack([m for m, _ in st])
        std = torch.stack([s for _, s in st])
        win = torch.stack([self.last_rows(r)[-self.window:] for r in rows_list])
        with torch.no_grad():
            return self(win, mean, std), std[:, 0]

    def last_rows(self, rows):
        """The rows rnn.forecast reads of a series: its newest
        max(window_size, 2), missing values interpolated among them."""
        r = torch.as_tensor(rows, dtype=torch.float64)[-max(self.window, 2):].clone()
        names = [self.hyperparams.get("value_column") or "value"] + \
            list(self.hyperparams.get("feature_columns") or [])
        for c in range(r.shape[1]):
            if torch.isnan(r[:, c]).any():
                r[:, c] = torch.tensor(interpolate_missing(r[:, c].tolist(), names[c]),
                                       dtype=torch.float64)
        return r

    def forecast(self, values, series=None, features=None):
        """The next horizon values (float64 tensor) after a series' raw values
        (at least window of them), as rnn.forecast returns them."""
        out, _ = self.forecast_many([self.rows_of(values, features)], [series])
        return out[0]

    def examples(self, rows, series=None):
        """Every window (stride 1) of one series' raw rows (n, C) or (n,) as
        the engine trains on them: x (window, N, C), skip (N, skip_size) or
        None, and target (N, horizon), all in network units (float32), with
        the statistics stats_for(series, rows) gives.  Concatenate several
        series along the batch dimension (x: dim 1, skip and target: dim 0)."""
        r = torch.as_tensor(rows, dtype=torch.float64)
        if r.dim() == 1:
            r = r.unsqueeze(1)
        mean, std = self.stats_for(series, r)
        W, H = self.window, self.horizon
        n = r.shape[0] - W - H + 1
        if n < 1:
            raise ValueError("%d rows, fewer than window_size + horizon = %d" % (r.shape[0], W + H))
        seg = r[torch.arange(n)[:, None] + torch.arange(W + H)[None, :]]    # (n, W + H, C)
        x, skip, base = self.inputs(seg[:, :W], mean.expand(n, -1), std.expand(n, -1))
        fut = seg[:, W:, 0].to(torch.float32)
        if self.normalize == "level":
            fut = torch.log(fut)
        fut = ((fut.to(torch.float64) - mean[0]) / std[0]).to(torch.float32)
        return x, skip, fut - base

    def width(self, h, level):
        """Split-conformal half-width of step h at level, in z-units."""
        lv, nl = self.levels, len(self.levels)
        q = self.q[h * nl:(h + 1) * nl]
        for l in range(nl - 1):
            if level <= lv[l + 1] + 1e-12:
                f = (level - lv[l]) / (lv[l + 1] - lv[l])
                return q[l] + f * (q[l + 1] - q[l])
        return q[nl - 1]

    def rows(self, out, std, series_list, horizon=None, level=0.9):
        """rnn.forecast's rows (series, step, value, lo, hi) of forecast_many."""
        horizon = self.horizon if horizon is None else horizon
        if not 1 <= horizon <= self.horizon:
            raise ValueError("horizon = %d is out of range: the model predicts %d steps"
                             % (horizon, self.horizon))
        if self.levels and not self.levels[0] <= level <= self.levels[-1]:
            raise ValueError("level = %g is out of range (%g to %g)"
                             % (level, self.levels[0], self.levels[-1]))
        res = []
        for b, key in enumerate(series_list):
            for h in range(horizon):
                v = out[b, h].item()
                if self.levels and self.normalize == "level":
                    w = math.exp(self.width(h, level) * std[b].item())
                    res.append((key, h + 1, v, v / w, v * w))
                elif self.levels:
                    w = self.width(h, level) * std[b].item()
                    res.append((key, h + 1, v, v - w, v + w))
                else:
                    res.append((key, h + 1, v, None, None))
        return res

    def predict(self, values, series=None, features=None, horizon=None, level=0.9):
        """rnn.forecast's rows for one series: (series, step, value, lo, hi)."""
        out, std = self.forecast_many([self.rows_of(values, features)], [series])
        return self.rows(out, std, ["" if series is None else str(series)], horizon, level)


def load_forecaster(path):
    """A Forecaster (network in eval mode) from a .pt file written by export
    with --meta (rnn.model_info of the forecaster) or by save_forecaster."""
    net, meta = load_pt(path)
    return Forecaster.from_meta(net, meta)


def save_forecaster(fm, path):
    save_pt(fm.net, path, fm.meta())


def read_series_csv(path, fm, series=None):
    """{series key: rows (n, C)} from a CSV with a header naming the model's
    value_column, feature_columns and (optionally) series_column; rows in
    time order within each series.  Empty cells are missing values.  A CSV
    without the series column is one series, `series` (None: the model's
    only series, else its own statistics)."""
    hp = fm.hyperparams
    vcol, scol = hp.get("value_column"), hp.get("series_column")
    fcols = list(hp.get("feature_columns") or [])
    f = sys.stdin if path == "-" else open(path, newline="")
    rd = csv.DictReader(f)
    need = [vcol] + fcols
    missing_cols = [c for c in need if c not in (rd.fieldnames or [])]
    if vcol is None or missing_cols:
        raise ValueError("the CSV header %s lacks column(s) %s" % (rd.fieldnames, missing_cols or [vcol]))
    if scol not in (rd.fieldnames or []):
        scol = None
    by = {}
    for row in rd:
        key = row[scol] if scol else series     # None: the model's only series
        cells = []
        for c in need:
            s = row[c].strip()
            cells.append(float(s) if s not in ("", "NULL") else float("nan"))
        by.setdefault(key, []).append(cells)
    out = {}
    for key, rows in by.items():
        cols = [list(c) for c in zip(*rows)]
        for c, name in zip(range(len(cols)), need):
            if any(math.isinf(x) for x in cols[c]):
                raise ValueError("column \"%s\" is infinite in series \"%s\"" % (name, key))
            if any(math.isnan(x) for x in cols[c]) and hp.get("missing") != "interpolate":
                raise ValueError("column \"%s\" has missing values in series \"%s\" "
                                 "(the model was trained with missing => 'error')" % (name, key))
        out[key] = torch.tensor(cols, dtype=torch.float64).T
    return out


def read_blob(path):
    data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    if data[:4] == MAGIC:
        return data
    text = data.decode("ascii").strip()
    if text.startswith("\\x"):
        text = text[2:]
    return bytes.fromhex(text)


def import_info(meta):
    """The info argument of rnn.import_model from a .pt file's meta."""
    info = {k: meta[k] for k in ("hyperparams", "normalization", "vocabulary", "labels")
            if meta.get(k) is not None}
    if meta.get("kind") == "forecaster":
        hp = info.get("hyperparams") or {}
        lacking = [k for k in ("window_size", "time_column", "value_column") if not hp.get(k)]
        if lacking or "normalization" not in info:
            raise ValueError("forecaster meta lacks %s: rnn.forecast needs them"
                             % ", ".join(lacking + ([] if "normalization" in info else ["normalization"])))
    return info


def cmd_forecast(a):
    fm = load_forecaster(a.pt)
    if (a.values is None) == (a.csv is None):
        raise SystemExit("forecast: give either --values or --csv")
    if a.csv is not None:
        data = read_series_csv(a.csv, fm, a.series)
        keys = list(data)
        rows = [data[k] for k in keys]
    else:
        feats = [f.split(",") for f in a.feature or []]
        keys = [a.series]
        rows = [fm.rows_of(a.values.split(","), feats)]
    for k, r in zip(keys, rows):
        if len(r) < fm.window:
            raise SystemExit("forecast: series \"%s\" has %d rows, fewer than window_size %d"
                             % ("" if k is None else k, len(r), fm.window))
    out, std = fm.forecast_many(rows, keys)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["series", "step", "value", "lo", "hi"])
    for key, step, v, lo, hi in fm.rows(out, std, ["" if k is None else k for k in keys],
                                        a.horizon, a.level):
        w.writerow([key, step, repr(v), "" if lo is None else repr(lo), "" if hi is None else repr(hi)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="weights blob -> PyTorch .pt")
    e.add_argument("blob")
    e.add_argument("out")
    e.add_argument("--meta", help="JSON stored with the weights; for a forecaster, "
                   "rnn.model_info(name) (hyperparams and normalization)")
    i = sub.add_parser("import", help="PyTorch .pt -> weights blob")
    i.add_argument("pt")
    i.add_argument("out")
    i.add_argument("--config")
    i.add_argument("--hex", action="store_true")
    i.add_argument("--info", help="also write the info JSON for rnn.import_model "
                   "(hyperparams, normalization, vocabulary, labels from the .pt's meta)")
    f = sub.add_parser("forecast", help="forecast with an exported forecaster, as rnn.forecast")
    f.add_argument("pt")
    f.add_argument("--values", help="one series' raw values, oldest first, comma-separated "
                   "(--values=-1.5,2,... when the first is negative)")
    f.add_argument("--feature", action="append",
                   help="with --values: one covariate's values, in feature_columns order")
    f.add_argument("--csv", help="CSV with a header ('-' for stdin): every series in it")
    f.add_argument("--series", help="the series' key (its statistics), for --values or a "
                   "CSV without the series column")
    f.add_argument("--horizon", type=int)
    f.add_argument("--level", type=float, default=0.9)
    a = ap.parse_args(argv)
    if a.cmd == "export":
        cfg, sd = decode_blob(read_blob(a.blob))
        net = RnnNet(cfg)
        net.load_state_dict(sd, strict=True)
        meta = json.load(open(a.meta)) if a.meta else {}
        if meta.get("kind") == "forecaster" or (cfg["head"] == "regression" and meta.get("hyperparams")):
            Forecaster.from_meta(net, meta)     # fail now rather than at forecast time
        elif cfg["head"] == "regression":
            sys.stderr.write("rnn_torch.py: note: without --meta (rnn.model_info of the model) "
                             "the forecast command cannot use this forecaster\n")
        save_pt(net, a.out, meta)
    elif a.cmd == "forecast":
        cmd_forecast(a)
    else:
        d = torch.load(a.pt)
        if a.config:
            cfg, sd, meta = json.load(open(a.config)), d, {}
        else:
            cfg, sd, meta = d["config"], d["state_dict"], d.get("meta", {})
        blob = encode_blob(full_config(cfg), sd)
        out = (blob.hex() + "\n").encode() if a.hex else blob
        if a.info:
            json.dump(import_info(meta), open(a.info, "w"))
        if a.out == "-":
            sys.stdout.buffer.write(out)
        else:
            open(a.out, "wb").write(out)


if __name__ == "__main__":
    try:
        main()
    except ValueError as err:
        sys.exit("rnn_torch.py: %s" % err)
