"""Tests for maat_detector.ssm: the scan against an in-test recurrence, its
gradients, dtype handling and the backend choice."""

import pytest
import torch

import maat_detector.ssm as ssm
from maat_detector.ssm import (
    _cuda,
    fused_scan_available,
    resolve_scan_backend,
    selective_scan,
    selective_scan_ref,
)
from maat_detector.ssm import (
    scan as scan_module,
)


def recurrence(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """MODEL.md section 7 written out element by element, in float64."""
    u, delta, A, B, C = (t.double() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.double()[:, None]
    if delta_softplus:
        delta = torch.log1p(torch.exp(delta))
    batch, d_inner, length = u.shape
    h = torch.zeros(batch, d_inner, A.shape[1], dtype=torch.float64)
    y = torch.zeros(batch, d_inner, length, dtype=torch.float64)
    for t in range(length):
        for n in range(A.shape[1]):
            h[:, :, n] = (
                torch.exp(delta[:, :, t] * A[:, n]) * h[:, :, n]
                + delta[:, :, t] * B[:, n, t, None] * u[:, :, t]
            )
            y[:, :, t] += C[:, n, t, None] * h[:, :, n]
    if D is not None:
        y = y + D.double()[:, None] * u
    if z is not None:
        y = y * z.double() * torch.sigmoid(z.double())
    return y, h


def make_inputs(seed, batch=2, d_inner=6, length=7, d_state=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    return {
        "u": randn(batch, d_inner, length),
        "delta": randn(batch, d_inner, length) * 0.5 - 1.0,
        # Mamba's A = -exp(A_log): negative, spread over a decade.
        "A": -torch.exp(randn(d_inner, d_state)),
        "B": randn(batch, d_state, length),
        "C": randn(batch, d_state, length),
        "D": randn(d_inner),
        "z": randn(batch, d_inner, length),
        "delta_bias": randn(d_inner) * 0.1,
    }


@pytest.fixture(params=["small", "large"])
def step_flavour(request, monkeypatch):
    """Run a test with both per-step flavours of the CPU scan.

    Test sizes are tiny, so by default every tile takes the small flavour
    (exp2, mul + sum); "large" forces the exp + bmm flavour of big tiles.
    """
    if request.param == "large":
        monkeypatch.setattr(scan_module, "_SMALL_TILE_ELEMENTS", 0)
    return request.param


@pytest.mark.usefixtures("step_flavour")
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("length", [1, 7, 100])
@pytest.mark.parametrize("extras", [True, False])
@pytest.mark.parametrize("softplus", [True, False])
def test_scan_matches_recurrence_fp32(seed, length, extras, softplus):
    x = make_inputs(seed, length=length)
    if not softplus:
        x["delta"] = x["delta"].abs()  # keep Δ >= 0, as softplus would
    if not extras:
        x["D"] = x["z"] = x["delta_bias"] = None
    expected, h_expected = recurrence(**x, delta_softplus=softplus)
    y, h = selective_scan(
        **x, delta_softplus=softplus, return_last_state=True, backend="torch"
    )
    assert y.dtype == torch.float32 and y.shape == x["u"].shape
    assert h.shape == (2, 6, 4)
    torch.testing.assert_close(y.double(), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h.double(), h_expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("length", [1, 7, 100])
def test_reference_matches_recurrence(length):
    x = make_inputs(3, length=length)
    expected, h_expected = recurrence(**x, delta_softplus=True)
    y, h = selective_scan_ref(**x, delta_softplus=True, return_last_state=True)
    torch.testing.assert_close(y.double(), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h.double(), h_expected, rtol=1e-4, atol=1e-5)


def test_scan_accepts_strided_inputs():
    # The Mamba block passes transposed views of (B, L, X) tensors.
    x = make_inputs(4, length=9)
    strided = {
        k: v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() == 3 else v
        for k, v in x.items()
    }
    assert not strided["u"].is_contiguous()
    torch.testing.assert_close(
        selective_scan(**strided, delta_softplus=True, backend="torch"),
        selective_scan_ref(**x, delta_softplus=True),
    )


def test_return_last_state_is_final_state():
    x = make_inputs(5, length=7)
    y_all, h_all = selective_scan(**x, return_last_state=True, backend="torch")
    y = selective_scan(**x, backend="torch")
    torch.testing.assert_close(y_all, y)
    # The 7-step state is one more recurrence step from the 6-step state.
    x6 = {k: (v[..., :6] if v.dim() == 3 else v) for k, v in x.items()}
    _, h6 = selective_scan(**x6, return_last_state=True, backend="torch")
    delta7 = x["delta"][..., 6] + x["delta_bias"]
    h7 = torch.exp(delta7[..., None] * x["A"]) * h6 + (
        delta7[..., None] * x["B"][:, None, :, 6] * x["u"][:, :, 6, None]
    )
    torch.testing.assert_close(h_all, h7)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_promote_and_return_input_dtype(dtype):
    x32 = make_inputs(6, length=7)
    # A, D and delta_bias stay float32 parameters, as in the Mamba block.
    x_half = {
        k: v.to(dtype) if k in ("u", "delta", "B", "C", "z") else v
        for k, v in x32.items()
    }
    y = selective_scan(**x_half, delta_softplus=True, backend="torch")
    assert y.dtype == dtype
    # Same inputs, rounded to half, scanned in float32 then rounded once.
    x_rounded = {k: v.float() for k, v in x_half.items()}
    expected = selective_scan_ref(**x_rounded, delta_softplus=True).to(dtype)
    torch.testing.assert_close(y, expected)


def test_float64_kept():
    x = make_inputs(7, length=7, dtype=torch.float64)
    y, h = selective_scan(**x, return_last_state=True, backend="torch")
    assert y.dtype == torch.float64 and h.dtype == torch.float64
    expected, h_expected = recurrence(**x, delta_softplus=False)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h, h_expected, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("step_flavour")
@pytest.mark.parametrize("length", [1, 5, 11])
def test_gradcheck_all_inputs(length):
    # length 11 spans several recomputed chunks in the backward pass.
    x = make_inputs(
        8, batch=2, d_inner=3, length=length, d_state=2, dtype=torch.float64
    )
    names = list(x)
    inputs = tuple(x[k].requires_grad_() for k in names)

    def fn(*args):
        y, h = selective_scan(
            **dict(zip(names, args, strict=True)),
            delta_softplus=True,
            return_last_state=True,
            backend="torch",
        )
        return y, h

    assert torch.autograd.gradcheck(fn, inputs)


@pytest.mark.usefixtures("step_flavour")
def test_gradients_match_reference_autograd():
    x = make_inputs(9, length=23, dtype=torch.float64)
    for v in x.values():
        v.requires_grad_()
    w = torch.randn(2, 6, 23, dtype=torch.float64)
    y = selective_scan(**x, delta_softplus=True, backend="torch")
    grads = torch.autograd.grad((y * w).sum(), list(x.values()))
    y_ref = selective_scan_ref(**x, delta_softplus=True)
    grads_ref = torch.autograd.grad((y_ref * w).sum(), list(x.values()))
    for name, g, g_ref in zip(x, grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, msg=name)


@pytest.mark.usefixtures("step_flavour")
@pytest.mark.parametrize("tile_elements", [1, 12])
def test_batch_tiles_match_reference(monkeypatch, tile_elements):
    # Force several batch tiles (1 row, or 12 // (N * Di) = 2 rows): the
    # CPU path scans tiles separately and must still agree, with gradients.
    monkeypatch.setattr(scan_module, "_TILE_ELEMENTS", tile_elements)
    x = make_inputs(16, batch=5, d_inner=3, length=12, d_state=2, dtype=torch.float64)
    for v in x.values():
        v.requires_grad_()
    w = torch.randn(5, 3, 12, dtype=torch.float64)
    y, h = selective_scan(
        **x, delta_softplus=True, return_last_state=True, backend="torch"
    )
    y_ref, h_ref = selective_scan_ref(**x, delta_softplus=True, return_last_state=True)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)
    grads = torch.autograd.grad((y * w).sum() + h.sum(), list(x.values()))
    grads_ref = torch.autograd.grad((y_ref * w).sum() + h_ref.sum(), list(x.values()))
    for name, g, g_ref in zip(x, grads, grads_ref, strict=True):
        torch.testing.assert_close(g, g_ref, msg=name)


@pytest.mark.usefixtures("step_flavour")
def test_tiles_on_several_threads_match_one_thread_exactly(monkeypatch):
    # Tiles of 2 batch rows, run on 1, 2 and 3 threads: the same bits, the
    # reference's values, and the caller's thread count afterwards.
    monkeypatch.setattr(scan_module, "_TILE_ELEMENTS", 12)
    x = make_inputs(17, batch=7, d_inner=3, length=12, d_state=2)
    for v in x.values():
        v.requires_grad_()
    w = torch.randn(7, 3, 12)
    threads = torch.get_num_threads()
    runs = []
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            y, h = selective_scan(
                **x, delta_softplus=True, return_last_state=True, backend="torch"
            )
            grads = torch.autograd.grad((y * w).sum() + h.sum(), list(x.values()))
            assert torch.get_num_threads() == count
            runs.append((y, h, *grads))
    finally:
        torch.set_num_threads(threads)
    for one, other in ((runs[0], runs[1]), (runs[0], runs[2])):
        for a, b in zip(one, other, strict=True):
            assert torch.equal(a, b)
    y_ref = selective_scan_ref(**x, delta_softplus=True)
    torch.testing.assert_close(runs[1][0], y_ref)
    # Scoring runs under inference mode, which worker threads must share.
    try:
        torch.set_num_threads(2)
        with torch.inference_mode():
            y_inference = selective_scan(**x, delta_softplus=True, backend="torch")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(y_inference, runs[0][0])


def test_deterministic():
    x = make_inputs(10, length=30)
    for v in x.values():
        v.requires_grad_()
    runs = []
    for _ in range(2):
        y = selective_scan(**x, delta_softplus=True, backend="torch")
        runs.append((y, *torch.autograd.grad(y.square().sum(), list(x.values()))))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_no_grad_path_matches_grad_path():
    x = make_inputs(11, length=13)
    with torch.no_grad():
        y_nograd = selective_scan(**x, delta_softplus=True, backend="torch")
    x["u"].requires_grad_()
    y_grad = selective_scan(**x, delta_softplus=True, backend="torch")
    assert torch.equal(y_nograd, y_grad.detach())


def test_bad_shapes_raise():
    x = make_inputs(12)
    x["B"] = x["B"][:, :3]
    with pytest.raises(ValueError, match="B must have shape"):
        selective_scan(**x, backend="torch")


def test_unknown_backend_raises():
    x = make_inputs(13)
    with pytest.raises(ValueError, match="backend='triton'"):
        selective_scan(**x, backend="triton")
    with pytest.raises(ValueError, match="scan_backend='triton'.*'auto', 'torch'"):
        resolve_scan_backend("triton", "cpu")


def test_torch_resolves_to_torch_on_cpu():
    # "auto" on the CPU: tests/ssm/test_compiled_scan.py
    assert resolve_scan_backend("torch", torch.device("cpu")) == "torch"


def _pretend_import_failed(monkeypatch, message):
    monkeypatch.setattr(_cuda, "_fused_fn", None)
    monkeypatch.setattr(_cuda, "_import_error", message)


def test_cuda_backend_without_mamba_ssm_raises_import_error(monkeypatch, caplog):
    _pretend_import_failed(monkeypatch, "ModuleNotFoundError: No module named 'x'")
    assert not fused_scan_available()
    with pytest.raises(ImportError, match=r'pip install "maat-detector\[cuda\]"'):
        resolve_scan_backend("cuda", "cuda")
    with pytest.raises(ImportError, match="backend='cuda'.*CUDA toolkit"):
        selective_scan(**make_inputs(14), backend="cuda")
    # "auto" falls back to the pure scan and says so at INFO.
    with caplog.at_level("INFO", logger="maat_detector.ssm.scan"):
        assert resolve_scan_backend("auto", "cuda") == "torch"
    assert "pure-PyTorch" in caplog.text


def test_auto_picks_fused_kernel_on_cuda_when_importable(monkeypatch):
    monkeypatch.setattr(_cuda, "_fused_fn", lambda *a, **k: None)
    assert resolve_scan_backend("auto", "cuda:0") == "cuda"
    assert resolve_scan_backend("auto", "cpu") in ("compiled", "torch")
    assert resolve_scan_backend("cuda", torch.device("cuda")) == "cuda"


def test_cuda_backend_on_cpu_device_raises(monkeypatch):
    monkeypatch.setattr(_cuda, "_fused_fn", lambda *a, **k: None)
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_scan_backend("cuda", "cpu")


def test_broken_mamba_ssm_install_is_caught(monkeypatch):
    # On a CPU box mamba_ssm may import but its extension fails with OSError.
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name.startswith("mamba_ssm"):
            raise OSError("libcudart.so.12: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(_cuda, "_fused_fn", _cuda._UNSET)
    monkeypatch.setattr(_cuda, "_import_error", None)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    assert not fused_scan_available()
    assert "OSError" in _cuda.fused_scan_import_error()


def test_public_names():
    assert ssm.__all__ == [
        "fused_scan_available",
        "resolve_scan_backend",
        "selective_scan",
        "selective_scan_ref",
    ]


def test_mamba_ssm_imported_only_inside_functions():
    # Cheap static twin of the subprocess test below: no module-level import.
    import ast
    import inspect

    def imports_run_at_import_time(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue  # runs only when called
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield from (a.name for a in child.names)
                yield getattr(child, "module", None) or ""
            yield from imports_run_at_import_time(child)

    for module in (ssm, scan_module, _cuda):
        tree = ast.parse(inspect.getsource(module))
        names = list(imports_run_at_import_time(tree))
        assert names  # the walker does see the module-level imports
        assert not any(n.startswith("mamba_ssm") for n in names), module.__name__


@pytest.mark.slow
def test_import_does_not_load_mamba_ssm():
    import subprocess
    import sys

    code = "import sys, maat_detector.ssm; sys.exit('mamba_ssm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and fused_scan_available()),
    reason="needs CUDA and mamba-ssm",
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_kernel_matches_pure_scan(dtype):
    x = make_inputs(15, batch=4, d_inner=64, length=100, d_state=16)
    x = {
        k: (v.to(dtype) if k in ("u", "delta", "B", "C", "z") else v).cuda()
        for k, v in x.items()
    }
    for v in x.values():
        v.requires_grad_()
    y_cuda = selective_scan(**x, delta_softplus=True, backend="cuda")
    y_torch = selective_scan(**x, delta_softplus=True, backend="torch")
    torch.testing.assert_close(y_cuda.float(), y_torch.float(), rtol=6e-4, atol=2e-3)
    w = torch.randn_like(y_torch.float())
    g_cuda = torch.autograd.grad((y_cuda.float() * w).sum(), list(x.values()))
    g_torch = torch.autograd.grad((y_torch.float() * w).sum(), list(x.values()))
    if dtype == torch.float32:
        for name, a, b in zip(x, g_cuda, g_torch, strict=True):
            torch.testing.assert_close(a, b, rtol=6e-4, atol=2e-3, msg=name)
