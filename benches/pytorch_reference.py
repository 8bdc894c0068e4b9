#!/usr/bin/env python
"""PyTorch counterpart of `darts-pt bench` (src/bench.rs), on the CPU or a CUDA GPU.

Times, per case (batch 64, random N(0,1) inputs, labels (i*7) % 10):
  weight step : forward with detached softmax(alpha), CE, backward, global clip_grad_norm_(5),
                SGD(lr .025, momentum .9, wd 3e-4), zero grads
  darts step  : first-order alpha step (forward on a second batch with softmax(alpha) attached,
                CE, backward, Adam(3e-4, betas (.5,.999), eps 1e-8, wd 1e-3) on alpha; the
                weights have requires_grad=False during it, as Rust's `without_grad` copy)
                followed by a weight step
  forward     : torch.no_grad() forward, BatchNorm in train mode (batch statistics), and the
                number of correct answers read back (one host read, as darts-pt's row)
  PT eval     : the forward with op 1 of edge 0 of the normal cell masked (weight 0), as
                PT's scoring pass
On CUDA every timed step ends with torch.cuda.synchronize(); the first weight step (cuDNN's
algorithm search, lazy initialisation) is reported apart, and the peak memory is
torch.cuda.max_memory_allocated() per case.
Networks follow src/nn/{nb201,darts_search,ops,mixed,supernet}.rs. A mixed op skips `none`
(it adds zeros). The DARTS case uses SpaceId::Darts as bench.rs does: 7 ops, no `none`
(--darts8 gives the 8-op space with `none`, which adds alpha entries but no compute).

Usage: python benches/pytorch_reference.py [--only SUBSTR] [--steps 7] [--warmup 2] [--threads 2]
                             [--min] [--cpu-time] [--darts8] [--device cpu|cuda] [--paper]
                             [--json]
(--min / --cpu-time mirror `darts-pt bench --min / --cpu-time`; Rust's default --steps is 5.
The paper-scale DARTS case (C=16 L=8 3x32x32) runs on CUDA, or on the CPU with --paper, as
`darts-pt bench` does. --json prints the rows with darts-pt's field names.)
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- operations (ops.rs)


def bn(c, affine):
    return nn.BatchNorm2d(c, affine=affine)  # eps 1e-5, momentum 0.1 as Rust's Bn


class ReluConvBn(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, affine):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, bias=False)
        self.bn = bn(cout, affine)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class DepthwiseBlock(nn.Module):  # ReLU -> depthwise (dil) conv -> 1x1 conv -> BN
    def __init__(self, cin, cout, k, stride, pad, dil, affine):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, k, stride, pad, dilation=dil, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = bn(cout, affine)

    def forward(self, x):
        return self.bn(self.pw(self.dw(F.relu(x))))


class SepConv(nn.Module):
    def __init__(self, c, k, stride, affine):
        super().__init__()
        self.a = DepthwiseBlock(c, c, k, stride, k // 2, 1, affine)
        self.b = DepthwiseBlock(c, c, k, 1, k // 2, 1, affine)

    def forward(self, x):
        return self.b(self.a(x))


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout, affine):
        super().__init__()
        assert cout % 2 == 0
        self.a = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.b = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.bn = bn(cout, affine)

    def forward(self, x):
        x = F.relu(x)
        h, w = x.shape[2:]
        if h % 2 == 0 and w % 2 == 0:
            s = x[:, :, 1:, 1:]
        else:  # Rust pads bottom/right by one, then shifts
            s = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.a(x), self.b(s)], 1))


class Pool(nn.Module):  # k3 pad1, avg with count_include_pad=False; BN(affine=False) in DARTS search
    def __init__(self, c, stride, is_max, with_bn):
        super().__init__()
        self.pool = (nn.MaxPool2d(3, stride, 1) if is_max
                     else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
        self.bn = bn(c, False) if with_bn else None

    def forward(self, x):
        y = self.pool(x)
        return self.bn(y) if self.bn is not None else y


def make_op(kind, family, c, stride):
    """Search flavour (affine=False BNs), as Op::new(kind, family, c, stride, search=true)."""
    if kind == "none":
        return None  # never executed (MixedOp skips it)
    if kind in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(c, stride, kind == "max_pool_3x3", family == "darts")
    if kind == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, False)
    if kind == "sep_conv_3x3":
        return SepConv(c, 3, stride, False)
    if kind == "sep_conv_5x5":
        return SepConv(c, 5, stride, False)
    if kind == "dil_conv_3x3":
        return DepthwiseBlock(c, c, 3, stride, 2, 2, False)
    if kind == "dil_conv_5x5":
        return DepthwiseBlock(c, c, 5, stride, 4, 2, False)
    if kind == "nor_conv_1x1":
        return ReluConvBn(c, c, 1, stride, 0, False)
    if kind == "nor_conv_3x3":
        return ReluConvBn(c, c, 3, stride, 1, False)
    raise ValueError(kind)


NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
DARTS_OPS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5"]
DARTS8_OPS = ["none"] + DARTS_OPS


class MixedOp(nn.Module):  # mixed.rs
    def __init__(self, kinds, family, c, stride):
        super().__init__()
        self.ops = nn.ModuleList()
        self.idx = []
        for o, k in enumerate(kinds):
            op = make_op(k, family, c, stride)
            if op is not None:
                self.ops.append(op)
                self.idx.append(o)

    def forward(self, x, w_row):
        s = None
        for o, op in zip(self.idx, self.ops):
            y = op(x) * w_row[o]
            s = y if s is None else s + y
        return s


# ---------------------------------------------------------------- NB201 (nb201.rs)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = ReluConvBn(cin, cout, 3, 2, 1, True)
        self.b = ReluConvBn(cout, cout, 3, 1, 1, True)
        self.short = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.b(self.a(x)) + self.short(F.avg_pool2d(x, 2, 2, 0, count_include_pad=False))


NB201_EDGES = [(t, f) for t in range(1, 4) for f in range(t)]  # 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2


class Nb201Cell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(NB201_OPS, "nb201", c, 1) for _ in NB201_EDGES)

    def forward(self, x, w):
        nodes = [x]
        for t in range(1, 4):
            s = None
            for e, (tt, f) in enumerate(NB201_EDGES):
                if tt == t:
                    y = self.edges[e](nodes[f], w[e])
                    s = y if s is None else s + y
            nodes.append(s)
        return nodes[3]


class Nb201Supernet(nn.Module):
    def __init__(self, c, n, in_ch, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, 1, 1, bias=False), bn(c, True))
        self.layers = nn.ModuleList()
        prev = c
        for stage, width in enumerate([c, 2 * c, 4 * c]):
            if stage > 0:
                self.layers.append(ResBlock(prev, width))
            for _ in range(n):
                self.layers.append(Nb201Cell(width))
            prev = width
        self.last_bn = bn(4 * c, True)
        self.classifier = nn.Linear(4 * c, classes)
        self.alpha_shapes = [(6, len(NB201_OPS))]

    def forward(self, x, ws):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, ws[0]) if isinstance(layer, Nb201Cell) else layer(x)
        x = F.relu(self.last_bn(x))
        return self.classifier(x.mean((2, 3)))


# ---------------------------------------------------------------- DARTS (darts_search.rs)


class DartsCell(nn.Module):
    def __init__(self, ops, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.pre0 = (FactorizedReduce(c_pp, c, False) if reduction_prev
                     else ReluConvBn(c_pp, c, 1, 1, 0, False))
        self.pre1 = ReluConvBn(c_p, c, 1, 1, 0, False)
        self.edges = nn.ModuleList()
        for node in range(4):
            for f in range(node + 2):
                stride = 2 if reduction and f < 2 else 1
                self.edges.append(MixedOp(ops, "darts", c, stride))

    def forward(self, s0, s1, w):
        states = [self.pre0(s0), self.pre1(s1)]
        e = 0
        for _ in range(4):
            s = None
            for st in states:
                y = self.edges[e](st, w[e])
                s = y if s is None else s + y
                e += 1
            states.append(s)
        return torch.cat(states[2:], 1)


class DartsSupernet(nn.Module):
    def __init__(self, c, layers, in_ch, classes, ops):
        super().__init__()
        cs = 3 * c  # STEM_MULTIPLIER
        self.stem = nn.Sequential(nn.Conv2d(in_ch, cs, 3, 1, 1, bias=False), bn(cs, True))
        c_pp, c_p, cur = cs, cs, c
        red_prev = False
        reds = {layers // 3, 2 * layers // 3}
        self.cells = nn.ModuleList()
        for i in range(layers):
            red = i in reds
            if red:
                cur *= 2
            self.cells.append(DartsCell(ops, c_pp, c_p, cur, red, red_prev))
            red_prev = red
            c_pp, c_p = c_p, 4 * cur
        self.classifier = nn.Linear(c_p, classes)
        self.alpha_shapes = [(14, len(ops)), (14, len(ops))]

    def forward(self, x, ws):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, ws[1] if cell.reduction else ws[0])
        return self.classifier(s1.mean((2, 3)))


# ---------------------------------------------------------------- benchmark (bench.rs)

CASES = [  # name, space, C, layers, (in_ch, size)
    ("NB201 C=8 N=1 1x28x28", "nb201", 8, 1, (1, 28)),
    ("NB201 C=16 N=5 3x32x32", "nb201", 16, 5, (3, 32)),
    ("DARTS C=8 L=5 1x28x28", "darts", 8, 5, (1, 28)),
    ("DARTS C=16 L=8 3x32x32", "darts", 16, 8, (3, 32)),  # heavy: CUDA or --paper
]
HEAVY = {"DARTS C=16 L=8 3x32x32"}


def sync(args):
    if args.device == "cuda":
        torch.cuda.synchronize()


def timed(fn, args):
    """Median (or with --min the minimum) of wall ms, or with --cpu-time process CPU ms."""
    clock = time.process_time if args.cpu_time else time.perf_counter
    for _ in range(args.warmup):
        fn()
    sync(args)
    ts = []
    for _ in range(args.steps):
        t = clock()
        fn()
        sync(args)
        ts.append((clock() - t) * 1e3)
    return min(ts) if args.min else statistics.median(ts)


def first(fn, args):
    """Wall ms of one call, synchronised: the first step, with its one-off costs."""
    t = time.perf_counter()
    fn()
    sync(args)
    return (time.perf_counter() - t) * 1e3


def run_case(case, args):
    name, space, c, layers, (in_ch, size) = case
    torch.manual_seed(0)
    if space == "nb201":
        net = Nb201Supernet(c, layers, in_ch, 10)
    else:
        net = DartsSupernet(c, layers, in_ch, 10, DARTS8_OPS if args.darts8 else DARTS_OPS)
    dev = torch.device(args.device)
    net = net.to(dev)
    net.train()
    alphas = [(1e-3 * torch.randn(*s, device=dev)).requires_grad_() for s in net.alpha_shapes]
    weights = [p for p in net.parameters()]
    sgd = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    adam = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), eps=1e-8, weight_decay=1e-3)
    b = 64
    y = torch.tensor([(i * 7) % 10 for i in range(b)], device=dev)
    xw = torch.randn(b, in_ch, size, size, device=dev)
    xa = torch.randn(b, in_ch, size, size, device=dev)
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def weight_step():
        probs = [F.softmax(a, dim=1).detach() for a in alphas]
        loss = F.cross_entropy(net(xw, probs), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        sgd.step()
        sgd.zero_grad(set_to_none=True)

    def alpha_step():
        for p in weights:
            p.requires_grad_(False)
        probs = [F.softmax(a, dim=1) for a in alphas]
        loss = F.cross_entropy(net(xa, probs), y)
        loss.backward()
        adam.step()
        adam.zero_grad(set_to_none=True)
        for p in weights:
            p.requires_grad_(True)

    def darts_step():
        alpha_step()
        weight_step()

    def forward(mask=False):
        with torch.no_grad():
            probs = [F.softmax(a, dim=1) for a in alphas]
            if mask:
                probs[0] = probs[0].clone()
                probs[0][0, 1] = 0.0
            correct = (net(xw, probs).argmax(1) == y).sum()
            return correct.item()

    first_ms = first(weight_step, args)
    w_ms = timed(weight_step, args)
    d_ms = timed(darts_step, args)
    f_ms = timed(forward, args)
    pt_ms = timed(lambda: forward(mask=True), args)
    return {
        "case": name,
        "device": args.device,
        "first_step_ms": first_ms,
        "weight_step_ms": w_ms,
        "weight_images_per_sec": b / w_ms * 1e3,
        "darts_step_ms": d_ms,
        "darts_images_per_sec": b / d_ms * 1e3,
        "forward_ms": f_ms,
        "pt_eval_ms": pt_ms,
        "device_mib": (torch.cuda.max_memory_allocated() / 2**20
                       if args.device == "cuda" else None),
        "params": sum(p.numel() for p in weights),
        "alpha": sum(a.numel() for a in alphas),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None, help="run cases whose name contains this")
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min", action="store_true", help="fastest step instead of the median")
    ap.add_argument("--cpu-time", action="store_true", help="process CPU ms instead of wall ms")
    ap.add_argument("--darts8", action="store_true", help="DARTS case with 8 ops incl. none")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--paper", action="store_true",
                    help="the paper-scale DARTS case on the CPU too (it always runs on CUDA)")
    ap.add_argument("--json", action="store_true", help="rows as JSON on stdout")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no CUDA device")
    torch.set_num_threads(args.threads)
    log = print
    if args.json:
        def log(*a, **k):
            import sys
            print(*a, file=sys.stderr, **k)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    log(f"device {where}; torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn available {torch.backends.mkldnn.is_available()}, "
          f"mkldnn enabled {torch.backends.mkldnn.enabled}; "
          f"{'min' if args.min else 'median'} of {args.steps} after {args.warmup} warm-up, "
          f"{'process CPU' if args.cpu_time else 'wall'} ms")
    hdr = (f"{'case':<26} {'first ms':>9} {'weight ms':>10} {'img/s':>9} {'darts ms':>10} "
           f"{'img/s':>9} {'fwd ms':>9} {'PT ms':>9} {'dev MiB':>8} {'params':>9} {'alpha':>6}")
    rows = []
    for case in CASES:
        if args.only:
            if args.only.lower() not in case[0].lower():
                continue
        elif case[0] in HEAVY and not (args.paper or args.device == "cuda"):
            continue
        rows.append(run_case(case, args))
        log(f"  done {rows[-1]['case']}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(hdr)
    for r in rows:
        mib = f"{r['device_mib']:>8.0f}" if r["device_mib"] is not None else f"{'-':>8}"
        print(f"{r['case']:<26} {r['first_step_ms']:>9.0f} {r['weight_step_ms']:>10.1f} "
              f"{r['weight_images_per_sec']:>9.0f} {r['darts_step_ms']:>10.1f} "
              f"{r['darts_images_per_sec']:>9.0f} {r['forward_ms']:>9.1f} {r['pt_eval_ms']:>9.1f} "
              f"{mib} {r['params']:>9d} {r['alpha']:>6d}")


if __name__ == "__main__":
    main()
