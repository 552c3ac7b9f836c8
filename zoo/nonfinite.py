"""What went non-finite when a training loss is NaN or infinite: the first parameter holding a NaN/inf, else the
first module (in the order the forward pass runs them) whose output does."""

from __future__ import annotations

import torch
from torch import nn


class NonFiniteLossError(RuntimeError):
    """The training loss is NaN or infinite; the message names the step and the first non-finite place."""

    def __init__(self, step: int, loss: float, culprit: str):
        self.step, self.loss, self.culprit = step, loss, culprit
        super().__init__(
            f"the training loss is {loss} at step {step}: {culprit}. The run stops here (its last checkpoint is "
            "kept); lower optim.lr, keep trainer.gradient_clip_val > 0, or train in trainer.precision=32-true or "
            "bf16-mixed instead of 16-mixed, then resume or start again"
        )


def _non_finite(tensor: object) -> bool:
    return isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())


def first_non_finite(model: nn.Module, inputs: torch.Tensor, lengths: torch.Tensor | None = None,
                     cu_seqlens: torch.Tensor | None = None) -> str:
    """The first parameter of `model` with a NaN/inf; else, running the batch through `model` again without gradients,
    the first module whose output has one; else that the loss alone is non-finite."""
    for name, parameter in model.named_parameters():
        if _non_finite(parameter):
            return f"parameter '{name}' holds NaN/inf values"
    if _non_finite(inputs):
        return f"the inputs hold NaN/inf values (a batch of shape {tuple(inputs.shape)})"
    found: list[str] = []

    def record(name: str):
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            outputs = output if isinstance(output, (tuple, list)) else (output,)
            if not found and any(_non_finite(item) for item in outputs):
                found.append(name)
        return hook

    names = {module: name for name, module in model.named_modules() if name}
    handles = [module.register_forward_hook(record(name)) for module, name in names.items()]
    try:
        with torch.no_grad():
            model(inputs, lengths, cu_seqlens)
    finally:
        for handle in handles:
            handle.remove()
    if found:
        return f"the first non-finite activation is the output of '{found[0]}' (parameters are all finite)"
    return "parameters and activations are finite: the loss itself overflowed (e.g. a target out of range)"
