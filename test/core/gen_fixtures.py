#!/usr/bin/python3
"""
gen_fixtures.py -- PyTorch reference dumps for the engine tests (test_engine.c).

Run with Debian's interpreter, which has python3-torch:

    /usr/bin/python3 test/core/gen_fixtures.py [--check]

For every case it builds the engine's model in PyTorch (optional embedding,
nn.RNN/GRU/LSTM over a PackedSequence, pooling, a linear head and an optional
linear skip path), runs one forward and one backward in float32 on one thread
and writes test/core/fixtures/NAME.bin, plus fixtures/MANIFEST listing the
cases.  One more case runs five Adam steps with gradient-norm clipping.
--check re-reads every file with read_fixture() and compares it with what was
written (round trip of the format).

File format (little-endian):

    char[8]  magic "RNNFIX01"
    int32    n_cfg (= 12)
    int32    cfg[12]: cell (0 tanh, 1 gru, 2 lstm), num_layers, bidirectional,
             input_size, vocab_size, embedding_dim, hidden_size, output_size,
             head (0 regression, 1 classifier), pooling (0 last, 1 max,
             2 mean), skip_size, dropout * 1e6
    int32    n_tensors
    n_tensors times:
        char[48] name, NUL-padded
        int32    dtype (0 float32, 1 int32)
        int32    ndim (0..4)
        int32    dims[4] (unused dims are 1)
        data     prod(dims) elements

Tensors of a case:
    lengths (B) i32          descending
    x (N, I) f32             packed, time-major (PackedSequence.data order)
      or tokens (N) i32
    skip (B, K) f32          last K values of input feature 0, oldest first
    targets (B, O) f32       regression
      or labels (B) i32      classifier
    p:<name>                 every parameter, in state_dict order (the engine's
                             flat-buffer order), e.g. p:rnn.weight_ih_l0_reverse
    top_output (N, F) f32    PackedSequence.data of the top layer's output
    h_n (L*D, B, H) f32, c_n (LSTM only)
    outputs (B, O) f32       head outputs (values or logits)
    loss (1) f32             MSE mean over B*O / cross-entropy mean over B
    g:<name>                 the gradient of every parameter
Weighted cross-entropy case (one classifier), in addition:
    xent_weights (B) f32     per-sequence weights
    wloss (1) f32            sum(w * loss) / sum(w)
    gw:<name>                gradients of the weighted loss
Streaming cases (names stream_*), in addition -- everything above is then
computed from these initial states instead of zeros:
    h0 (L*D, B, H) f32, c0 (LSTM only)
Per-step head cases (names steps_*; head 2, RNN_HEAD_STEPS): instead of
labels and (B, O) outputs --
    step_targets (N) i32     packed targets, -1 = masked
    outputs (N, O) f32       logits at every packed row
    loss (1) f32             cross-entropy, ignore_index=-1, mean over rows
Carried-state cases (names tbptt_*), in addition: a first chunk run from
zeros, whose final states (detached) are h0/c0 of the main chunk --
    chunk1_tokens (N1) i32, chunk1_targets (N1) i32, chunk1_outputs (N1, O),
    chunk1_loss (1), chunk1_h_n (L, B, H), chunk1_c_n (LSTM)
Adam case, in addition:
    opt (6) f32              lr, beta1, beta2, eps, weight_decay, clip_norm
    step_loss (S) f32        loss before each step
    step_norm (S) f32        global gradient norm before clipping, each step
    final:<name>             parameters after the S steps
"""
import os
import copy
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")
MAGIC = b"RNNFIX01"
CELLS = {"tanh": 0, "gru": 1, "lstm": 2}
HEADS = {"reg": 0, "cls": 1, "steps": 2}
POOLS = {"last": 0, "max": 1, "mean": 2}


# ---------------------------------------------------------------------------
# The model, as the engine defines it

class Net(nn.Module):
    def __init__(self, cell, layers, bidir, input_size, vocab, emb, hidden,
                 out, skip):
        super().__init__()
        if vocab > 0:
            self.embedding = nn.Embedding(vocab, emb)
            input_size = emb
        else:
            self.embedding = None
        kw = dict(input_size=input_size, hidden_size=hidden, num_layers=layers,
                  bidirectional=bool(bidir), batch_first=False, dropout=0.0)
        if cell == "tanh":
            self.rnn = nn.RNN(nonlinearity="tanh", **kw)
        elif cell == "gru":
            self.rnn = nn.GRU(**kw)
        else:
            self.rnn = nn.LSTM(**kw)
        self.cell = cell
        self.hidden = hidden
        self.dirs = 2 if bidir else 1
        self.head = nn.Linear(hidden * self.dirs, out)
        self.skip = nn.Linear(skip, out, bias=False) if skip > 0 else None

    def forward(self, inp_padded, lengths, pooling, skip_in, state0=None):
        """inp_padded: (T, B, I) floats or (T, B) token ids."""
        if self.embedding is not None:
            inp_padded = self.embedding(inp_padded)
        packed = pack_padded_sequence(inp_padded, lengths, enforce_sorted=True)
        out, state = self.rnn(packed, state0)
        if self.cell == "lstm":
            h_n, c_n = state
        else:
            h_n, c_n = state, None
        H = self.hidden
        T = int(lengths[0])
        B = len(lengths)
        # padded view of the top layer's output, (T, B, F)
        pad = torch.zeros(T, B, H * self.dirs)
        bs = out.batch_sizes
        off = 0
        for t in range(T):
            n = int(bs[t])
            pad[t, :n] = out.data[off:off + n]
            off += n
        if pooling == "last":
            feats = [h_n[-self.dirs]]             # forward: last valid step
            if self.dirs == 2:
                feats.append(h_n[-1])             # reverse: its step 0
            pooled = torch.cat(feats, dim=1)
            # same thing read from the outputs, as a self-check
            alt = []
            for b in range(B):
                f = pad[lengths[b] - 1, b, :H]
                if self.dirs == 2:
                    f = torch.cat([f, pad[0, b, H:]])
                alt.append(f)
            assert torch.allclose(torch.stack(alt), pooled, atol=1e-6)
        elif pooling == "max":
            rows = [pad[:lengths[b], b].max(dim=0).values for b in range(B)]
            pooled = torch.stack(rows)
        else:
            rows = [pad[:lengths[b], b].mean(dim=0) for b in range(B)]
            pooled = torch.stack(rows)
        y = self.head(pooled)
        if self.skip is not None:
            y = y + self.skip(skip_in)
        return y, out.data, h_n, c_n


# ---------------------------------------------------------------------------
# Writing and reading fixture files

def _tensor_bytes(name, arr):
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        arr = arr.astype("<f4")
        dtype = 0
    else:
        arr = arr.astype("<i4")
        dtype = 1
    assert arr.ndim <= 4, name
    nb = name.encode()
    assert len(nb) < 48, name
    dims = list(arr.shape) + [1] * (4 - arr.ndim)
    head = nb.ljust(48, b"\0") + struct.pack("<6i", dtype, arr.ndim, *dims)
    return head + np.ascontiguousarray(arr).tobytes()


def write_fixture(path, cfg, tensors):
    assert len(cfg) == 12
    b = bytearray(MAGIC)
    b += struct.pack("<i", 12) + struct.pack("<12i", *cfg)
    b += struct.pack("<i", len(tensors))
    for name, arr in tensors:
        b += _tensor_bytes(name, arr)
    with open(path, "wb") as f:
        f.write(bytes(b))
    return len(b)


def read_fixture(path):
    """Returns (cfg list, [(name, ndarray)]) -- the reader used by --check."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == MAGIC, "bad magic"
    pos = 8
    (ncfg,) = struct.unpack_from("<i", data, pos)
    pos += 4
    cfg = list(struct.unpack_from("<%di" % ncfg, data, pos))
    pos += 4 * ncfg
    (nt,) = struct.unpack_from("<i", data, pos)
    pos += 4
    out = []
    for _ in range(nt):
        name = data[pos:pos + 48].rstrip(b"\0").decode()
        pos += 48
        dtype, ndim, d0, d1, d2, d3 = struct.unpack_from("<6i", data, pos)
        pos += 24
        dims = [d0, d1, d2, d3][:ndim]
        n = int(np.prod(dims)) if ndim else 1
        arr = np.frombuffer(data, dtype="<f4" if dtype == 0 else "<i4",
                            count=n, offset=pos).reshape(dims)
        pos += 4 * n
        out.append((name, arr))
    assert pos == len(data), "trailing bytes"
    return cfg, out


# ---------------------------------------------------------------------------
# Cases

def pack_rows(padded, lengths):
    """(T, B, ...) padded -> (N, ...) in PackedSequence.data order."""
    rows = []
    for t in range(int(lengths[0])):
        for b in range(len(lengths)):
            if lengths[b] > t:
                rows.append(padded[t, b])
    return torch.stack(rows)


def make_case(name, cell, layers, bidir, head, pooling, lengths, vocab=0,
              emb=0, input_size=3, hidden=4, out=2, skip=0, adam=None,
              weighted=False, stream=False):
    # each case has its own seed, so adding a case changes no other file
    torch.manual_seed(zlib.crc32(name.encode()))
    net = Net(cell, layers, bidir, input_size, vocab, emb, hidden, out, skip)
    # non-trivial biases (PyTorch's init already gives U(-k, k)); nothing else
    # is needed: the engine takes these parameters from the file.
    B = len(lengths)
    T = lengths[0]
    assert all(lengths[i] >= lengths[i + 1] for i in range(B - 1))
    if vocab > 0:
        inp = torch.randint(0, vocab, (T, B))
        for b in range(B):
            inp[lengths[b]:, b] = 0         # padding, never read
    else:
        inp = torch.randn(T, B, input_size)
        for b in range(B):
            inp[lengths[b]:, b] = 0.0
    if skip > 0:
        assert vocab == 0
        skip_in = torch.stack([inp[lengths[b] - skip:lengths[b], b, 0]
                               for b in range(B)])
    else:
        skip_in = None
    if head == "reg":
        target = torch.randn(B, out)
        lossf = lambda y: nn.functional.mse_loss(y, target)
    else:
        label = torch.randint(0, out, (B,))
        lossf = lambda y: nn.functional.cross_entropy(y, label)

    cfg = [CELLS[cell], layers, bidir, 0 if vocab else input_size, vocab, emb,
           hidden, out, HEADS[head], POOLS[pooling], skip, 0]
    tensors = [("lengths", np.array(lengths))]
    if vocab > 0:
        tensors.append(("tokens", pack_rows(inp, lengths).numpy()))
    else:
        tensors.append(("x", pack_rows(inp, lengths).numpy()))
    if skip > 0:
        tensors.append(("skip", skip_in.numpy()))
    if head == "reg":
        tensors.append(("targets", target.numpy()))
    else:
        tensors.append(("labels", label.numpy()))
    params = list(net.state_dict().items())
    for n, p in params:
        tensors.append(("p:" + n, p.detach().numpy().copy()))

    state0 = None
    if stream:
        # initial states, as rnn_infer_set_state() takes them
        h0 = 0.5 * torch.randn(layers * (1 + bidir), B, hidden)
        c0 = 0.5 * torch.randn(layers * (1 + bidir), B, hidden)
        state0 = (h0, c0) if cell == "lstm" else h0
        tensors.append(("h0", h0.numpy()))
        if cell == "lstm":
            tensors.append(("c0", c0.numpy()))
    y, top, h_n, c_n = net(inp, lengths, pooling, skip_in, state0)
    loss = lossf(y)
    net.zero_grad()
    loss.backward()
    tensors.append(("top_output", top.detach().numpy()))
    tensors.append(("h_n", h_n.detach().numpy()))
    if c_n is not None:
        tensors.append(("c_n", c_n.detach().numpy()))
    tensors.append(("outputs", y.detach().numpy()))
    tensors.append(("loss", np.array([loss.item()], dtype=np.float32)))
    named = dict(net.named_parameters())
    for n, _ in params:
        tensors.append(("g:" + n, named[n].grad.numpy().copy()))

    if weighted:
        # per-sequence weights of rnn_loss_xent: sum(w * loss) / sum(w)
        assert head == "cls"
        w = torch.rand(B) + 0.25
        y, _, _, _ = net(inp, lengths, pooling, skip_in)
        ce = nn.functional.cross_entropy(y, label, reduction="none")
        wl = (w * ce).sum() / w.sum()
        net.zero_grad()
        wl.backward()
        tensors.append(("xent_weights", w.numpy()))
        tensors.append(("wloss", np.array([wl.item()], dtype=np.float32)))
        for n, _ in params:
            tensors.append(("gw:" + n, named[n].grad.numpy().copy()))

    if adam is not None:
        steps = adam["steps"]
        # clip_norm between the unclipped norms of steps 1 and 2, so that
        # the first steps clip and the later ones (smaller norms) do not
        trial = copy.deepcopy(net)
        topt = torch.optim.Adam(trial.parameters(), lr=0.01)
        tnorms = []
        for _ in range(steps):
            topt.zero_grad()
            lossf(trial(inp, lengths, pooling, skip_in)[0]).backward()
            tnorms.append(float(nn.utils.clip_grad_norm_(trial.parameters(),
                                                         1e9)))
            topt.step()
        clip = float(np.float32((tnorms[1] + tnorms[2]) / 2))
        opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.9, 0.999),
                               eps=1e-8, weight_decay=0.0)
        losses, norms = [], []
        for _ in range(steps):
            opt.zero_grad()
            y, _, _, _ = net(inp, lengths, pooling, skip_in)
            loss = lossf(y)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(net.parameters(), max_norm=clip)
            losses.append(loss.item())
            norms.append(float(norm))
            opt.step()
        clipped = sum(1 for n in norms if n > clip)
        assert 0 < clipped < steps, \
            "clip_norm %g should clip some steps but not all: %s" % (clip, norms)
        tensors.append(("opt", np.array([0.01, 0.9, 0.999, 1e-8, 0.0, clip],
                                        dtype=np.float32)))
        tensors.append(("step_loss", np.array(losses, dtype=np.float32)))
        tensors.append(("step_norm", np.array(norms, dtype=np.float32)))
        for n, p in net.state_dict().items():
            tensors.append(("final:" + n, p.detach().numpy().copy()))
        print("  %s: norms %s, clip %g (%d of %d steps clipped)"
              % (name, " ".join("%.3f" % n for n in norms), clip, clipped,
                 steps))

    path = os.path.join(OUT, name + ".bin")
    size = write_fixture(path, cfg, tensors)
    return path, cfg, tensors, size


def make_steps_case(name, cell, layers, bidir, lengths, vocab, emb, hidden,
                    out, tbptt=False):
    """Per-step head (RNN_HEAD_STEPS): logits at every packed row."""
    torch.manual_seed(zlib.crc32(name.encode()))
    net = Net(cell, layers, bidir, 0, vocab, emb, hidden, out, 0)
    B = len(lengths)
    T = lengths[0]
    assert all(lengths[i] >= lengths[i + 1] for i in range(B - 1))
    cfg = [CELLS[cell], layers, bidir, 0, vocab, emb, hidden, out,
           HEADS["steps"], POOLS["last"], 0, 0]
    params = list(net.state_dict().items())
    tensors = [("lengths", np.array(lengths))]

    def run(inp, state0):
        e = net.embedding(inp)
        packed = pack_padded_sequence(e, lengths, enforce_sorted=True)
        o, st = net.rnn(packed, state0)
        return net.head(o.data), o.data, st

    def draw():
        inp = torch.randint(0, vocab, (T, B))
        for b in range(B):
            inp[lengths[b]:, b] = 0
        tgt = pack_rows(torch.randint(0, out, (T, B)), lengths)
        tgt[1] = -1                       # one masked row
        return inp, tgt

    state0 = None
    if tbptt:
        assert len(set(lengths)) == 1, "chunks of equal length"
        inp1, tgt1 = draw()
        with torch.no_grad():
            y1, _, st1 = run(inp1, None)
            l1 = nn.functional.cross_entropy(y1, tgt1, ignore_index=-1)
        tensors.append(("chunk1_tokens", pack_rows(inp1, lengths).numpy()))
        tensors.append(("chunk1_targets", tgt1.numpy()))
        tensors.append(("chunk1_outputs", y1.numpy()))
        tensors.append(("chunk1_loss", np.array([l1.item()], dtype=np.float32)))
        if cell == "lstm":
            tensors.append(("chunk1_h_n", st1[0].numpy()))
            tensors.append(("chunk1_c_n", st1[1].numpy()))
            state0 = (st1[0].detach(), st1[1].detach())
        else:
            tensors.append(("chunk1_h_n", st1.numpy()))
            state0 = st1.detach()
    inp, tgt = draw()
    tensors.append(("tokens", pack_rows(inp, lengths).numpy()))
    tensors.append(("step_targets", tgt.numpy()))
    for n, p in params:
        tensors.append(("p:" + n, p.detach().numpy().copy()))
    if state0 is not None:
        h0 = state0[0] if cell == "lstm" else state0
        tensors.append(("h0", h0.numpy()))
        if cell == "lstm":
            tensors.append(("c0", state0[1].numpy()))
    y, top, st = run(inp, state0)
    loss = nn.functional.cross_entropy(y, tgt, ignore_index=-1)
    net.zero_grad()
    loss.backward()
    h_n, c_n = st if cell == "lstm" else (st, None)
    tensors.append(("top_output", top.detach().numpy()))
    tensors.append(("h_n", h_n.detach().numpy()))
    if c_n is not None:
        tensors.append(("c_n", c_n.detach().numpy()))
    tensors.append(("outputs", y.detach().numpy()))
    tensors.append(("loss", np.array([loss.item()], dtype=np.float32)))
    named = dict(net.named_parameters())
    for n, _ in params:
        tensors.append(("g:" + n, named[n].grad.numpy().copy()))
    path = os.path.join(OUT, name + ".bin")
    size = write_fixture(path, cfg, tensors)
    return path, cfg, tensors, size


# name, cell, layers, bidir, lengths, vocab, emb, hidden, out, tbptt
STEPS_CASES = [
    # a word-level language model's shape: unidirectional, ragged texts
    ("steps_lstm_l2_uni_emb", "lstm", 2, 0, [5, 3, 2], 13, 4, 5, 13, False),
    # a tagger's shape: bidirectional, tags fewer than words
    ("steps_gru_l1_bi_emb", "gru", 1, 1, [6, 4, 4, 1], 11, 4, 5, 3, False),
    ("steps_tanh_l2_bi_emb", "tanh", 2, 1, [5, 3, 2], 9, 3, 4, 4, False),
    # truncated BPTT: chunk 2 starts from chunk 1's final state, detached
    ("tbptt_lstm_l2_uni_emb", "lstm", 2, 0, [4, 4, 4], 10, 4, 5, 10, True),
    ("tbptt_gru_l1_uni_emb", "gru", 1, 0, [3, 3], 8, 3, 4, 8, True),
]

RAGGED = [5, 3, 2]
CASES = [
    # name, cell, layers, bidir, head, pooling, lengths, extra
    ("tanh_l1_uni_last_reg", "tanh", 1, 0, "reg", "last", RAGGED, {}),
    ("tanh_l1_bi_max_cls_emb", "tanh", 1, 1, "cls", "max", RAGGED,
     dict(vocab=11, emb=4, out=3)),
    ("tanh_l2_uni_mean_cls", "tanh", 2, 0, "cls", "mean", [6, 4, 4, 1],
     dict(out=3)),
    ("tanh_l2_bi_last_reg_skip", "tanh", 2, 1, "reg", "last", [5, 5, 5],
     dict(skip=3, out=3)),
    ("gru_l1_uni_last_cls_emb", "gru", 1, 0, "cls", "last", RAGGED,
     dict(vocab=11, emb=4, hidden=5, out=3, weighted=True)),
    ("gru_l1_bi_last_reg", "gru", 1, 1, "reg", "last", RAGGED, dict(hidden=5)),
    ("gru_l2_uni_max_reg", "gru", 2, 0, "reg", "max", RAGGED, dict(out=3)),
    ("gru_l2_bi_mean_cls", "gru", 2, 1, "cls", "mean", RAGGED, {}),
    ("gru_l2_bi_last_cls_emb", "gru", 2, 1, "cls", "last", [6, 4, 4, 1],
     dict(vocab=11, emb=4, out=2)),
    ("lstm_l1_uni_last_reg_skip", "lstm", 1, 0, "reg", "last", [5, 5, 5],
     dict(skip=4, hidden=5, out=3)),
    ("lstm_l1_bi_mean_reg", "lstm", 1, 1, "reg", "mean", RAGGED, {}),
    ("lstm_l2_uni_last_cls", "lstm", 2, 0, "cls", "last", RAGGED,
     dict(hidden=5, out=3)),
    ("lstm_l2_bi_max_cls_emb", "lstm", 2, 1, "cls", "max", RAGGED,
     dict(vocab=11, emb=4)),
    ("lstm_l2_bi_last_reg", "lstm", 2, 1, "reg", "last", RAGGED, dict(out=3)),
    # streaming inference from given initial states (rnn_infer_set_state)
    ("stream_lstm_l2_uni_last_cls_emb", "lstm", 2, 0, "cls", "last", RAGGED,
     dict(vocab=11, emb=4, stream=True)),
    ("stream_gru_l1_uni_last_reg", "gru", 1, 0, "reg", "last", [6, 4, 4, 1],
     dict(stream=True)),
    ("stream_tanh_l2_bi_mean_reg", "tanh", 2, 1, "reg", "mean", RAGGED,
     dict(stream=True)),
    # five Adam steps with clipping (clip chosen so that some steps clip)
    ("adam_gru_l2_bi_last_reg", "gru", 2, 1, "reg", "last", RAGGED,
     dict(out=3, adam=dict(steps=5))),
]


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    os.makedirs(OUT, exist_ok=True)
    written = []
    total = 0
    for name, cell, layers, bidir, head, pool, lengths, extra in CASES:
        path, cfg, tensors, size = make_case(name, cell, layers, bidir, head,
                                             pool, lengths, **extra)
        written.append((name, path, cfg, tensors))
        total += size
    for name, cell, layers, bidir, lengths, vocab, emb, hidden, out, tb \
            in STEPS_CASES:
        path, cfg, tensors, size = make_steps_case(name, cell, layers, bidir,
                                                   lengths, vocab, emb,
                                                   hidden, out, tbptt=tb)
        written.append((name, path, cfg, tensors))
        total += size
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        for name, _, _, _ in written:
            f.write(name + "\n")
    print("wrote %d fixtures, %d bytes, to %s" % (len(written), total, OUT))
    if "--check" in sys.argv:
        for name, path, cfg, tensors in written:
            rcfg, rt = read_fixture(path)
            assert rcfg == cfg, name
            assert [n for n, _ in rt] == [n for n, _ in tensors], name
            for (n, a), (_, b) in zip(tensors, rt):
                a = np.asarray(a)
                assert a.shape == b.shape or (a.ndim == 0 and b.shape == (1,)), (name, n)
                assert np.array_equal(a.astype(b.dtype).reshape(b.shape), b), (name, n)
        print("round trip ok")


if __name__ == "__main__":
    main()
