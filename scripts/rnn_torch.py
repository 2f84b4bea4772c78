#!/usr/bin/python3
"""rnn_torch.py -- move rnn_ext models to and from PyTorch.

  rnn_torch.py export BLOB OUT.pt [--meta META.json]
      BLOB: a weights blob from rnn.export_model, raw or hex ('-' reads
      stdin), e.g.
        psql -Atc "COPY (SELECT encode(rnn.export_model('m'), 'hex')) TO STDOUT" \
          | scripts/rnn_torch.py export - m.pt
      OUT.pt holds {'config': ..., 'state_dict': ..., 'meta': ...}; load it
      with load_pt(), which returns an RnnNet (below) with those weights.
      META (optional JSON, e.g. vocabulary, labels, normalization from
      rnn.models) is stored as is.

  rnn_torch.py import IN.pt OUT [--config CONFIG.json] [--hex]
      IN.pt: a dict {'config': ..., 'state_dict': ...} (as written by export
      or save_pt) or a bare state_dict of an RnnNet with --config.  Writes
      the weights blob rnn.import_model accepts (hex text with --hex, '-'
      for stdout):
        scripts/rnn_torch.py import m.pt - --hex > m.hex
        psql -v blob="$(cat m.hex)" -c \
          "SELECT rnn.import_model('m', decode(:'blob', 'hex'), 'classifier',
                                   '{\"vocabulary\": [...], \"labels\": [...]}')"

RnnNet is the PyTorch twin of the engine's network: optional nn.Embedding,
nn.GRU / nn.LSTM / nn.RNN (batch_first=False, PyTorch's gate order and
biases, so the state_dict names and order are the engine's flat layout:
embedding.weight, rnn.weight_ih_l0[_reverse], ..., head.weight, head.bias,
skip.weight), pooling over time (last: forward direction's last step and
the reverse direction's first; max; mean), a Linear head and an optional
bias-free skip Linear added to the head's output.  A classifier's
probabilities are softmax(head output); a forecaster's outputs are in the
normalized units its rnn.models.normalization describes (see README).

Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import argparse
import json
import struct
import sys
import zlib

import torch
from torch import nn

MAGIC = b"RNNW"
FORMAT_VERSION = 1
HEADER_BYTES = 68
CELLS = ["tanh", "gru", "lstm"]
HEADS = ["regression", "classifier"]
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

    def forward(self, x, skip=None):
        """x: (T, B) token ids or (T, B, input_size) floats, every sequence
        T steps long; skip: (B, skip_size) when the model has a skip path.
        Returns the head outputs (B, output_size)."""
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
        return y


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
    if len(blob) != HEADER_BYTES + 4 * count + 4 or count != n_params(cfg):
        raise ValueError("blob size does not match its header")
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
    extra = set(state_dict) - {n for n, _ in tensor_shapes(cfg)}
    if extra:
        raise ValueError("unexpected tensors: %s" % ", ".join(sorted(extra)))
    flat = torch.cat(parts).numpy().astype("<f4").tobytes()
    count = len(flat) // 4
    body = (MAGIC + struct.pack("<II", FORMAT_VERSION, HEADER_BYTES) + struct.pack("<11i", *vals)
            + struct.pack("<f", float(cfg.get("dropout", 0.0))) + struct.pack("<Q", count) + flat)
    return body + struct.pack("<I", zlib.crc32(body))


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


def read_blob(path):
    data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    if data[:4] == MAGIC:
        return data
    text = data.decode("ascii").strip()
    if text.startswith("\\x"):
        text = text[2:]
    return bytes.fromhex(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="weights blob -> PyTorch .pt")
    e.add_argument("blob")
    e.add_argument("out")
    e.add_argument("--meta")
    i = sub.add_parser("import", help="PyTorch .pt -> weights blob")
    i.add_argument("pt")
    i.add_argument("out")
    i.add_argument("--config")
    i.add_argument("--hex", action="store_true")
    a = ap.parse_args(argv)
    if a.cmd == "export":
        cfg, sd = decode_blob(read_blob(a.blob))
        net = RnnNet(cfg)
        net.load_state_dict(sd, strict=True)
        meta = json.load(open(a.meta)) if a.meta else {}
        save_pt(net, a.out, meta)
    else:
        d = torch.load(a.pt)
        if a.config:
            cfg, sd = json.load(open(a.config)), d
        else:
            cfg, sd = d["config"], d["state_dict"]
        blob = encode_blob(full_config(cfg), sd)
        out = (blob.hex() + "\n").encode() if a.hex else blob
        if a.out == "-":
            sys.stdout.buffer.write(out)
        else:
            open(a.out, "wb").write(out)


if __name__ == "__main__":
    main()
