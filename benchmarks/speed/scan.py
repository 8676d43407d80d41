"""Time the selective scan on CPU: naive loop vs ``maat_detector.ssm``.

Implementations timed (each forward, and forward + backward):

- ``naive``: the textbook loop. It materialises ``exp(Δ A)`` and ``Δ B u`` as
  (B, Di, L, N) tensors, indexes one time step per iteration and lets
  autograd record every step.
- ``ref``: :func:`maat_detector.ssm.selective_scan_ref`, the sequential test
  oracle (no (B, Di, L, N) tensors, plain autograd).
- ``torch``: :func:`maat_detector.ssm.selective_scan` with ``backend="torch"``,
  the time-major scan with a hand-written backward.
- ``compiled``: the same with ``backend="compiled"``, the compiled CPU kernel
  built at install (the best variant for this CPU, or the one
  ``MAAT_CPU_KERNEL`` names; left out, with a message, where it was not
  built).

Implementations are timed alternately within each repeat, so a slow phase
of a shared machine hits all of them; the table gives medians. "saved MB" is
what autograd keeps for the backward pass (unique storages).

Usage::

    python benchmarks/speed/scan.py           # B 64, L 100, Di 1024, N 16 and 8
    python benchmarks/speed/scan.py --threads 1 --repeats 3 --naive-backward-repeats 1

Writes ``benchmarks/results/speed/scan.json`` and ``.md`` (``--out``); the
per-variant runs the docs cite are ``scan_variant_<level>.json`` there.
"""

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

from maat_detector.ssm import selective_scan, selective_scan_ref  # noqa: E402
from maat_detector.ssm._cpu import cpu_kernel_error, load_cpu_kernel  # noqa: E402

OUT = _common.RESULTS / "speed" / "scan"


def naive_scan(u, delta, A, B, C, D, z, delta_bias):
    """Textbook selective scan (delta_softplus=True) through autograd."""
    delta = F.softplus(delta + delta_bias[:, None])
    decay = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))  # (B, Di, L, N)
    drive = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)  # (B, Di, L, N)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * F.silu(z)


IMPLEMENTATIONS = {
    "naive": naive_scan,
    "ref": lambda *a: selective_scan_ref(*a, delta_softplus=True),
    "torch": lambda *a: selective_scan(*a, delta_softplus=True, backend="torch"),
    "compiled": lambda *a: selective_scan(*a, delta_softplus=True, backend="compiled"),
}


def make_inputs(batch, d_inner, length, d_state, seed=0):
    """Inputs shaped as in the Mamba block, with Mamba's initial A and Δ."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, d_inner, length, generator=g)
    delta = torch.randn(batch, d_inner, length, generator=g) * 0.1
    A = -torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
    B = torch.randn(batch, d_state, length, generator=g)
    C = torch.randn(batch, d_state, length, generator=g)
    D = torch.ones(d_inner)
    z = torch.randn(batch, d_inner, length, generator=g)
    # softplus^-1 of dt in [1e-3, 1e-1], as dt_proj.bias is initialised.
    dt = torch.exp(torch.empty(d_inner).uniform_(-6.9, -2.3, generator=g))
    delta_bias = dt + torch.log(-torch.expm1(-dt))
    return [u, delta, A, B, C, D, z, delta_bias]


def time_forward(fn, inputs):
    with torch.no_grad():
        start = time.perf_counter()
        fn(*inputs)
        return time.perf_counter() - start


def time_forward_backward(fn, inputs):
    leaves = [x.detach().requires_grad_() for x in inputs]
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(*leaves)
    y.backward(torch.ones_like(y))
    elapsed = time.perf_counter() - start
    return elapsed, sum(storages.values()) / 2**20


def run(args):
    torch.set_num_threads(args.threads)
    rows = []
    for d_state in args.d_state:
        inputs = make_inputs(args.batch, args.d_inner, args.length, d_state)
        names = [n for n in args.impls if n in IMPLEMENTATIONS]
        if "compiled" in names and load_cpu_kernel() is None:
            print(f"compiled kernel left out: {cpu_kernel_error()}")
            names.remove("compiled")
        fwd = {n: [] for n in names}
        fwd_bwd = {n: [] for n in names}
        saved = {}
        for name in names:  # warm-up (allocator, lazy init), not timed
            time_forward(IMPLEMENTATIONS[name], inputs)
        for _ in range(args.repeats):
            for name in names:
                fwd[name].append(time_forward(IMPLEMENTATIONS[name], inputs))
        for r in range(args.repeats):
            for name in names:
                limit = args.naive_backward_repeats
                if name in ("naive", "ref") and r >= limit:
                    continue
                t, mb = time_forward_backward(IMPLEMENTATIONS[name], inputs)
                fwd_bwd[name].append(t)
                saved[name] = mb
        for name in names:
            rows.append(
                {
                    "impl": name,
                    "d_state": d_state,
                    "forward_s": statistics.median(fwd[name]),
                    "forward_backward_s": (
                        statistics.median(fwd_bwd[name]) if fwd_bwd[name] else None
                    ),
                    "forward_repeats": len(fwd[name]),
                    "forward_backward_repeats": len(fwd_bwd[name]),
                    "saved_mb": saved.get(name),
                }
            )
    return rows


def markdown(rows, args):
    base = {(r["d_state"]): r for r in rows if r["impl"] == "naive"}
    lines = [
        f"B {args.batch}, L {args.length}, Di {args.d_inner}, float32, "
        f"torch {torch.__version__}, torch.set_num_threads({args.threads})",
        "",
        "| impl | N | forward (s) | speed-up | fwd+bwd (s) | speed-up | saved MB |",
        "|---|---|---|---|---|---|---|",
    ]

    def fmt(x, digits=3):
        return "-" if x is None else f"{x:.{digits}f}"

    for r in rows:
        b = base.get(r["d_state"])
        sp_f = b["forward_s"] / r["forward_s"] if b else None
        sp_b = None
        if b and b["forward_backward_s"] and r["forward_backward_s"]:
            sp_b = b["forward_backward_s"] / r["forward_backward_s"]
        lines.append(
            f"| {r['impl']} | {r['d_state']} | {fmt(r['forward_s'])} | "
            f"{fmt(sp_f, 1)}x | {fmt(r['forward_backward_s'])} | {fmt(sp_b, 1)}x | "
            f"{fmt(r['saved_mb'], 0)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = _common.parser(
        __doc__, out=OUT, threads=torch.get_num_threads(), repeats=5
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--d-inner", type=int, default=1024)
    parser.add_argument("--d-state", type=int, nargs="+", default=[16, 8])
    parser.add_argument(
        "--naive-backward-repeats",
        type=int,
        default=3,
        help="fwd+bwd repeats for the slow naive and ref loops (default 3)",
    )
    parser.add_argument(
        "--impls", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS
    )
    args = parser.parse_args(argv)

    # Shared machines: record how busy the CPU was, the timings depend on it.
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = run(args)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    table = markdown(rows, args)
    print(table)
    record = {
        "command": _common.command_line(__file__, argv),
        "config": {
            "batch": args.batch,
            "length": args.length,
            "d_inner": args.d_inner,
            "dtype": "float32",
            "threads": args.threads,
            "repeats": args.repeats,
            "naive_backward_repeats": args.naive_backward_repeats,
        },
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "compiled_variant": getattr(load_cpu_kernel(), "variant", None),
        "loadavg_1min_before_after": [load_before, load_after],
        "run": _common.run_info(),
        "results": rows,
    }
    paths = _common.write_results(args.out, record, table)
    print(f"\nwrote {paths[0]}")


if __name__ == "__main__":
    sys.exit(main())
