import pytest
import torch

from maat_detector.nn.attention import (
    _prior_parts_banded,
    _prior_parts_dense,
    prior_parts,
    prior_reach,
    sigma_from_logits,
    symmetric_kl,
)


@pytest.mark.parametrize(("length", "block"), [(100, 10), (105, 10), (64, 16)])
def test_banded_prior_matches_dense(length, block):
    torch.manual_seed(length + block)
    logits = (torch.randn(2, 3, length) * 2).requires_grad_()
    sigma = sigma_from_logits(logits)
    steps = torch.arange(length, dtype=torch.float32)
    distance = (steps[:, None] - steps[None, :]).abs()
    reach = max(prior_reach(sigma), block - 1)
    assert 2 * reach + 1 < length  # prior_parts takes the banded path here
    n_blocks = -(-length // block)
    keys = (torch.arange(n_blocks * block) < length).reshape(n_blocks, 1, block)
    series = torch.softmax(torch.randn(2, 3, n_blocks, block, block), -1) * keys
    series = series / series.sum(-1, keepdim=True)

    results = []
    for parts in (
        _prior_parts_dense(sigma, distance, block),
        _prior_parts_banded(sigma, block, reach),
    ):
        discrepancy = symmetric_kl(series, *parts)
        (grad,) = torch.autograd.grad(discrepancy.sum(), logits, retain_graph=True)
        results.append((*parts, discrepancy, grad))
    for dense, banded in zip(*results, strict=True):
        tol = 1e-5 * float(dense.abs().max())
        assert torch.allclose(banded, dense, rtol=1e-5, atol=tol)
    blocks, _ = prior_parts(sigma, distance, block)
    assert torch.equal(blocks, results[1][0])
