#!/usr/bin/python3
"""torch_bench.py -- PyTorch side of engine_vs_torch.sh.

Training throughput (sequences/s for forward + loss + backward +
clip_grad_norm_ + Adam step) of torch.nn.LSTM/GRU on the shapes of
engine_bench.c, with the same thread count.  Run with Debian's python3-torch
(/usr/bin/python3); OPENBLAS_NUM_THREADS is set by the calling script, so
torch's BLAS (OpenBLAS through libblas.so.3) uses the same thread count as
the engine, and torch.set_num_threads sets its own intra-op threads.

    torch_bench.py SHAPE THREADS [SECONDS]
    torch_bench.py config

Prints  RESULT torch SHAPE THREADS seq_per_s gflop_per_s ms_per_step reps seq_per_cpu_s
(GFLOP/s with the FLOP count of engine_bench.c's step_flops; the last field
counts process CPU time, all threads).  Figures only.
"""
import ctypes
import statistics
import sys
import time

import torch
import torch.nn as nn

# keep in step with shapes[] in engine_bench.c
SHAPES = {
    #            cell    bidir input vocab emb  hidden T   B   out  head
    "lstm64":   ("lstm", False, 1,   0,    0,   64,    96, 64, 24, "reg"),
    "bigru128": ("gru",  True,  0,   20000, 128, 128,  40, 50, 2,  "cls"),
    "lstm512":  ("lstm", False, 32,  0,    0,   512,   64, 64, 1,  "reg"),
}


def step_flops(cell, bidir, inp, vocab, emb, H, T, B, out):
    """Same formula as engine_bench.c step_flops()."""
    N = B * T
    G = (4 if cell == "lstm" else 3) * H
    I = emb if vocab else inp
    dirs = 2 if bidir else 1
    per_dir = 2 * N * G * I + 2 * N * G * H + 2 * N * G * I + 4 * N * G * H
    if vocab:
        per_dir += 2 * N * G * I
    return dirs * per_dir + 6 * B * out * H * dirs


class Model(nn.Module):
    def __init__(self, cell, bidir, inp, vocab, emb, H, out):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb) if vocab else None
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(emb if vocab else inp, H, num_layers=1,
                       bidirectional=bidir)       # time-major, as the engine
        self.head = nn.Linear(H * (2 if bidir else 1), out)

    def forward(self, x):
        if self.emb is not None:
            x = self.emb(x)
        _, h = self.rnn(x)
        if isinstance(h, tuple):
            h = h[0]
        # "last" pooling: forward direction after its last step, reverse
        # direction after step 0 -- exactly h_n
        feat = torch.cat([h[-2], h[-1]], dim=1) if self.rnn.bidirectional else h[-1]
        return self.head(feat)


def bench(name, threads, seconds):
    cell, bidir, inp, vocab, emb, H, T, B, out, head = SHAPES[name]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = Model(cell, bidir, inp, vocab, emb, H, out)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)   # dense Adam
    if vocab:
        x = torch.randint(0, vocab, (T, B))
        y = torch.randint(0, out, (B,))
        loss_fn = nn.CrossEntropyLoss()
    else:
        x = torch.randn(T, B, inp)
        y = torch.randn(B, out)
        loss_fn = nn.MSELoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    times, cpu = [], []
    t_end = time.perf_counter() + seconds
    while len(times) < 5 or time.perf_counter() < t_end:
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - t0)
        if len(times) >= 1000:
            break
    med = statistics.median(times)
    fl = step_flops(cell, bidir, inp, vocab, emb, H, T, B, out)
    print("RESULT torch %s %d %.1f %.2f %.3f %d %.1f"
          % (name, threads, B / med, fl / med * 1e-9, med * 1e3, len(times),
             B / statistics.median(cpu)))


def config():
    print("torch %s; intra-op threads default %d" % (torch.__version__, torch.get_num_threads()))
    for line in torch.__config__.show().splitlines():
        line = line.strip()
        if line.startswith("- Build settings"):
            for kv in line.split(", "):
                if kv.startswith(("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP")):
                    print("  " + kv)
        elif line and not line.startswith("PyTorch built"):
            print("  " + line)
    for lib in ("libblas.so.3", "libopenblas.so.0"):
        try:
            f = ctypes.CDLL(lib).openblas_get_config
            f.restype = ctypes.c_char_p
            print("  %s -> openblas_get_config(): %s" % (lib, f().decode()))
        except (OSError, AttributeError):
            print("  %s: not OpenBLAS" % lib)


if __name__ == "__main__":
    if sys.argv[1] == "config":
        config()
    else:
        bench(sys.argv[1], int(sys.argv[2]),
              float(sys.argv[3]) if len(sys.argv) > 3 else 3.0)
