"""Validate and measure the fused mamba-ssm path on one CUDA GPU.

One script for one short lease of a GPU machine (the H200 check of
``docs/gpu.rst``). Sections, in this order:

``environment``
    torch, CUDA, GPU, and whether ``mamba_ssm`` and ``causal_conv1d`` import.
``scan_parity``
    :func:`maat_detector.ssm.selective_scan`, fused (``backend="cuda"``)
    against pure PyTorch (``backend="torch"``): fp32, with D, z, delta_bias and
    delta_softplus; output, last state and the gradients of every input.
``scan_speed``
    The same scan timed alone, fused against pure, forward and forward+backward.
``statedict_exchange``
    A :class:`~maat_detector.nn.MambaBlock` state_dict loaded into
    ``mamba_ssm.Mamba`` (strict), its outputs and gradients compared; then
    back into a fresh ``MambaBlock``.
``model_parity``
    The whole MAAT network with ``scan_backend="cuda"`` and ``"torch"``, same
    weights: reconstruction, associations, and the parameter gradients of the
    minimax objective.
``detector_e2e``
    :class:`~maat_detector.MAATDetector`, paper size (d_model 512, 3 layers),
    fitted on one SMD machine on CUDA; VUS-PR and ROC-AUC on its test half;
    fit and scoring throughput; peak GPU memory.
``bf16_autocast``
    The fitted detector's scores under bf16 autocast against fp32: Spearman
    rank correlation, largest relative difference, VUS-PR.
``throughput``
    Fit and scoring throughput with the fused and with the pure scan, same
    workload, plus one training step of the network timed alone.
``pytest_gpu``
    ``pytest -m gpu`` on ``tests/ssm/test_scan.py`` and ``tests/nn/test_model.py``.

Each section runs on its own: a failure is recorded (with its traceback) and
the next section runs. ``<out>/gpu_check.json`` and ``<out>/gpu_check.md`` are
rewritten after every section, so a run stopped by a timeout still leaves
everything finished so far. A section whose estimated cost exceeds what is
left of ``--budget-s`` is recorded as skipped. Parity uses
``rtol=6e-4, atol=2e-3`` (the tolerances of the gpu tests); each comparison
reports ``worst = max |a - b| / (atol + rtol |b|)``, so ``worst <= 1`` passes.

Usage::

    python tools/gpu_check.py --out $OUT            # on the GPU machine
    python tools/gpu_check.py --dry-run --out /tmp/gpu_check   # plumbing, CPU

``--dry-run`` runs what a CPU can with tiny sizes: the parity sections compare
the pure scan with the sequential oracle (``selective_scan_ref``) and the
network with itself, the detector trains a tiny model on 3000 rows, and every
section that needs CUDA or the fused kernel is recorded as ``skipped: no
CUDA``. Numbers from a dry run measure nothing.

SMD data: ``$MAAT_DATA/SMD/machine-2-2.npz`` if present, else the copy shipped
with the package (``maat_detector.demo.load_shipped_machine``; same machine).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

import maat_detector
from maat_detector import MAATDetector, metrics
from maat_detector.nn import MAAT, MAATConfig, MambaBlock, minimax_loss
from maat_detector.ssm import fused_scan_available, selective_scan, selective_scan_ref
from maat_detector.ssm._cuda import fused_scan_import_error

RTOL, ATOL = 6e-4, 2e-3
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import _common  # noqa: E402

from maat_detector.presets import paper_size  # noqa: E402

#: Paper-size detector (MODEL.md section 11; presets.paper_size()).
PAPER = paper_size(batch_size=128, random_state=0)
#: Tiny detector for --dry-run.
TINY = dict(
    win_size=20,
    d_model=16,
    n_heads=2,
    e_layers=1,
    d_ff=16,
    d_state=4,
    block_size=5,
    batch_size=32,
    lr=1e-3,
    random_state=0,
)


# --------------------------------------------------------------------------
# Report: one JSON (and a Markdown summary) rewritten after every section
# --------------------------------------------------------------------------
class Report:
    """Run sections one by one and keep their results on disk."""

    def __init__(self, out, budget_s, dry_run):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.began = time.perf_counter()
        self.budget_s = budget_s
        self.data = {
            "script": "tools/gpu_check.py",
            "dry_run": dry_run,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "budget_s": budget_s,
            "tolerances": {"rtol": RTOL, "atol": ATOL},
            "sections": {},
        }

    def left(self):
        return self.budget_s - (time.perf_counter() - self.began)

    def run(self, name, fn, ctx, *, needs=(), estimate_s=0.0):
        """Run ``fn(ctx)`` unless a need is missing or the budget is spent."""
        reason = None
        for need in needs:
            if need == "cuda" and not ctx.cuda:
                reason = "skipped: no CUDA"
            elif need == "fused" and not ctx.fused:
                reason = f"skipped: fused kernel not importable ({ctx.fused_error})"
            elif need.startswith("ctx:") and need[4:] not in ctx.store:
                reason = f"skipped: needs the result of {need[4:]}"
            if reason:
                break
        if reason is None and estimate_s > self.left():
            reason = (
                f"skipped: time budget ({self.left():.0f} s left, "
                f"about {estimate_s:.0f} s needed)"
            )
        began = time.perf_counter()
        if reason:
            entry = {"status": "skipped", "reason": reason}
        else:
            print(f"[gpu_check] {name} ...", flush=True)
            try:
                result = fn(ctx)
                status = "ok" if result.get("passed", True) else "failed"
                entry = {"status": status, **result}
            except Exception as exc:  # noqa: BLE001 - one section must not stop the rest
                entry = {
                    "status": "error",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=8),
                }
            finally:
                if ctx.cuda:
                    with contextlib.suppress(Exception):
                        torch.cuda.synchronize()
                        torch.cuda.empty_cache()
        entry["seconds"] = round(time.perf_counter() - began, 2)
        self.data["sections"][name] = entry
        self.data["elapsed_s"] = round(time.perf_counter() - self.began, 1)
        self.write()
        detail = entry.get("reason") or entry.get("error") or entry.get("summary", "")
        print(
            f"[gpu_check] {name}: {entry['status']} ({entry['seconds']} s) {detail}",
            flush=True,
        )

    def write(self):
        path = self.out / "gpu_check.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_jsonable))
        os.replace(tmp, path)
        lines = ["| section | status | seconds | summary |", "|---|---|---|---|"]
        for name, e in self.data["sections"].items():
            text = e.get("reason") or e.get("error") or e.get("summary", "")
            lines.append(f"| {name} | {e['status']} | {e['seconds']} | {text} |")
        (self.out / "gpu_check.md").write_text(
            f"gpu_check (dry_run={self.data['dry_run']}), "
            f"{self.data['started']}\n\n" + "\n".join(lines) + "\n"
        )


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (torch.dtype, torch.device, Path)):
        return str(value)
    return repr(value)


class Context:
    """What the sections share: device, sizes, and results for later sections."""

    def __init__(self, args):
        self.args = args
        self.dry_run = args.dry_run
        self.cuda = torch.cuda.is_available() and not args.dry_run
        self.device = torch.device("cuda" if self.cuda else "cpu")
        self.fused = self.cuda and fused_scan_available()
        self.fused_error = fused_scan_import_error() if self.cuda else "no CUDA"
        self.store = {}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def sync(ctx):
    if ctx.cuda:
        torch.cuda.synchronize()


def compare(a, b, rtol=RTOL, atol=ATOL):
    """Closeness of ``a`` to the reference ``b`` (assert_close's rule)."""
    a, b = a.detach().double(), b.detach().double()
    diff = (a - b).abs()
    worst = (diff / (atol + rtol * b.abs())).max().item() if diff.numel() else 0.0
    return {
        "max_abs": diff.max().item() if diff.numel() else 0.0,
        "max_rel": (diff / b.abs().clamp_min(1e-12)).max().item()
        if diff.numel()
        else 0.0,
        "ref_max_abs": b.abs().max().item() if b.numel() else 0.0,
        "worst": worst,
        "passed": bool(worst <= 1.0 and torch.isfinite(a).all().item()),
    }


def summarise(comparisons):
    """Overall pass flag and the name of the worst comparison."""
    worst_name = max(comparisons, key=lambda k: comparisons[k]["worst"])
    return {
        "passed": all(c["passed"] for c in comparisons.values()),
        "worst_name": worst_name,
        "worst": comparisons[worst_name]["worst"],
    }


def timed(ctx, fn, repeats=5, warmup=2):
    """Median seconds of ``fn()`` (CUDA-synchronised)."""
    for _ in range(warmup):
        fn()
    sync(ctx)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(ctx)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def scan_inputs(batch, d_inner, length, d_state, device, seed=0):
    """Scan inputs shaped and scaled as inside the Mamba block at init."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, d_inner, length, generator=g)
    dt = torch.exp(
        torch.empty(d_inner).uniform_(math.log(1e-3), math.log(1e-1), generator=g)
    )
    x = {
        "u": u,
        "delta": torch.randn(batch, d_inner, length, generator=g) * 0.5,
        "A": -torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        * torch.exp(0.1 * torch.randn(d_inner, d_state, generator=g)),
        "B": torch.randn(batch, d_state, length, generator=g),
        "C": torch.randn(batch, d_state, length, generator=g),
        "D": torch.randn(d_inner, generator=g),
        "z": torch.randn(batch, d_inner, length, generator=g),
        "delta_bias": dt + torch.log(-torch.expm1(-dt)),  # softplus^-1(dt)
    }
    return {k: v.to(device).requires_grad_() for k, v in x.items()}


def load_smd(ctx):
    """(train, test, labels) of SMD machine-2-2 and where they came from."""
    root = os.environ.get("MAAT_DATA")
    path = Path(root) / "SMD" / "machine-2-2.npz" if root else None
    if path is not None and path.is_file():
        with np.load(path) as data:
            train, test, label = data["train"], data["test"], data["test_label"]
        source = str(path)
    else:
        from maat_detector.demo import load_shipped_machine

        train, test, label = load_shipped_machine()
        source = "maat_detector.demo.load_shipped_machine()"
    if ctx.dry_run:  # a slice with anomalies in its test part
        train, test, label = train[:3000], test[14000:17000], label[14000:17000]
    return train, test, np.asarray(label).astype(int), source


def detector_params(ctx, **extra):
    base = dict(TINY if ctx.dry_run else PAPER)
    base.update(device=str(ctx.device), **extra)
    return base


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------
def environment(ctx):
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version(),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "maat_detector": maat_detector.__version__,
        "maat_detector_path": str(Path(maat_detector.__file__).parent),
        "fused_scan_available": fused_scan_available() if ctx.cuda else None,
        "fused_scan_import_error": ctx.fused_error if ctx.cuda else None,
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            device_name=props.name,
            capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
        )
    for module, extension in (
        ("mamba_ssm", "selective_scan_cuda"),
        ("causal_conv1d", "causal_conv1d_cuda"),
        ("triton", None),
    ):
        entry = {}
        for name in filter(None, (module, extension)):
            try:
                mod = importlib.import_module(name)
                entry[name] = getattr(mod, "__version__", "imported")
            except Exception as exc:  # noqa: BLE001 - record any import failure
                entry[name] = f"not importable: {type(exc).__name__}: {exc}"
        info[module] = entry
    info["git_commit"] = _common.git_info()["commit"] or None
    info["summary"] = (
        f"torch {info['torch']} cuda {info['torch_cuda']} "
        f"{info.get('device_name', 'no GPU')}; "
        f"fused={info['fused_scan_available']}"
    )
    return info


SCAN_SHAPES_FULL = [  # (B, Di, L, N)
    (4, 64, 100, 16),  # the gpu test's shape
    (64, 1024, 100, 8),  # paper MAAT: d 512 -> Di 1024, N 8
    (64, 1024, 100, 16),  # Mamba's default N
    (2, 256, 2048, 16),  # long sequence: several chunks of both scans
]
SCAN_SHAPES_DRY = [(2, 6, 7, 4), (3, 16, 40, 8)]


def scan_parity(ctx):
    """Fused vs pure scan (on CPU in a dry run: pure vs sequential oracle)."""
    shapes = SCAN_SHAPES_DRY if ctx.dry_run else SCAN_SHAPES_FULL
    if ctx.dry_run:
        candidate = lambda **x: selective_scan(**x, backend="torch")  # noqa: E731
        reference = selective_scan_ref
        pair = "pure (torch) vs sequential oracle, CPU"
    else:
        candidate = lambda **x: selective_scan(**x, backend="cuda")  # noqa: E731
        reference = lambda **x: selective_scan(**x, backend="torch")  # noqa: E731
        pair = "fused (cuda) vs pure (torch)"
    results = {}
    for shape in shapes:
        x = scan_inputs(*shape, ctx.device)
        kw = dict(delta_softplus=True, return_last_state=True)
        y_a, h_a = candidate(**x, **kw)
        y_b, h_b = reference(**x, **kw)
        comps = {"y": compare(y_a, y_b), "last_state": compare(h_a, h_b)}
        w = torch.randn_like(y_b)
        names = list(x)
        g_a = torch.autograd.grad((y_a * w).sum(), [x[n] for n in names])
        g_b = torch.autograd.grad((y_b * w).sum(), [x[n] for n in names])
        for n, a, b in zip(names, g_a, g_b, strict=True):
            comps[f"grad_{n}"] = compare(a, b)
        results["B{}_Di{}_L{}_N{}".format(*shape)] = {
            "comparisons": comps,
            **summarise(comps),
        }
        del x, y_a, y_b, g_a, g_b
    passed = all(r["passed"] for r in results.values())
    worst = max(results, key=lambda k: results[k]["worst"])
    return {
        "pair": pair,
        "shapes": results,
        "passed": passed,
        "summary": (
            f"{pair}: {'pass' if passed else 'FAIL'}; worst "
            f"{results[worst]['worst']:.3g} ({worst} "
            f"{results[worst]['worst_name']})"
        ),
    }


def scan_speed(ctx):
    """Milliseconds per call, fused vs pure, forward and forward+backward."""
    rows = {}
    for shape in [(64, 1024, 100, 8), (64, 1024, 100, 16), (256, 1024, 100, 8)]:
        x = scan_inputs(*shape, ctx.device)
        row = {}
        for backend in ("cuda", "torch"):

            def forward(backend=backend, x=x):
                with torch.no_grad():
                    selective_scan(**x, delta_softplus=True, backend=backend)

            def both(backend=backend, x=x):
                y = selective_scan(**x, delta_softplus=True, backend=backend)
                y.sum().backward()

            row[f"{backend}_fwd_ms"] = 1e3 * timed(ctx, forward, repeats=10)
            row[f"{backend}_fwd_bwd_ms"] = 1e3 * timed(ctx, both, repeats=10)
        row["fwd_speedup"] = row["torch_fwd_ms"] / row["cuda_fwd_ms"]
        row["fwd_bwd_speedup"] = row["torch_fwd_bwd_ms"] / row["cuda_fwd_bwd_ms"]
        rows["B{}_Di{}_L{}_N{}".format(*shape)] = row
        del x
    key = "B64_Di1024_L100_N8"
    return {
        "ms": rows,
        "summary": (
            f"{key}: fused {rows[key]['cuda_fwd_bwd_ms']:.2f} ms vs pure "
            f"{rows[key]['torch_fwd_bwd_ms']:.2f} ms fwd+bwd"
        ),
    }


def statedict_exchange(ctx):
    """MambaBlock -> mamba_ssm.Mamba -> MambaBlock, outputs and gradients."""
    from mamba_ssm.modules import mamba_simple

    fast_path = mamba_simple.causal_conv1d_fn is not None
    results = {}
    for d_model, d_state in ((512, 8), (64, 16)):
        torch.manual_seed(0)
        ours = MambaBlock(d_model, d_state=d_state, scan_backend="cuda").to(ctx.device)
        theirs = mamba_simple.Mamba(
            d_model=d_model, d_state=d_state, d_conv=4, expand=2
        ).to(ctx.device)
        ours_sd = ours.state_dict()
        their_sd = theirs.state_dict()
        keys = {
            "missing_in_theirs": sorted(set(ours_sd) - set(their_sd)),
            "missing_in_ours": sorted(set(their_sd) - set(ours_sd)),
            "shape_mismatch": sorted(
                k
                for k in set(ours_sd) & set(their_sd)
                if ours_sd[k].shape != their_sd[k].shape
            ),
        }
        theirs.load_state_dict(ours_sd, strict=True)
        x = torch.randn(16, 100, d_model, device=ctx.device)
        w = torch.randn(16, 100, d_model, device=ctx.device)

        def run(module, x=x, w=w):
            xi = x.clone().requires_grad_()
            y = module(xi)
            grads = torch.autograd.grad((y * w).sum(), [xi, *module.parameters()])
            names = ["input", *(n for n, _ in module.named_parameters())]
            return y, dict(zip(names, grads, strict=True))

        y_ours, g_ours = run(ours)
        comps = {}
        for label, use_fast in (("fast", True), ("slow", False)):
            theirs.use_fast_path = use_fast
            y_theirs, g_theirs = run(theirs)
            comps[f"{label}_out"] = compare(y_theirs, y_ours)
            for n, g in g_theirs.items():
                comps[f"{label}_grad_{n}"] = compare(g, g_ours[n])
        theirs.use_fast_path = True
        # ... and back: a fresh block of another seed takes theirs' weights.
        torch.manual_seed(1)
        back = MambaBlock(d_model, d_state=d_state, scan_backend="cuda").to(ctx.device)
        back.load_state_dict(theirs.state_dict(), strict=True)
        y_back, g_back = run(back)
        comps["back_out"] = compare(y_back, y_ours)
        for n, g in g_back.items():
            comps[f"back_grad_{n}"] = compare(g, g_ours[n])
        results[f"d{d_model}_N{d_state}"] = {
            "keys": keys,
            "comparisons": comps,
            **summarise(comps),
        }
    passed = all(r["passed"] for r in results.values())
    worst = max(results, key=lambda k: results[k]["worst"])
    return {
        "their_fast_path_available": fast_path,
        "cases": results,
        "passed": passed,
        "summary": (
            f"strict load both ways; {'pass' if passed else 'FAIL'}; worst "
            f"{results[worst]['worst']:.3g} ({worst} "
            f"{results[worst]['worst_name']}); their fast path={fast_path}"
        ),
    }


def model_parity(ctx):
    """MAAT forward and minimax gradients, one scan backend against the other."""
    if ctx.dry_run:
        sizes = dict(
            n_features=5,
            win_size=20,
            d_model=16,
            n_heads=2,
            e_layers=2,
            d_ff=16,
            d_state=4,
            block_size=5,
        )
        backends, batch = ("torch", "torch"), 4
    else:
        sizes = dict(
            n_features=38,
            win_size=100,
            d_model=512,
            n_heads=8,
            e_layers=3,
            d_ff=512,
            d_state=8,
        )
        backends, batch = ("cuda", "torch"), 32
    results = {}
    for share in (True, False):
        torch.manual_seed(0)
        models = [
            MAAT(MAATConfig(**sizes, share_mamba=share, scan_backend=b)).to(ctx.device)
            for b in backends
        ]
        models[1].load_state_dict(models[0].state_dict())
        shape = (batch, sizes["win_size"], sizes["n_features"])
        x = torch.randn(*shape, device=ctx.device)
        outs = []
        for model in models:
            model.train()
            recon, assocs = model(x)
            losses = minimax_loss(x, recon, assocs, 3.0)
            grads = torch.autograd.grad(losses["objective"], list(model.parameters()))
            names = [n for n, _ in model.named_parameters()]
            outs.append((recon, assocs, losses, dict(zip(names, grads, strict=True))))
        (ra, aa, la, ga), (rb, ab, lb, gb) = outs
        comps = {
            "reconstruction": compare(ra, rb),
            "objective": compare(la["objective"], lb["objective"]),
        }
        for i, (a, b) in enumerate(zip(aa, ab, strict=True)):
            comps[f"series_{i}"] = compare(a.series, b.series)
            comps[f"sigma_{i}"] = compare(a.sigma, b.sigma)
        for n in ga:
            comps[f"grad_{n}"] = compare(ga[n], gb[n])
        results["shared" if share else "per_layer"] = {
            "comparisons": comps,
            **summarise(comps),
        }
    passed = all(r["passed"] for r in results.values())
    worst = max(results, key=lambda k: results[k]["worst"])
    pair = " vs ".join(backends) + (" (dry run: plumbing only)" if ctx.dry_run else "")
    return {
        "pair": pair,
        "sizes": sizes,
        "cases": results,
        "passed": passed,
        "summary": (
            f"{pair}: {'pass' if passed else 'FAIL'}; worst "
            f"{results[worst]['worst']:.3g} ({worst} "
            f"{results[worst]['worst_name']})"
        ),
    }


def fit_and_score(ctx, params, train, test):
    """Fit, score the test half; seconds, throughput and peak memory."""
    det = MAATDetector(**params)
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    sync(ctx)
    start = time.perf_counter()
    det.fit(train)
    sync(ctx)
    fit_s = time.perf_counter() - start
    fit_peak = torch.cuda.max_memory_allocated() if ctx.cuda else None
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    scores = -det.score_samples(test)  # higher = more anomalous
    sync(ctx)
    score_s = time.perf_counter() - start
    score_peak = torch.cuda.max_memory_allocated() if ctx.cuda else None
    n_fit = len(train) - math.floor(det.validation_fraction * len(train))
    starts = len(range(0, n_fit - det.win_size + 1, det.train_step))
    per_epoch = min(starts, det.max_train_windows or starts)
    n_windows = per_epoch * len(det.history_)
    train_s = sum(h["seconds"] for h in det.history_)
    return (
        det,
        scores,
        {
            "scan_backend_": det.scan_backend_,
            "device_": str(det.device_),
            "epochs_run": len(det.history_),
            "train_windows_total": n_windows,
            "fit_s": fit_s,
            "train_epochs_s": train_s,
            "train_windows_per_s": n_windows / train_s if train_s else None,
            "train_points_per_s": n_windows * det.win_size / train_s
            if train_s
            else None,
            "fit_rows_per_s": len(train) / fit_s,
            "score_s": score_s,
            "score_points_per_s": len(test) / score_s,
            "peak_gib_fit": None if fit_peak is None else fit_peak / 2**30,
            "peak_gib_score": None if score_peak is None else score_peak / 2**30,
        },
    )


def detector_e2e(ctx):
    train, test, label, source = load_smd(ctx)
    a = ctx.args
    params = detector_params(
        ctx,
        epochs=a.e2e_epochs,
        train_step=1,
        max_train_windows=a.e2e_max_train_windows,
        score_step=a.score_step,
    )
    if ctx.dry_run:
        params.update(epochs=1, max_train_windows=200)
    det, scores, timing = fit_and_score(ctx, params, train, test)
    quality = {
        "vus_pr": metrics.vus_pr(label, scores, sliding_window=100),
        "roc_auc": metrics.roc_auc(label, scores),
        "pr_auc": metrics.pr_auc(label, scores),
    }
    ctx.store["detector_e2e"] = (det, scores, test, label)
    return {
        "data": source,
        "train_shape": list(train.shape),
        "test_shape": list(test.shape),
        "anomaly_fraction": float(label.mean()),
        "params": {k: v for k, v in params.items()},
        "history": det.history_,
        **quality,
        **timing,
        "summary": (
            f"VUS-PR {quality['vus_pr']:.3f} ROC-AUC {quality['roc_auc']:.3f}; "
            f"train {timing['train_points_per_s']:.3g} pts/s, score "
            f"{timing['score_points_per_s']:.3g} pts/s; backend "
            f"{timing['scan_backend_']}; peak "
            f"{timing['peak_gib_fit'] or 0:.2f} GiB"
        ),
    }


def spearman(a, b):
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def bf16_autocast(ctx):
    det, fp32, test, label = ctx.store["detector_e2e"]
    sync(ctx)
    start = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        bf16 = -det.score_samples(test)
    sync(ctx)
    seconds = time.perf_counter() - start
    rel = np.abs(bf16 - fp32) / np.maximum(np.abs(fp32), 1e-12)
    result = {
        "spearman": spearman(bf16, fp32),
        "max_rel_diff": float(rel.max()),
        "median_rel_diff": float(np.median(rel)),
        "vus_pr_bf16": metrics.vus_pr(label, bf16, sliding_window=100),
        "vus_pr_fp32": metrics.vus_pr(label, fp32, sliding_window=100),
        "score_s_bf16": seconds,
        "score_points_per_s_bf16": len(test) / seconds,
    }
    result["summary"] = (
        f"Spearman {result['spearman']:.4f}, max rel diff "
        f"{result['max_rel_diff']:.3g}; VUS-PR bf16 "
        f"{result['vus_pr_bf16']:.3f} vs fp32 "
        f"{result['vus_pr_fp32']:.3f}"
    )
    return result


def throughput(ctx):
    """Same fit/score workload and one training step, fused vs pure scan."""
    train, test, _, _ = load_smd(ctx)
    backends = ("torch",) if ctx.dry_run else ("cuda", "torch")
    rows = {}
    for backend in backends:
        params = detector_params(
            ctx,
            epochs=1,
            train_step=1,
            n_iter_no_change=None,
            max_train_windows=200 if ctx.dry_run else ctx.args.throughput_windows,
            score_step=ctx.args.score_step,
            scan_backend=backend,
        )
        _, _, timing = fit_and_score(ctx, params, train, test)
        # One optimiser step of the network alone, batch 128 (dry: 8).
        config = MAATConfig(
            n_features=train.shape[1],
            win_size=params["win_size"],
            d_model=params["d_model"],
            n_heads=params["n_heads"],
            e_layers=params["e_layers"],
            d_ff=params["d_ff"],
            d_state=params["d_state"],
            block_size=params.get("block_size", 10),
            scan_backend=backend,
        )
        torch.manual_seed(0)
        model = MAAT(config).to(ctx.device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        batch = 8 if ctx.dry_run else 128
        x = torch.randn(batch, config.win_size, config.n_features, device=ctx.device)

        def step(model=model, opt=opt, x=x):
            opt.zero_grad(set_to_none=True)
            minimax_loss(x, *model(x), 3.0)["objective"].backward()
            opt.step()

        def forward(model=model, x=x):
            with torch.inference_mode():
                model(x)

        repeats = 3 if ctx.dry_run else 10
        timing["train_step_ms_b128"] = 1e3 * timed(ctx, step, repeats=repeats)
        timing["forward_ms_b128"] = 1e3 * timed(ctx, forward, repeats=repeats)
        rows[backend] = timing
        del model, opt
    result = {"backends": rows}
    if "cuda" in rows:
        c, t = rows["cuda"], rows["torch"]
        result.update(
            train_speedup_fused=c["train_points_per_s"] / t["train_points_per_s"],
            score_speedup_fused=c["score_points_per_s"] / t["score_points_per_s"],
            step_speedup_fused=t["train_step_ms_b128"] / c["train_step_ms_b128"],
        )
        result["summary"] = (
            f"train pts/s fused {c['train_points_per_s']:.3g} vs pure "
            f"{t['train_points_per_s']:.3g}; score pts/s fused "
            f"{c['score_points_per_s']:.3g} vs pure {t['score_points_per_s']:.3g}"
        )
    else:
        t = rows["torch"]
        result["summary"] = (
            f"dry run, pure only: train {t['train_points_per_s']:.3g} "
            f"pts/s, score {t['score_points_per_s']:.3g} pts/s"
        )
    return result


def pytest_gpu(ctx):
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "gpu",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "tests/ssm/test_scan.py",
        "tests/nn/test_model.py",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    tail = (proc.stdout + proc.stderr).strip().splitlines()
    return {
        "command": " ".join(cmd[1:]),
        "returncode": proc.returncode,
        "tail": tail[-15:],
        "passed": proc.returncode in (0, 5),  # 5: nothing collected/selected
        "summary": tail[-1] if tail else f"returncode {proc.returncode}",
    }


# --------------------------------------------------------------------------
def main(argv=None):
    parser = _common.parser(__doc__, threads=None)
    parser.add_argument("--out", required=True, help="folder for gpu_check.json/.md")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="CPU plumbing check with tiny sizes; CUDA sections skip",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=420.0,
        help="skip sections that would not finish within this",
    )
    parser.add_argument("--e2e-epochs", type=int, default=3)
    parser.add_argument(
        "--e2e-max-train-windows",
        type=int,
        default=8000,
        help="windows per epoch for detector_e2e (stride 1)",
    )
    parser.add_argument(
        "--throughput-windows",
        type=int,
        default=2048,
        help="training windows for each backend in throughput",
    )
    parser.add_argument(
        "--score-step",
        type=int,
        default=10,
        help="stride of scoring windows (test half, 23,700 rows)",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="section names to skip")
    args = parser.parse_args(argv)
    if args.dry_run:
        torch.set_num_threads(1)

    ctx = Context(args)
    report = Report(args.out, args.budget_s, args.dry_run)
    # (name, function, needs, estimated seconds on an H200)
    sections = [
        ("environment", environment, (), 0),
        ("scan_parity", scan_parity, () if args.dry_run else ("cuda", "fused"), 10),
        ("scan_speed", scan_speed, ("cuda", "fused"), 10),
        ("statedict_exchange", statedict_exchange, ("cuda", "fused"), 10),
        ("model_parity", model_parity, () if args.dry_run else ("cuda", "fused"), 15),
        ("detector_e2e", detector_e2e, () if args.dry_run else ("cuda",), 120),
        ("bf16_autocast", bf16_autocast, ("cuda", "ctx:detector_e2e"), 20),
        ("throughput", throughput, () if args.dry_run else ("cuda", "fused"), 90),
        ("pytest_gpu", pytest_gpu, (), 30),
    ]
    for name, fn, needs, estimate in sections:
        if name in args.skip:
            report.data["sections"][name] = {
                "status": "skipped",
                "reason": "skipped: --skip",
                "seconds": 0,
            }
            report.write()
            continue
        report.run(
            name, fn, ctx, needs=needs, estimate_s=0 if args.dry_run else estimate
        )
    statuses = [e["status"] for e in report.data["sections"].values()]
    print(
        f"[gpu_check] done in {report.data['elapsed_s']} s: "
        + ", ".join(
            f"{s} {statuses.count(s)}" for s in ("ok", "failed", "error", "skipped")
        ),
        flush=True,
    )
    return 1 if any(s in ("failed", "error") for s in statuses) else 0


if __name__ == "__main__":
    sys.exit(main())
