"""The Mamba block's layout costs: transposes and the causal convolution.

At the paper's size (batch 128, window 100, Di 1024, kernel 4), medians of
``--repeats`` timings into preallocated outputs (copies) or fresh ones
(convolutions, as in a forward pass):

- copies: a (B, Di, L) <-> (B, L, Di) transpose, against the row-wise copies
  the scan's layout conversions now make ((B, Di, L) view of (B, L, Di)
  storage to time-major (L, B, Di), and back);
- the depthwise causal convolution as ``nn.Conv1d`` needs it (transposed
  input, transposed output for the next Linear), against the channels-last
  ``conv2d`` that ``MambaBlock._causal_conv`` runs; forward, and forward with
  backward.

Everything runs inside ``reusing_freed_memory``, as in the detector's fit
and scoring.

Usage::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed/layout.py

Prints its timings; it writes no results file.
"""

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import _common  # noqa: E402

from maat_detector._memory import reusing_freed_memory  # noqa: E402
from maat_detector.nn import MambaBlock  # noqa: E402


def median_ms(func, repeats):
    func()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return 1e3 * statistics.median(times)


def main(argv=None):
    parser = _common.parser(__doc__, threads=2, repeats=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--d-inner", type=int, default=1024)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    batch, length, d_inner = args.batch, args.length, args.d_inner

    channels_last = torch.randn(batch, length, d_inner)
    contiguous = torch.randn(batch, d_inner, length)
    time_major = torch.empty(length, batch, d_inner)
    copies = {
        "transpose (B, Di, L) -> (B, L, Di)": lambda: channels_last.copy_(
            contiguous.transpose(1, 2)
        ),
        "rows (B, L, Di) -> (L, B, Di)": lambda: time_major.copy_(
            channels_last.transpose(0, 1)
        ),
        "rows (L, B, Di) -> (B, L, Di)": lambda: channels_last.copy_(
            time_major.transpose(0, 1)
        ),
    }

    block = MambaBlock(d_inner // 2)  # its conv1d has d_inner channels
    xz = torch.randn(batch, length, 2 * d_inner, requires_grad=True)
    grad = torch.randn(batch, length, d_inner)

    def conv1d():
        x = xz[..., :d_inner].transpose(1, 2)
        return F.silu(block.conv1d(x)[..., :length]).transpose(1, 2).contiguous()

    def channels_last_conv():
        return F.silu(block._causal_conv(xz[..., :d_inner]))

    convs = {
        "nn.Conv1d on (B, Di, L)": conv1d,
        "channels-last conv2d": channels_last_conv,
    }

    with reusing_freed_memory():
        report(copies, convs, grad, args)


def report(copies, convs, grad, args):
    print(
        f"B {args.batch}, L {args.length}, Di {args.d_inner}, {args.threads} threads, "
        f"median of {args.repeats} (ms)"
    )
    for name, func in copies.items():
        print(f"copy  {name:40s} {median_ms(func, args.repeats):7.1f}")
    for name, func in convs.items():
        with torch.no_grad():
            forward = median_ms(func, args.repeats)
        both = median_ms(lambda f=func: f().backward(grad), args.repeats)
        print(f"conv  {name:40s} {forward:7.1f} forward, {both:7.1f} with backward")


if __name__ == "__main__":
    sys.exit(main())
