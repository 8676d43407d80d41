"""The training loop's Adam equals torch.optim.Adam, and keeps the compiler out."""

import subprocess
import sys

import pytest
import torch

from maat_detector.engine.adam import Adam


def _trajectory(make_optimizer, set_lr, steps=6):
    """Parameters after ``steps`` updates of a small regression, lr halved twice."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 7), torch.nn.GELU(), torch.nn.Linear(7, 2)
    )
    frozen = torch.nn.Parameter(torch.ones(3))  # never gets a gradient
    optimizer = make_optimizer([*net.parameters(), frozen])
    x, y = torch.randn(16, 5), torch.randn(16, 2)
    for step in range(steps):
        if step in (2, 4):
            set_lr(optimizer, 1e-2 * 0.5 ** (step // 2))
        optimizer.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        optimizer.step()
    return [p.detach().clone() for p in net.parameters()] + [frozen.detach().clone()]


def _set_torch_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


def _set_lr(optimizer, lr):
    optimizer.lr = lr


@pytest.mark.parametrize("fused", [True, False])
def test_updates_equal_torch_adam_bit_for_bit(fused):
    if fused and not hasattr(torch, "_fused_adam_"):
        pytest.skip("this torch has no fused Adam")
    ours = _trajectory(lambda p: Adam(p, lr=1e-2, fused=fused), _set_lr)
    theirs = _trajectory(
        lambda p: torch.optim.Adam(p, lr=1e-2, fused=fused, foreach=False),
        _set_torch_lr,
    )
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.equal(ours[-1], torch.ones(3))  # no gradient: left alone


def test_refused_fused_kernel_falls_back_to_the_loop(monkeypatch):
    """torch before 2.4 has no fused CPU Adam: the first step falls back and
    gives the per-tensor result."""

    def refuse(*args, **kwargs):
        raise RuntimeError("_fused_adam_ is not implemented for CPU")

    loop = _trajectory(lambda p: Adam(p, lr=1e-2, fused=False), _set_lr)
    monkeypatch.setattr(torch, "_fused_adam_", refuse)
    optimizers = []

    def make(params):
        optimizers.append(Adam(params, lr=1e-2))
        return optimizers[-1]

    fallback = _trajectory(make, _set_lr)
    assert not optimizers[0].fused
    for a, b in zip(fallback, loop, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_fit_does_not_import_the_compiler():
    """torch.optim imports torch._dynamo (1-2 s) on first use; a fit must not."""
    code = (
        "import sys, numpy as np\n"
        "from maat_detector import MAATDetector\n"
        "X = np.sin(np.arange(400)[:, None] / 7.0 + np.arange(3))\n"
        "MAATDetector(win_size=16, d_model=16, n_heads=2, e_layers=1, d_ff=16,\n"
        "             d_state=4, block_size=4, epochs=1).fit(X).score_samples(X)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr[-2000:]
