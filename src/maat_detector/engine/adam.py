"""Adam, computed as ``torch.optim.Adam`` computes it, without ``torch.optim``.

Why not ``torch.optim.Adam``: every ``torch.optim`` optimizer imports
``torch._dynamo`` the first time it is built or stepped (its methods are
wrapped to keep the compiler out). That import took 1.3-1.7 s on the 2-core
development machine, once per process: a third of a small fit at window 100
(the window sweep of ``benchmarks/speed/window_sweep.py`` runs each fit in a
fresh process), and the same delay before every fit in a new worker or a
command-line run. Training needs no compiler, so it steps the parameters with
the same kernels directly:

- ``torch._fused_adam_``, the one-kernel update behind
  ``torch.optim.Adam(fused=True)`` (4-5x faster than a per-tensor loop at the
  paper's size on the CPU), where this torch has it for the device;
- otherwise the per-tensor update of ``torch.optim.Adam(foreach=False)``,
  operation for operation.

Either way the result equals ``torch.optim.Adam``'s with the same flag, bit
for bit (``tests/test_adam.py``).
"""

from __future__ import annotations

import logging

import torch

__all__ = ["Adam"]

logger = logging.getLogger(__name__)


class Adam:
    """Adam without weight decay or AMSGrad: the update the training loop uses.

    Parameters
    ----------
    params : iterable of torch.Tensor
        Parameters to update; those without a gradient at a step are left
        alone, and their moments start at their first gradient.
    lr : float
        Learning rate; the attribute ``lr`` may be changed between steps.
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8
    fused : bool, default=True
        Use the fused kernel where it exists for the parameters' device; if it
        is refused, fall back to the per-tensor update for good.

    Attributes
    ----------
    lr : float
    fused : bool
        Whether the fused kernel is (still) in use.
    """

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, fused=True):
        self.params = list(params)
        self.lr = float(lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.fused = bool(fused) and hasattr(torch, "_fused_adam_")
        # Per parameter: step count (a float32 tensor, as the fused kernel
        # takes it), first and second moments; created at its first gradient.
        self._state = {}

    def zero_grad(self):
        """Drop the gradients (``set_to_none``, as torch's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        """Update every parameter that has a gradient."""
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        states = [self._state_of(p) for p in params]
        steps = [s[0] for s in states]
        exp_avgs = [s[1] for s in states]
        exp_avg_sqs = [s[2] for s in states]
        grads = [p.grad for p in params]
        torch._foreach_add_(steps, 1)
        if self.fused:
            try:
                torch._fused_adam_(
                    params,
                    grads,
                    exp_avgs,
                    exp_avg_sqs,
                    [],
                    steps,
                    amsgrad=False,
                    lr=self.lr,
                    beta1=self.beta1,
                    beta2=self.beta2,
                    weight_decay=0.0,
                    eps=self.eps,
                    maximize=False,
                )
                return
            except (RuntimeError, NotImplementedError) as exc:
                # Raised at dispatch, before any tensor changed.
                logger.info("fused Adam unavailable (%s); using the loop", exc)
                self.fused = False
        for param, grad, exp_avg, exp_avg_sq, step in zip(
            params, grads, exp_avgs, exp_avg_sqs, steps, strict=True
        ):
            self._update(param, grad, exp_avg, exp_avg_sq, step.item())

    def _state_of(self, param):
        state = self._state.get(param)
        if state is None:
            state = (
                torch.zeros((), dtype=torch.float32, device=param.device),
                torch.zeros_like(param, memory_format=torch.preserve_format),
                torch.zeros_like(param, memory_format=torch.preserve_format),
            )
            self._state[param] = state
        return state

    def _update(self, param, grad, exp_avg, exp_avg_sq, step):
        """torch's single-tensor Adam step, operation for operation."""
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bias_correction1 = 1 - self.beta1**step
        bias_correction2 = 1 - self.beta2**step
        step_size = self.lr / bias_correction1
        denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)
