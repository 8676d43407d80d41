"""The MAAT network: shapes, attention, prior, minimax gradients, Mamba layout."""

import pytest
import torch

from maat_detector.nn import (
    MAAT,
    MAATConfig,
    MambaBlock,
    minimax_loss,
    window_components,
)
from maat_detector.nn.attention import EPS, prior_parts
from maat_detector.ssm import selective_scan_ref
from maat_detector.ssm._cpu import load_cpu_kernel


def tiny_config(**overrides):
    params = dict(
        n_features=3,
        win_size=12,
        d_model=16,
        n_heads=2,
        e_layers=2,
        d_ff=16,
        block_size=4,
        d_state=4,
    )
    params.update(overrides)
    return MAATConfig(**params)


@pytest.mark.parametrize("attention", ["block", "full", "causal"])
@pytest.mark.parametrize("share_mamba", [True, False])
def test_forward_shapes(attention, share_mamba):
    torch.manual_seed(0)
    config = tiny_config(attention=attention, share_mamba=share_mamba)
    model = MAAT(config)
    x = torch.randn(5, 12, 3)
    recon, assocs = model(x)
    assert recon.shape == (5, 12, 3)
    assert len(assocs) == 2
    for a in assocs:
        assert a.sigma.shape == (5, 2, 12)
        assert a.series_dense().shape == (5, 2, 12, 12)
        assert torch.allclose(a.series_dense().sum(-1), torch.ones(5, 2, 12), atol=1e-5)
    scores = window_components(x, recon, assocs)[2]  # the paper's energy
    assert scores.shape == (5, 12) and torch.isfinite(scores).all()


def test_short_last_block():
    # L = 10, b = 4: blocks of 4, 4, 2 (SMAP's L = 105 with b = 10 is this case).
    torch.manual_seed(0)
    model = MAAT(tiny_config(win_size=10, block_size=4))
    recon, assocs = model(torch.randn(2, 10, 3))
    dense = assocs[0].series_dense()
    assert recon.shape == (2, 10, 3)
    assert torch.all(dense[..., 8:, :8] == 0) and torch.all(dense[..., :8, 8:] == 0)
    assert torch.allclose(dense.sum(-1), torch.ones(2, 2, 10), atol=1e-5)


def dense_reference_attention(attn, x, mask):
    """Masked dense attention written independently of the block code."""
    batch, length, d = x.shape
    h = attn.n_heads
    q = attn.query(x).view(batch, length, h, -1).transpose(1, 2)
    k = attn.key(x).view(batch, length, h, -1).transpose(1, 2)
    v = attn.value(x).view(batch, length, h, -1).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / (d // h) ** 0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    series = torch.softmax(scores, -1)
    out = (series @ v).transpose(1, 2).reshape(batch, length, d)
    return attn.out(out), series


@pytest.mark.parametrize("win_size, block", [(12, 4), (10, 4), (12, 12)])
def test_block_attention_equals_masked_dense(win_size, block):
    torch.manual_seed(1)
    model = MAAT(tiny_config(win_size=win_size, block_size=block))
    attn = model.layers[0].attention
    x = torch.randn(3, win_size, 16)
    steps = torch.arange(win_size)
    mask = (steps[:, None] // block) == (steps[None, :] // block)
    out, assoc = attn(x, model.distance)
    ref_out, ref_series = dense_reference_attention(attn, x, mask)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(assoc.series_dense(), ref_series, atol=1e-6)


def test_causal_mode_is_lower_triangular():
    torch.manual_seed(0)
    model = MAAT(tiny_config(attention="causal"))
    _, assocs = model(torch.randn(2, 12, 3))
    dense = assocs[0].series_dense()
    assert torch.all(torch.triu(dense, diagonal=1) == 0)


@pytest.mark.parametrize("attention", ["block", "full", "causal"])
@pytest.mark.parametrize("share_mamba", [True, False])
def test_forecast_output_at_t_sees_only_earlier_steps(attention, share_mamba):
    """objective="forecast": changing x_t.. moves no output before or at t."""
    torch.manual_seed(0)
    config = tiny_config(
        attention=attention, share_mamba=share_mamba, objective="forecast"
    )
    model = MAAT(config).eval()
    x = torch.randn(2, 12, 3)
    for t in (0, 5, 11):
        changed = x.clone()
        changed[:, t:] += 3.0 * torch.randn(2, 12 - t, 3)
        with torch.no_grad():
            before, after = model(x)[0], model(changed)[0]
        assert torch.equal(before[:, : t + 1], after[:, : t + 1])
        if t < 11:
            assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])
    _, assocs = model(x)
    assert torch.all(torch.triu(assocs[0].series_dense(), diagonal=1) == 0)


def test_reconstruction_output_sees_the_whole_window():
    """The paper's objective: x_t (and later steps) shape the output at t."""
    torch.manual_seed(0)
    model = MAAT(tiny_config()).eval()
    x = torch.randn(2, 12, 3)
    changed = x.clone()
    changed[:, 5] += 3.0
    with torch.no_grad():
        assert not torch.allclose(model(x)[0][:, 4], model(changed)[0][:, 4])


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="objective"):
        tiny_config(objective="interpolate")


def test_prior_rows_sum_to_one_and_discrepancy_matches_dense_kl():
    torch.manual_seed(2)
    model = MAAT(tiny_config(win_size=10, block_size=4))
    _, assocs = model(torch.randn(2, 10, 3))
    a = assocs[0]
    sig = a.sigma.unsqueeze(-1)
    kernel = torch.exp(-(model.distance**2) / (2 * sig**2))
    prior = kernel / kernel.sum(-1, keepdim=True)
    assert torch.allclose(prior.sum(-1), torch.ones_like(a.sigma), atol=1e-6)
    blocks, _ = prior_parts(a.sigma, model.distance, 4)
    assert blocks.shape == (2, 2, 3, 4, 4)
    # Symmetric KL written densely, as the reference computes it.
    s = a.series_dense()

    def kl(p, q):
        return (p * (torch.log(p + EPS) - torch.log(q + EPS))).sum(-1)

    expected = (kl(s, prior) + kl(prior, s)).mean(1)
    assert torch.allclose(a.discrepancy(), expected, atol=1e-5)


def test_minimax_gradients_reach_only_their_side():
    torch.manual_seed(3)
    model = MAAT(tiny_config(e_layers=1))
    x = torch.randn(4, 12, 3)
    _, assocs = model(x)
    a = assocs[0]
    series_loss = a.discrepancy(detach="prior").mean()
    prior_loss = a.discrepancy(detach="series").mean()
    g_series = torch.autograd.grad(
        series_loss, [a.series, a.sigma], allow_unused=True, retain_graph=True
    )
    g_prior = torch.autograd.grad(prior_loss, [a.series, a.sigma], allow_unused=True)
    assert g_series[0] is not None and g_series[0].abs().sum() > 0
    assert g_series[1] is None
    assert g_prior[0] is None
    assert g_prior[1] is not None and g_prior[1].abs().sum() > 0
    # series loss does not touch the sigma projection; prior loss not Q/K.
    attn = model.layers[0].attention
    gs = torch.autograd.grad(
        model(x)[1][0].discrepancy(detach="prior").mean(),
        [attn.sigma.weight, attn.query.weight],
        allow_unused=True,
    )
    assert gs[0] is None and gs[1].abs().sum() > 0
    gp = torch.autograd.grad(
        model(x)[1][0].discrepancy(detach="series").mean(),
        [attn.sigma.weight, attn.query.weight],
        allow_unused=True,
    )
    assert gp[0].abs().sum() > 0 and gp[1] is None


def test_single_backward_equals_two_reference_backwards():
    torch.manual_seed(4)
    model = MAAT(tiny_config())
    x = torch.randn(3, 12, 3)
    out = minimax_loss(x, *model(x), k=3.0)
    out["objective"].backward()
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    out = minimax_loss(x, *model(x), k=3.0)
    out["loss1"].backward(retain_graph=True)
    out["loss2"].backward()
    for g, p in zip(ours, model.parameters(), strict=True):
        assert torch.allclose(g, p.grad, atol=1e-6)


# Parameter names and shapes of mamba_ssm 2.3's Mamba(d_model, d_state, d_conv,
# expand): pinned so that state_dicts move between it and our block.
def mamba_ssm_shapes(d_model, d_state, d_conv, expand):
    di = expand * d_model
    r = -(-d_model // 16)
    return {
        "in_proj.weight": (2 * di, d_model),
        "conv1d.weight": (di, 1, d_conv),
        "conv1d.bias": (di,),
        "x_proj.weight": (r + 2 * d_state, di),
        "dt_proj.weight": (di, r),
        "dt_proj.bias": (di,),
        "A_log": (di, d_state),
        "D": (di,),
        "out_proj.weight": (d_model, di),
    }


@pytest.mark.parametrize("sizes", [(512, 8, 4, 2), (64, 16, 3, 1), (40, 4, 4, 2)])
def test_mamba_parameter_names_match_mamba_ssm(sizes):
    block = MambaBlock(*sizes)
    shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    assert shapes == mamba_ssm_shapes(*sizes)
    if sizes == (512, 8, 4, 2):
        assert sum(p.numel() for p in block.parameters()) == 1_670_144


def test_mamba_init_matches_spec():
    torch.manual_seed(0)
    block = MambaBlock(32, d_state=4)
    assert torch.allclose(
        -torch.exp(block.A_log), -torch.arange(1.0, 5.0).repeat(64, 1)
    )
    dt = torch.nn.functional.softplus(block.dt_proj.bias)
    assert dt.min() >= 1e-4 - 1e-7 and dt.max() <= 0.1 + 1e-6
    assert torch.all(block.D == 1)


def test_mamba_is_causal():
    torch.manual_seed(0)
    block = MambaBlock(16, d_state=4)
    x = torch.randn(1, 10, 16)
    y = block(x)
    x2 = x.clone()
    x2[:, 6:] += 1.0
    assert torch.allclose(block(x2)[:, :6], y[:, :6], atol=1e-6)
    assert not torch.allclose(block(x2)[:, 6:], y[:, 6:])


def _textbook_mamba(block, hidden):
    """Mamba's forward as written in the paper: (B, Di, L) tensors, nn.Conv1d."""
    length = hidden.shape[1]
    x, z = block.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)
    x = torch.nn.functional.silu(block.conv1d(x)[..., :length])
    dt, b, c = torch.split(
        block.x_proj(x.transpose(1, 2)),
        [block.dt_rank, block.d_state, block.d_state],
        dim=-1,
    )
    y = selective_scan_ref(
        x,
        block.dt_proj(dt).transpose(1, 2) - block.dt_proj.bias[:, None],
        -torch.exp(block.A_log),
        b.transpose(1, 2),
        c.transpose(1, 2),
        D=block.D,
        z=z,
        delta_bias=block.dt_proj.bias,
        delta_softplus=True,
    )
    return block.out_proj(y.transpose(1, 2))


@pytest.mark.parametrize("backend", ["torch", "compiled"])
def test_mamba_block_matches_textbook_layout(backend):
    # The block keeps channels contiguous (channels-last convolution, scan
    # on views); values and every gradient must equal the plain layout's.
    if backend == "compiled" and load_cpu_kernel() is None:
        pytest.skip("compiled CPU kernel unavailable (installed without a compiler)")
    torch.manual_seed(0)
    block = MambaBlock(16, d_state=4, scan_backend=backend).double()
    hidden = torch.randn(3, 9, 16, dtype=torch.float64, requires_grad=True)
    out = block(hidden)
    grads = torch.autograd.grad(out.square().sum(), [hidden, *block.parameters()])
    expected = _textbook_mamba(block, hidden)
    expected_grads = torch.autograd.grad(
        expected.square().sum(), [hidden, *block.parameters()]
    )
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    for grad, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("length", [2, 9])
@pytest.mark.parametrize("with_bias", [True, False])
def test_causal_conv_backward_matches_autograd(length, with_bias):
    # The hand-written backward, against numerical gradients; a window
    # shorter than the kernel leaves the far taps without gradient.
    from maat_detector.nn.mamba import _causal_depthwise_conv, _CausalDepthwiseConv

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, length, 5, dtype=torch.float64, generator=gen)
    weight = torch.randn(5, 4, dtype=torch.float64, generator=gen)
    bias = torch.randn(5, dtype=torch.float64, generator=gen) if with_bias else None
    inputs = [t.requires_grad_() for t in (x, weight, bias) if t is not None]
    torch.testing.assert_close(
        _CausalDepthwiseConv.apply(x, weight, bias),
        _causal_depthwise_conv(x, weight, bias),
        rtol=0,
        atol=0,
    )
    assert torch.autograd.gradcheck(
        lambda *t: _CausalDepthwiseConv.apply(*t, *([] if with_bias else [None])),
        inputs,
    )


def test_constants_are_buffers_not_parameters():
    model = MAAT(tiny_config())
    names = dict(model.named_buffers())
    assert "distance" in names and "embedding.position" in names
    assert "distance" not in model.state_dict()


@pytest.mark.gpu
def test_runs_on_cuda_with_bf16_autocast():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    model = MAAT(tiny_config()).to("cuda")
    x = torch.randn(4, 12, 3, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        recon, assocs = model(x)
        scores = window_components(x, recon, assocs)[2]  # the paper's energy
    assert torch.isfinite(scores).all()


@pytest.mark.gpu
def test_state_dict_moves_to_mamba_ssm_and_outputs_match():
    """Our block's weights load into mamba_ssm.Mamba (fused path) and agree."""
    from maat_detector.ssm import fused_scan_available

    if not (torch.cuda.is_available() and fused_scan_available()):
        pytest.skip("needs CUDA and an importable mamba_ssm")
    from mamba_ssm import Mamba

    torch.manual_seed(0)
    ours = MambaBlock(64, d_state=8, scan_backend="torch").to("cuda")
    theirs = Mamba(d_model=64, d_state=8, d_conv=4, expand=2).to("cuda")
    theirs.load_state_dict(ours.state_dict())
    back = MambaBlock(64, d_state=8, scan_backend="cuda").to("cuda")
    back.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 100, 64, device="cuda", requires_grad=True)
    y_ours, y_theirs, y_back = ours(x), theirs(x), back(x)
    torch.testing.assert_close(y_theirs, y_ours, rtol=6e-4, atol=2e-3)
    torch.testing.assert_close(y_back, y_ours, rtol=6e-4, atol=2e-3)
    (g_ours,) = torch.autograd.grad(y_ours.sum(), x)
    (g_theirs,) = torch.autograd.grad(y_theirs.sum(), x)
    torch.testing.assert_close(g_theirs, g_ours, rtol=6e-4, atol=2e-3)
