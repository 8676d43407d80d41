"""The compiled CPU scan kernel (``backend="compiled"``) against the PyTorch scan.

The kernel is built when the package is installed; where it was installed
without a C++ compiler the kernel tests skip and the fallback tests still run
(and ``test_kernel_is_built_where_a_compiler_exists`` fails where one exists).
"""

import logging
import pickle
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY, sinusoids

import maat_detector.ssm._cpu as cpu
from maat_detector import MAATDetector
from maat_detector.ssm import resolve_scan_backend, selective_scan

needs_kernel = pytest.mark.skipif(
    cpu.load_cpu_kernel() is None,
    reason=f"compiled CPU scan unavailable: {cpu.cpu_kernel_error()}",
)


def inputs(seed, batch=3, d_inner=150, length=23, d_state=5, dtype=torch.float64):
    # 150 channels: two full blocks of the kernel's 64 and a partial one.
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()

    A = (-torch.rand(d_inner, d_state, generator=g, dtype=dtype) - 0.1).requires_grad_()
    return (
        randn(batch, d_inner, length),  # u
        randn(batch, d_inner, length),  # delta
        A,
        randn(batch, d_state, length),  # B
        randn(batch, d_state, length),  # C
        randn(d_inner),  # D
        randn(batch, d_inner, length),  # z
        randn(d_inner),  # delta_bias
    )


def outputs_and_grads(backend, ins):
    y, last = selective_scan(
        *ins, delta_softplus=True, return_last_state=True, backend=backend
    )
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    loss = (y * weights).sum() + (last**2).sum()
    return (y.detach(), last.detach()) + torch.autograd.grad(loss, ins)


def assert_compiled_matches_torch(ins, rtol, atol):
    for a, b in zip(
        outputs_and_grads("compiled", ins), outputs_and_grads("torch", ins), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


@needs_kernel
@pytest.mark.parametrize("length", [1, 23, 100])
def test_outputs_and_every_gradient_match_the_pytorch_scan(length):
    ins = inputs(0, length=length)
    names = ("y", "last state", "u", "delta", "A", "B", "C", "D", "z", "bias")
    expected = outputs_and_grads("torch", ins)
    got = outputs_and_grads("compiled", ins)
    for name, a, b in zip(names, got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


@needs_kernel
@pytest.mark.parametrize("softplus", [False, True])
def test_without_skip_gate_and_bias(softplus):
    u, delta, A, B, C, *_ = inputs(4)
    leaves = (u, delta, A, B, C)
    results = {}
    for backend in ("torch", "compiled"):
        y = selective_scan(*leaves, delta_softplus=softplus, backend=backend)
        results[backend] = (y.detach(),) + torch.autograd.grad(y.square().sum(), leaves)
    for a, b in zip(results["compiled"], results["torch"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@needs_kernel
def test_transposed_views_as_the_mamba_block_passes_them():
    """u, delta and z as (B, L, Di) storage seen as (B, Di, L), as in Mamba."""
    g = torch.Generator().manual_seed(6)
    shape = (3, 23, 150)  # (B, L, Di)
    leaves = [
        torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()
        for _ in range(3)
    ]
    _, _, A, B, C, D, _, bias = inputs(6)
    results = {}
    for backend in ("torch", "compiled"):
        u, delta, z = (t.transpose(1, 2) for t in leaves)
        y = selective_scan(
            u, delta, A, B, C, D, z, bias, delta_softplus=True, backend=backend
        )
        # A non-contiguous upstream gradient, as a transpose after the scan gives.
        loss = (y.transpose(1, 2) * torch.cos(leaves[0].detach())).sum()
        grads = torch.autograd.grad(loss, [*leaves, A, B, C, D, bias])
        results[backend] = (y.detach(), *grads)
    for a, b in zip(results["compiled"], results["torch"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@needs_kernel
def test_scoring_without_gradients_matches():
    ins = [t.detach() for t in inputs(5)]
    with torch.inference_mode():
        got = selective_scan(*ins, delta_softplus=True, backend="compiled")
        expected = selective_scan(*ins, delta_softplus=True, backend="torch")
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@needs_kernel
def test_float32_within_rounding_of_the_pytorch_scan():
    ins = inputs(1, batch=4, d_inner=64, length=100, d_state=8, dtype=torch.float32)
    assert_compiled_matches_torch(ins, rtol=1e-4, atol=1e-4)


@needs_kernel
def test_gradcheck():
    ins = inputs(2, batch=2, d_inner=18, length=5, d_state=3)

    def f(*args):
        return selective_scan(*args, delta_softplus=True, backend="compiled")

    assert torch.autograd.gradcheck(f, ins)


@needs_kernel
def test_results_do_not_depend_on_the_thread_count():
    ins = inputs(3, batch=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = outputs_and_grads("compiled", ins)
        torch.set_num_threads(2)
        two = outputs_and_grads("compiled", ins)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, two, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@needs_kernel
def test_detector_with_the_compiled_scan_scores_as_with_pytorch():
    X = sinusoids(300)
    compiled = MAATDetector(**TINY, scan_backend="compiled").fit(X)
    plain = MAATDetector(**TINY, scan_backend="torch").fit(X)
    assert compiled.scan_backend_ == "compiled"
    np.testing.assert_allclose(
        compiled.anomaly_score(X), plain.anomaly_score(X), rtol=1e-3, atol=1e-6
    )


@pytest.mark.skipif(
    not any(shutil.which(c) for c in ("c++", "g++", "clang++", "cl")),
    reason="no C++ compiler on this machine",
)
def test_kernel_is_built_where_a_compiler_exists():
    """A kernel that fails to compile must fail here, not skip every kernel test."""
    assert cpu.load_cpu_kernel() is not None, cpu.cpu_kernel_error()


@pytest.mark.parametrize("variant", cpu.supported_variants() or ["none built"])
def test_every_variant_this_cpu_runs_matches_the_pytorch_scan(variant, monkeypatch):
    if variant == "none built":
        pytest.skip(f"compiled CPU scan unavailable: {cpu.cpu_kernel_error()}")
    monkeypatch.setattr(cpu, "_kernel", cpu.load_variant(variant))
    ins = inputs(7, length=37)
    assert_compiled_matches_torch(ins, rtol=1e-10, atol=1e-12)
    ins = inputs(8, batch=2, d_inner=64, length=50, d_state=8, dtype=torch.float32)
    assert_compiled_matches_torch(ins, rtol=1e-4, atol=1e-4)


@needs_kernel
def test_the_kernel_leaves_subnormal_floats_alone():
    """Neither loading the library nor a scan may set flush-to-zero for the process.

    A shared library linked with -ffast-math would, through crtfastmath.
    """
    for variant in cpu.supported_variants():
        cpu.load_variant(variant)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the scan runs on this thread
        selective_scan(*[t.detach() for t in inputs(9)], backend="compiled")
    finally:
        torch.set_num_threads(threads)
    tiny = np.array([1e-38], dtype=np.float32) / np.float32(10)
    assert tiny[0] > 0


@needs_kernel
def test_auto_uses_the_compiled_kernel_on_the_cpu():
    assert resolve_scan_backend("auto", "cpu") == "compiled"
    assert MAATDetector(**TINY).fit(sinusoids(100)).scan_backend_ == "compiled"


def test_auto_falls_back_to_the_pytorch_scan_without_the_kernel(monkeypatch, caplog):
    _pretend_not_built(monkeypatch)
    with caplog.at_level(logging.INFO, logger="maat_detector.ssm.scan"):
        assert resolve_scan_backend("auto", "cpu") == "torch"
    assert "no baseline build" in caplog.text and "C++ compiler" in caplog.text
    detector = MAATDetector(**TINY).fit(sinusoids(100))
    assert detector.scan_backend_ == "torch"
    assert np.isfinite(detector.score_samples(sinusoids(100))).all()


@needs_kernel
def test_a_variant_this_cpu_lacks_is_refused(monkeypatch):
    class OldCpu:
        def maat_cpu_level(self):
            return 0

    with pytest.raises(ValueError, match="unknown kernel variant 'avx9'"):
        cpu.load_variant("avx9")
    monkeypatch.setattr(cpu, "_open", lambda variant: OldCpu())
    with pytest.raises(ValueError, match="cannot run the avx2 kernel"):
        cpu.load_variant("avx2")


@needs_kernel
def test_environment_variable_picks_the_variant(monkeypatch):
    monkeypatch.setattr(cpu, "_kernel", cpu._UNSET)
    monkeypatch.setenv("MAAT_CPU_KERNEL", "baseline")
    assert cpu.load_cpu_kernel().variant == "baseline"
    monkeypatch.setattr(cpu, "_kernel", cpu._UNSET)
    monkeypatch.setenv("MAAT_CPU_KERNEL", "fastest")
    assert cpu.load_cpu_kernel() is None
    assert "MAAT_CPU_KERNEL=fastest" in cpu.cpu_kernel_error()


@needs_kernel
def test_malformed_inputs_raise_instead_of_reading_stray_memory():
    u, delta, A, B, C, D, z, bias = (t.detach() for t in inputs(10))
    kernel = cpu.load_cpu_kernel()
    with pytest.raises(ValueError, match=r"B must be a CPU torch.float64 tensor"):
        kernel.scan_forward(u, delta, A, B[:, :, :-1], C, D, z, bias, True)
    with pytest.raises(ValueError, match=r"C must .*\(contiguous\)"):
        kernel.scan_forward(u, delta, A, B, C.transpose(0, 1), D, z, bias, True)
    with pytest.raises(ValueError, match=r"A must .*float64"):
        kernel.scan_forward(u, delta, A.float(), B, C, D, z, bias, True)


def _pretend_not_built(monkeypatch):
    monkeypatch.setattr(cpu, "_kernel", None)
    monkeypatch.setattr(
        cpu, "_error", "FileNotFoundError: no baseline build of the kernel"
    )


def test_missing_kernel_says_what_to_install(monkeypatch):
    _pretend_not_built(monkeypatch)
    with pytest.raises(ImportError, match=r"no baseline build.*C\+\+ compiler"):
        resolve_scan_backend("compiled", "cpu")
    with pytest.raises(ImportError, match="scan_backend='auto' or 'torch'"):
        MAATDetector(**TINY, scan_backend="compiled").fit(sinusoids(100))


def test_compiled_needs_a_cpu_device():
    with pytest.raises(ValueError, match="CPU kernel"):
        resolve_scan_backend("compiled", "cuda")


@needs_kernel
def test_pickle_loads_on_a_machine_without_the_kernel(monkeypatch):
    X = sinusoids(200)
    det = MAATDetector(**TINY, scan_backend="compiled").fit(X)
    expected = det.anomaly_score(X)
    blob = pickle.dumps(det)
    _pretend_not_built(monkeypatch)
    restored = pickle.loads(blob)
    assert restored.scan_backend_ == "torch" and restored.scan_backend == "compiled"
    np.testing.assert_allclose(
        restored.anomaly_score(X), expected, rtol=1e-4, atol=1e-6
    )


@needs_kernel
def test_auto_detector_fitted_without_the_kernel_uses_it_where_present(monkeypatch):
    X = sinusoids(200)
    with monkeypatch.context() as patch:
        _pretend_not_built(patch)
        det = MAATDetector(**TINY).fit(X)
        expected = det.anomaly_score(X)
        blob = pickle.dumps(det)
    assert det.scan_backend_ == "torch"
    restored = pickle.loads(blob)
    assert restored.scan_backend_ == "compiled" and restored.scan_backend == "auto"
    np.testing.assert_allclose(
        restored.anomaly_score(X), expected, rtol=1e-4, atol=1e-6
    )
