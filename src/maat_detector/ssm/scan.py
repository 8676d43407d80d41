"""Selective scan (Mamba S6 recurrence): sequential reference and fast CPU path.

Shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:

- ``u``, ``delta``, ``z``: (B, Di, L), batch, inner channels, time
- ``A``: (Di, N) real, N the state size
- ``B``, ``C``: (B, N, L), input-dependent
- ``D``, ``delta_bias``: (Di,)

The recurrence (MODEL.md section 7, Gu & Dao 2023, Algorithm 2)::

    Δ = softplus(delta + delta_bias)                  # each step optional
    h_t = exp(Δ_t A) * h_{t-1} + Δ_t B_t u_t          # h: (B, Di, N), h_{-1} = 0
    y_t = <C_t, h_t> + D u_t;   y = y * silu(z)

:func:`selective_scan_ref` is the plain loop, kept as the test oracle.
:func:`selective_scan` dispatches to ``mamba_ssm``'s fused CUDA kernel, to
the compiled CPU kernel (``_cpu_kernel.cpp``, built when the package is
installed; see ``_cpu.py``) or to the pure-PyTorch path below, which is
what runs where neither kernel is available.

The pure-PyTorch path is one custom :class:`torch.autograd.Function`; the
choices that make it fast on CPU, each measured with
``benchmarks/speed/scan.py``:

- Time-major tensors (L, B, Di): each step reads contiguous slices and
  updates the state in place. The state is (B, N, Di), Di contiguous, so
  broadcasts run along rows and the reductions over N and Di are ``bmm``.
- ``exp(Δ_t A)`` and ``Δ_t B_t u_t`` are formed one step at a time: the
  (B, Di, L, N) tensors of the naive loop never exist.
- The batch is scanned in tiles whose state is ~512 KiB, so a step's
  elementwise passes stay in L2 cache. The tiles are spread over
  ``torch.get_num_threads()`` Python threads, each op single-threaded
  (forward and backward 1.4-1.6x faster on 2 threads than one tile loop;
  ``benchmarks/speed/scan.py --impls torch --d-state 8 --threads 2``).
- A hand-written backward (reverse-time scan) instead of autograd through
  L small steps. The forward keeps the state only at chunk starts (every
  ~sqrt(L) steps); the backward recomputes one chunk at a time. Saved
  memory is O(L/K B Di N) plus the time-major inputs, not O(L B Di N).
- Bias, softplus, ``D`` and the ``silu(z)`` gate run inside the Function on
  the time-major tensors; autograd on mixed layouts was slower than the
  scan itself.

All of it is deterministic on CPU: no atomics, fixed reduction order.
"""

import math

import torch
import torch.nn.functional as F

from ._cpu import load_cpu_kernel
from ._cuda import load_fused_scan
from ._threads import for_each_range
from .backend import fused_scan_available, resolve_scan_backend

__all__ = [
    "fused_scan_available",
    "resolve_scan_backend",
    "selective_scan",
    "selective_scan_ref",
]


# --------------------------------------------------------------------------
# Input checks and dtype
# --------------------------------------------------------------------------
def _check_shapes(u, delta, A, B, C, D, z, delta_bias):
    if u.dim() != 3:
        raise ValueError(f"u must have shape (B, Di, L), got {tuple(u.shape)}.")
    batch, d_inner, length = u.shape
    if A.dim() != 2 or A.shape[0] != d_inner:
        raise ValueError(
            f"A must have shape (Di, N) = ({d_inner}, N), got {tuple(A.shape)}."
        )
    if A.is_complex():
        raise TypeError("complex A is not supported; pass a real (Di, N) tensor.")
    d_state = A.shape[1]
    expected = {
        "delta": (delta, (batch, d_inner, length)),
        "B": (B, (batch, d_state, length)),
        "C": (C, (batch, d_state, length)),
        "z": (z, (batch, d_inner, length)),
        "D": (D, (d_inner,)),
        "delta_bias": (delta_bias, (d_inner,)),
    }
    for name, (tensor, shape) in expected.items():
        if tensor is not None and tuple(tensor.shape) != shape:
            raise ValueError(
                f"{name} must have shape {shape} (time-invariant or grouped B/C "
                f"are not supported), got {tuple(tensor.shape)}."
            )


def _compute_dtype(*tensors):
    # float32 at least; float64 anywhere keeps the whole scan in float64.
    if any(t is not None and t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


def _prepare_delta(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


# --------------------------------------------------------------------------
# Sequential reference
# --------------------------------------------------------------------------
def selective_scan_ref(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
):
    """Selective scan as a plain time loop (test oracle; slow).

    Same signature and semantics as :func:`selective_scan` without the
    ``backend`` keyword. Differentiable through ordinary autograd.

    Parameters
    ----------
    u : Tensor of shape (B, Di, L)
    delta : Tensor of shape (B, Di, L)
    A : Tensor of shape (Di, N)
    B, C : Tensor of shape (B, N, L)
    D : Tensor of shape (Di,), optional
    z : Tensor of shape (B, Di, L), optional
    delta_bias : Tensor of shape (Di,), optional
    delta_softplus : bool, default=False
    return_last_state : bool, default=False

    Returns
    -------
    y : Tensor of shape (B, Di, L), dtype of ``u``
    last_state : Tensor of shape (B, Di, N), only if ``return_last_state``
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    dtype = _compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    u_c, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    delta_bias = None if delta_bias is None else delta_bias.to(dtype)
    delta = _prepare_delta(delta, delta_bias, delta_softplus)

    batch, d_inner, length = u.shape
    h = u_c.new_zeros(batch, d_inner, A.shape[1])
    ys = []
    for t in range(length):
        d_t = delta[:, :, t, None]  # (B, Di, 1)
        decay = torch.exp(d_t * A)  # (B, Di, N)
        drive = d_t * B[:, None, :, t] * u_c[:, :, t, None]  # (B, Di, N)
        h = decay * h + drive
        ys.append((h * C[:, None, :, t]).sum(-1))  # (B, Di)
    y = torch.stack(ys, dim=-1)  # (B, Di, L)
    if D is not None:
        y = y + D.to(dtype)[:, None] * u_c
    if z is not None:
        y = y * F.silu(z.to(dtype))
    y = y.to(u.dtype)
    return (y, h) if return_last_state else y


# --------------------------------------------------------------------------
# Fast pure-PyTorch scan, time-major
# --------------------------------------------------------------------------
# Batch rows per tile: the per-step state of one tile, tile * N * Di floats,
# is kept near 2**17 (512 KiB in float32) so the ~20 elementwise passes of a
# step hit L2 cache instead of L3/DRAM. Measured at Di 1024, 1 thread:
# fwd+bwd 0.80 s untiled -> 0.55 s (N 16, tile 8); 0.53 -> 0.33 s (N 8, 16).
_TILE_ELEMENTS = 2**17

# Below this many state elements per tile, avoid the two ops that call MKL
# (exp through VML, bmm through batched gemm): MKL wakes its thread pool even
# for tiny inputs, and on an oversubscribed machine each such call took
# ~20 ms instead of ~10 us with 2 threads. exp2 and mul + sum are native
# ATen kernels that stay single-threaded under the parallel grain size. On
# large tiles exp (VML) is 2x faster than exp2 and bmm saves a pass.
_SMALL_TILE_ELEMENTS = 2**15

_LOG2E = 1.4426950408889634  # exp(x) = exp2(x * log2(e))


def _chunk_size(length):
    # K ~ sqrt(L) minimises the saved states L/K plus the recomputed chunk K.
    return math.isqrt(max(length - 1, 0)) + 1


def _batch_tiles(u, d_state):
    batch, d_inner = u.shape[1], u.shape[2]
    if u.device.type != "cpu":
        # On a GPU small tiles only add kernel launches.
        return [(0, batch)]
    size = max(1, _TILE_ELEMENTS // (d_state * d_inner))
    return [(b0, min(b0 + size, batch)) for b0 in range(0, batch, size)]


class _StepOps:
    """The three per-step primitives, in a large-tile or a small-tile flavour.

    decay(delta_row, out): out = exp(Δ_t A), (b, N, Di), delta_row (b, 1, Di)
    sum_state(w, x, out):  out[b, 0, d] = sum_n w[b, n] x[b, n, d]
    sum_channels(x, w, out): out[b, n, 0] = sum_d x[b, n, d] w[b, d]
    """

    def __init__(self, a_t, rows, scratch):
        d_state, d_inner = a_t.shape
        self.small = (
            a_t.device.type == "cpu" and rows * d_state * d_inner < _SMALL_TILE_ELEMENTS
        )
        self.a_t = a_t
        self.a2_t = a_t * _LOG2E if self.small else None
        self.scratch = scratch  # (b, N, Di) buffer for the small flavour

    def decay(self, delta_row, out):
        if self.small:
            torch.mul(delta_row, self.a2_t, out=out)
            return out.exp2_()
        torch.mul(delta_row, self.a_t, out=out)
        return out.exp_()

    def sum_state(self, w, x, out):
        if self.small:
            torch.mul(x, w.unsqueeze(-1), out=self.scratch)
            return torch.sum(self.scratch, dim=1, keepdim=True, out=out)
        return torch.bmm(w.unsqueeze(1), x, out=out)

    def sum_channels(self, x, w, out):
        if self.small:
            torch.mul(x, w.unsqueeze(1), out=self.scratch)
            return torch.sum(self.scratch, dim=2, keepdim=True, out=out)
        return torch.bmm(x, w.unsqueeze(-1), out=out)


def _scan_forward(delta, A_T, Bm, Cm, u, chunk):
    """Run the recurrence; return y (L, B, Di), h_last (B, N, Di), saved states.

    delta, u: (L, B, Di); Bm, Cm: (L, B, N); A_T: (N, Di); all contiguous.
    The state is kept as (B, N, Di): Di is the long, contiguous axis, so the
    elementwise ops broadcast along rows and both reductions over N
    (``<C_t, h_t>``) and over Di (in the backward) are batched matmuls.
    ``starts[c]`` is the state entering chunk ``c`` (steps ``c*chunk ...``);
    with ``chunk=None`` nothing is saved (inference).
    """
    length, batch, d_inner = u.shape
    d_state = A_T.shape[0]
    y = torch.empty_like(u)
    h_last = u.new_empty(batch, d_state, d_inner)
    starts = None
    if chunk is not None:
        starts = u.new_empty(-(-length // chunk), batch, d_state, d_inner)
    drive = delta * u  # Δ_t u_t, (L, B, Di)

    def scan_tile(b0, b1):
        rows = b1 - b0
        decay = u.new_empty(rows, d_state, d_inner)
        ops = _StepOps(A_T, rows, torch.empty_like(decay))
        # Slicing the batch of a time-major tensor keeps every step contiguous.
        h = h_last[b0:b1].zero_()
        # unbind once: per-step views without per-step indexing overhead.
        delta_t = delta[:, b0:b1].unsqueeze(2).unbind(0)  # (b, 1, Di)
        drive_t = drive[:, b0:b1].unsqueeze(2).unbind(0)  # (b, 1, Di)
        b_t = Bm[:, b0:b1].unsqueeze(-1).unbind(0)  # (b, N, 1)
        c_t = Cm[:, b0:b1].unbind(0)  # (b, N)
        y_t = y[:, b0:b1].unsqueeze(2).unbind(0)  # (b, 1, Di)
        for t in range(length):
            if starts is not None and t % chunk == 0:
                starts[t // chunk, b0:b1].copy_(h)
            ops.decay(delta_t[t], decay)  # exp(Δ_t A)
            h.mul_(decay).addcmul_(b_t[t], drive_t[t])  # + B_t Δ_t u_t
            ops.sum_state(c_t[t], h, y_t[t])  # y_t = <C_t, h_t>

    tiles = _batch_tiles(u, d_state)
    for_each_range(tiles, scan_tile, u.device)
    return y, h_last, starts


def _scan_backward(dy, dh_last, delta, A_T, Bm, Cm, u, starts, chunk):
    """Reverse-time scan: gradients w.r.t. delta, A_T, Bm, Cm, u.

    With dh_t = dL/dh_t (its own output term plus the carry from t + 1)::

        dh_t   = C_t dy_t + exp(Δ_{t+1} A) dh_{t+1}
        dC_t   = sum_Di dy_t h_t          dB_t = sum_Di dh_t Δ_t u_t
        g_t    = dh_t exp(Δ_t A) h_{t-1}  (gradient w.r.t. Δ_t A)
        dΔ_t   = sum_N A g_t + u_t sum_N B_t dh_t
        du_t   = Δ_t sum_N B_t dh_t       dA = sum_{B,t} Δ_t g_t
    """
    length, batch, d_inner = u.shape
    d_state = A_T.shape[0]
    if dy is None:
        dy = torch.zeros_like(u)
    drive = delta * u  # Δ_t u_t
    d_delta = torch.empty_like(delta)
    d_u = torch.empty_like(u)
    d_B = torch.empty_like(Bm)
    d_C = torch.empty_like(Cm)
    tiles = _batch_tiles(u, d_state)
    # dA per tile, summed in tile order at the end: the same sums whichever
    # thread ran which tile.
    d_A = u.new_zeros(len(tiles), tiles[0][1], d_state, d_inner)

    def scan_tile(b0, b1):
        rows = b1 - b0
        dh = u.new_empty(rows, d_state, d_inner)
        g = torch.empty_like(dh)
        ops = _StepOps(A_T, rows, torch.empty_like(dh))
        d_a = d_A[b0 // tiles[0][1], :rows]
        d_drive = u.new_empty(rows, 1, d_inner)
        d_drive_row = d_drive.squeeze(1)  # (b, Di)
        # states[j] = h_{t0+j-1}, decays[j] = exp(Δ_{t0+j} A) within a chunk
        states = u.new_empty(chunk + 1, rows, d_state, d_inner).unbind(0)
        decays = u.new_empty(chunk, rows, d_state, d_inner).unbind(0)
        if dh_last is None:
            dh.zero_()
        else:
            dh.copy_(dh_last[b0:b1])
        delta_t = delta[:, b0:b1].unsqueeze(2).unbind(0)  # (b, 1, Di)
        drive_t = drive[:, b0:b1].unsqueeze(2).unbind(0)  # (b, 1, Di)
        drive_flat = drive[:, b0:b1].unbind(0)  # (b, Di)
        u_t = u[:, b0:b1].unbind(0)  # (b, Di)
        b_t = Bm[:, b0:b1].unsqueeze(-1).unbind(0)  # (b, N, 1)
        b_flat = Bm[:, b0:b1].unbind(0)  # (b, N)
        c_t = Cm[:, b0:b1].unsqueeze(-1).unbind(0)  # (b, N, 1)
        dy_row = dy[:, b0:b1].unsqueeze(2).unbind(0)  # (b, 1, Di)
        dy_flat = dy[:, b0:b1].unbind(0)  # (b, Di)
        d_b_t = d_B[:, b0:b1].unsqueeze(-1).unbind(0)  # (b, N, 1)
        d_c_t = d_C[:, b0:b1].unsqueeze(-1).unbind(0)  # (b, N, 1)
        d_delta_t = d_delta[:, b0:b1].unbind(0)  # (b, Di)
        d_u_t = d_u[:, b0:b1].unbind(0)  # (b, Di)

        for t0 in range((len(starts) - 1) * chunk, -1, -chunk):
            t1 = min(t0 + chunk, length)
            # Recompute this chunk's states from its saved start, exactly as
            # the forward computed them.
            states[0].copy_(starts[t0 // chunk, b0:b1])
            for t in range(t0, t1):
                j = t - t0
                ops.decay(delta_t[t], decays[j])
                torch.mul(decays[j], states[j], out=states[j + 1])
                states[j + 1].addcmul_(b_t[t], drive_t[t])
            for t in range(t1 - 1, t0 - 1, -1):
                j = t - t0
                # y_t = <C_t, h_t>
                ops.sum_channels(states[j + 1], dy_flat[t], d_c_t[t])
                dh.addcmul_(c_t[t], dy_row[t])
                # h_t = ... + B_t (Δ_t u_t)
                ops.sum_channels(dh, drive_flat[t], d_b_t[t])
                ops.sum_state(b_flat[t], dh, d_drive)
                # h_t = exp(Δ_t A) h_{t-1} + ...: carry dh to h_{t-1} first;
                # then g = carry * h_{t-1} is the gradient w.r.t. Δ_t A.
                dh.mul_(decays[j])
                torch.mul(dh, states[j], out=g)
                d_a.addcmul_(g, delta_t[t])
                g.mul_(A_T)
                torch.sum(g, dim=1, out=d_delta_t[t])
                d_delta_t[t].addcmul_(d_drive_row, u_t[t])
                torch.mul(d_drive_row, delta_t[t].squeeze(1), out=d_u_t[t])

    for_each_range(tiles, scan_tile, u.device)
    return d_delta, d_A.sum((0, 1)), d_B, d_C, d_u


def _to_time_major(t, dtype):
    # (B, X, L) -> contiguous (L, B, X), cast included.
    out = torch.empty(
        (t.shape[2], t.shape[0], t.shape[1]), dtype=dtype, device=t.device
    )
    if t.device.type != "cpu" or t.stride(1) == 1:
        # A (B, X, L) view of (B, L, X) storage (what the Mamba block passes)
        # copies row by row: 5 ms at 128x1024x100 (benchmarks/speed/layout.py).
        return out.copy_(t.permute(2, 0, 1))
    # One 2-D transpose per batch row: a single permuted copy of a
    # contiguous (B, X, L) walks the source with a B*X stride and was ~4x
    # slower (84 ms vs 22 ms at 64x1024x100).
    for b in range(t.shape[0]):
        out[:, b].copy_(t[b].t())
    return out


def _from_time_major(t, dtype):
    # (L, B, X) -> (B, X, L), as a view of (B, L, X) storage: the copy moves
    # whole rows (a contiguous (B, X, L) result is a transpose, ~3x slower;
    # benchmarks/speed/layout.py), and it is the layout out_proj reads.
    out = torch.empty(
        (t.shape[1], t.shape[0], t.shape[2]), dtype=dtype, device=t.device
    )
    return out.copy_(t.transpose(0, 1)).transpose(1, 2)


def _forward_time_major(u, delta, A, B, C, D, z, delta_bias, softplus, chunk):
    """Whole forward in time-major layout; returns output and what backward needs.

    Every elementwise op (bias, softplus, D, gate) runs on contiguous
    (L, B, Di) tensors: mixing a (B, Di, L) operand with a time-major one
    makes the inner loop stride by B*Di and was ~10x slower than the copy.
    """
    dtype = _compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    delta_raw = _to_time_major(delta, dtype)  # (L, B, Di)
    if delta_bias is not None:
        delta_raw += delta_bias.to(dtype)
    step = F.softplus(delta_raw) if softplus else delta_raw  # Δ
    u_t = _to_time_major(u, dtype)
    b_t = _to_time_major(B, dtype)  # (L, B, N)
    c_t = _to_time_major(C, dtype)
    a_t = A.to(dtype).t().contiguous()  # (N, Di)
    y, h_last, starts = _scan_forward(step, a_t, b_t, c_t, u_t, chunk)
    if D is not None:
        y.addcmul_(u_t, D.to(dtype))
    z_t = None
    out = y
    if z is not None:
        z_t = _to_time_major(z, dtype)
        out = y * F.silu(z_t)
    # y before the gate is only needed for dz.
    saved = (delta_raw, a_t, b_t, c_t, u_t, z_t, None if z is None else y, starts)
    return out, h_last, saved


def _dtypes(*tensors):
    """Each input's dtype (None for an absent one): what its gradient is cast to."""
    return [None if t is None else t.dtype for t in tensors]


class _SelectiveScanFn(torch.autograd.Function):
    """The whole selective scan with a hand-written backward.

    Inputs and outputs are in the caller's (B, Di, L) layout and dtypes;
    everything in between is time-major in the compute dtype.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):
        chunk = _chunk_size(u.shape[2])
        out, h_last, saved = _forward_time_major(
            u, delta, A, B, C, D, z, delta_bias, softplus, chunk
        )
        dtype = out.dtype
        ctx.save_for_backward(*saved, D if D is None else D.to(dtype))
        ctx.chunk = chunk
        ctx.softplus = softplus
        ctx.dtypes = _dtypes(u, delta, A, B, C, D, z, delta_bias)
        ctx.set_materialize_grads(False)
        return _from_time_major(out, u.dtype), h_last.transpose(1, 2).contiguous()

    @staticmethod
    def backward(ctx, d_out, d_last):
        delta_raw, a_t, b_t, c_t, u_t, z_t, y, starts, D = ctx.saved_tensors
        dtype = u_t.dtype
        needs = ctx.needs_input_grad
        step = F.softplus(delta_raw) if ctx.softplus else delta_raw
        d_z = d_D = None
        if d_out is None:
            dy = None
        else:
            dy = _to_time_major(d_out, dtype)  # (L, B, Di)
            if z_t is not None:
                sig = torch.sigmoid(z_t)
                if needs[6]:
                    # silu'(z) = s (1 + z (1 - s)), s = sigmoid(z)
                    d_z = dy * y * sig * (1 + z_t * (1 - sig))
                dy.mul_(z_t * sig)  # dL/dy = d_out * silu(z)
            if D is not None and needs[5]:
                d_D = (dy * u_t).sum((0, 1))
        if d_last is not None:
            d_last = d_last.transpose(1, 2)  # (B, N, Di)
        d_step, d_a_t, d_b, d_c, d_u = _scan_backward(
            dy, d_last, step, a_t, b_t, c_t, u_t, starts, ctx.chunk
        )
        if D is not None and dy is not None:
            d_u.addcmul_(dy, D)
        if ctx.softplus:
            d_step.mul_(torch.sigmoid(delta_raw))  # softplus' = sigmoid
        d_bias = d_step.sum((0, 1)) if needs[7] else None

        dt = ctx.dtypes
        grads = [
            _from_time_major(d_u, dt[0]) if needs[0] else None,
            _from_time_major(d_step, dt[1]) if needs[1] else None,
            d_a_t.t().to(dt[2]) if needs[2] else None,
            _from_time_major(d_b, dt[3]) if needs[3] else None,
            _from_time_major(d_c, dt[4]) if needs[4] else None,
            None if d_D is None else d_D.to(dt[5]),
            None if d_z is None else _from_time_major(d_z, dt[6]),
            None if d_bias is None else d_bias.to(dt[7]),
            None,
        ]
        return tuple(grads)


class _CompiledScanFn(torch.autograd.Function):
    """The whole selective scan in the compiled CPU kernel (``_cpu_kernel.cpp``).

    The kernel reads (B, Di, L) inputs with any strides, writes (B, Di, L)
    views of (B, L, Di) storage, and applies the bias, softplus, ``D`` and
    gate itself; its backward recomputes the states. Only the inputs, cast
    to the compute dtype, are saved.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):
        inputs = _compiled_inputs(u, delta, A, B, C, D, z, delta_bias)
        out, h_last = load_cpu_kernel().scan_forward(*inputs, softplus)
        ctx.save_for_backward(*(t for t in inputs if t is not None))
        ctx.present = [t is not None for t in inputs]
        ctx.softplus = softplus
        ctx.dtypes = _dtypes(u, delta, A, B, C, D, z, delta_bias)
        ctx.set_materialize_grads(False)
        return out.to(u.dtype), h_last

    @staticmethod
    def backward(ctx, d_out, d_last):
        saved = iter(ctx.saved_tensors)
        inputs = [next(saved) if present else None for present in ctx.present]
        dtype = inputs[0].dtype
        if d_out is not None:
            d_out = d_out.to(dtype)
        if d_last is not None:
            d_last = d_last.to(dtype).contiguous()
        grads = load_cpu_kernel().scan_backward(d_out, d_last, *inputs, ctx.softplus)
        needs = ctx.needs_input_grad
        return tuple(
            None if g is None or not needs[i] else g.to(ctx.dtypes[i])
            for i, g in enumerate(grads)
        ) + (None,)


def _compiled_inputs(u, delta, A, B, C, D, z, delta_bias):
    """The kernel's inputs in the compute dtype (None stays None).

    ``u``, ``delta`` and ``z`` keep their strides (the kernel reads any);
    the small ``A``, ``B``, ``C``, ``D`` and bias are made contiguous.
    """
    dtype = _compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    strided = (True, True, False, False, False, False, True, False)
    return [
        None if t is None else (t.to(dtype) if keep else t.to(dtype).contiguous())
        for t, keep in zip((u, delta, A, B, C, D, z, delta_bias), strided, strict=True)
    ]


def _selective_scan_torch(
    u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, compiled
):
    """The PyTorch scan, or the compiled CPU kernel when ``compiled``."""
    if torch.is_autocast_enabled(u.device.type):
        # The scan computes in float32 (or float64); autocast would turn its
        # per-step bmm into bfloat16 products: slower, and less exact.
        with torch.autocast(u.device.type, enabled=False):
            return _selective_scan_torch(
                u,
                delta,
                A,
                B,
                C,
                D,
                z,
                delta_bias,
                delta_softplus,
                return_last_state,
                compiled,
            )
    inputs = (u, delta, A, B, C, D, z, delta_bias)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in inputs
    )
    if compiled and needs_grad:
        y, h_last = _CompiledScanFn.apply(*inputs, bool(delta_softplus))
    elif compiled:
        out, h_last = load_cpu_kernel().scan_forward(
            *_compiled_inputs(*inputs), bool(delta_softplus)
        )
        y = out.to(u.dtype)
    elif needs_grad:
        y, h_last = _SelectiveScanFn.apply(*inputs, bool(delta_softplus))
    else:
        out, h_last, _ = _forward_time_major(*inputs, delta_softplus, chunk=None)
        y = _from_time_major(out, u.dtype)
        h_last = h_last.transpose(1, 2).contiguous()
    return (y, h_last) if return_last_state else y


# --------------------------------------------------------------------------
# Public dispatcher
# --------------------------------------------------------------------------
def selective_scan(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
    *,
    backend="auto",
):
    """Selective scan with ``mamba_ssm``'s ``selective_scan_fn`` signature.

    Computes the S6 recurrence of Mamba::

        Δ = softplus(delta + delta_bias)   (bias, softplus optional)
        h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t,   h_{-1} = 0
        y_t = C_t · h_t + D u_t,   y = y * silu(z)

    in float32 (float16/bfloat16 inputs are promoted; float64 stays float64)
    and returns ``y`` in the dtype of ``u``.

    Parameters
    ----------
    u : Tensor of shape (B, Di, L)
        Input sequence.
    delta : Tensor of shape (B, Di, L)
        Step sizes before ``delta_bias`` and softplus.
    A : Tensor of shape (Di, N)
        Real state matrix (diagonal per channel); negative for a stable scan.
    B, C : Tensor of shape (B, N, L)
        Input-dependent input and output projections.
    D : Tensor of shape (Di,), optional
        Skip connection weight.
    z : Tensor of shape (B, Di, L), optional
        Gate; the output is multiplied by ``silu(z)``.
    delta_bias : Tensor of shape (Di,), optional
        Added to ``delta`` before the softplus.
    delta_softplus : bool, default=False
        Apply softplus to ``delta`` (after the bias).
    return_last_state : bool, default=False
        Also return the final state ``h_{L-1}``.
    backend : {"auto", "torch", "cuda", "compiled"}, default="auto"
        ``"auto"``: the fused ``mamba_ssm`` kernel if it imports and the
        tensors are on CUDA (and not float64), the compiled CPU kernel if it
        was built and they are on the CPU, else the pure-PyTorch scan.
        ``"cuda"`` requires the fused kernel, ``"compiled"`` the compiled CPU
        kernel; see :func:`resolve_scan_backend`.

    Returns
    -------
    y : Tensor of shape (B, Di, L)
        In the dtype of ``u``. On the CPU backends a transposed view of
        (B, L, Di) storage (what a following Linear reads); call
        ``.contiguous()`` if you need the (B, Di, L) memory layout.
    last_state : Tensor of shape (B, Di, N)
        Only if ``return_last_state``; in the compute dtype (float32 or
        float64). On the pure-PyTorch path gradients flow through it too.

    See Also
    --------
    selective_scan_ref : the sequential oracle.
    resolve_scan_backend : the backend choice, made once.

    Examples
    --------
    >>> import torch
    >>> from maat_detector.ssm import selective_scan
    >>> u = torch.randn(2, 4, 7)
    >>> A = -torch.rand(4, 3)
    >>> B, C = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    >>> selective_scan(u, torch.rand(2, 4, 7), A, B, C, backend="torch").shape
    torch.Size([2, 4, 7])
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    compiled = False
    if backend == "auto":
        # Per-call choice without logging; resolve_scan_backend reports it once.
        use_fused = u.is_cuda and u.dtype != torch.float64 and fused_scan_available()
        compiled = u.device.type == "cpu" and load_cpu_kernel() is not None
    else:
        resolved = resolve_scan_backend(backend, u.device, param_name="backend")
        use_fused = resolved == "cuda"
        compiled = resolved == "compiled"
        if use_fused and u.dtype == torch.float64:
            raise TypeError(
                "the fused mamba-ssm kernel has no float64 version; cast to "
                "float32 or pass backend='torch'."
            )
    if use_fused:
        return load_fused_scan()(
            u,
            delta,
            A,
            B,
            C,
            D=D,
            z=z,
            delta_bias=delta_bias,
            delta_softplus=delta_softplus,
            return_last_state=return_last_state,
        )
    return _selective_scan_torch(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state, compiled
    )
