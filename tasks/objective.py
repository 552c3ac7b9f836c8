"""What a task optimises and reports: its loss and its torchmetrics `MetricCollection`, both following from its
`TaskIO` (so that a LightningModule rebuilt from saved hyperparameters has them again).

Metric names (`TaskIO.metrics`) and the keys they are logged under (`<split>/<key>`):

| name | key | what | better |
|---|---|---|---|
| accuracy | acc | share of correct classes (micro, ignoring `ignore_index`) | max |
| f1 | f1 | macro-averaged F1 over the classes | max |
| mcc | mcc | Matthews correlation coefficient | max |
| perplexity | ppl | exp of the mean per-token cross-entropy (language modelling) | min |
| bits_per_token | bpt | mean per-token cross-entropy in bits (bits per byte / base for byte-level data) | min |
| mse | mse | mean squared error | min |
| mae | mae | mean absolute error | min |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchmetrics import (
    MeanAbsoluteError,
    MeanMetric,
    MeanSquaredError,
    Metric,
    MetricCollection,
)
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassMatthewsCorrCoef,
)
from torchmetrics.text import Perplexity
from zoo.tasks.base import TaskIO


class BitsPerToken(MeanMetric):
    """Mean cross-entropy per predicted token, in bits: logits `[N, C]`, targets `[N]` (`ignore_index` skipped)."""

    def __init__(self, ignore_index: int = -100) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:  # type: ignore[override]
        keep = targets != self.ignore_index
        nats = F.cross_entropy(logits[keep].float(), targets[keep], reduction="none")
        super().update(nats / math.log(2))


@dataclass(frozen=True)
class MetricSpec:
    """A metric a task can ask for: the key it is logged under, whether higher is better, its kind of task, and
    whether it needs a prediction at every position (`TaskIO.per_token`)."""

    key: str
    higher_is_better: bool
    classification: bool
    per_token: bool = False


METRICS = {
    "accuracy": MetricSpec("acc", True, True),
    "f1": MetricSpec("f1", True, True),
    "mcc": MetricSpec("mcc", True, True),
    "perplexity": MetricSpec("ppl", False, True, per_token=True),
    "bits_per_token": MetricSpec("bpt", False, True),
    "mse": MetricSpec("mse", False, False),
    "mae": MetricSpec("mae", False, False),
}


def metric_mode(logged: str) -> str | None:
    """"max" or "min": which way a logged metric (`val/acc`, `val/loss`, ...) gets better; None for a key that no
    metric here logs."""
    key = logged.rsplit("/", 1)[-1]
    if key == "loss":
        return "min"
    for spec in METRICS.values():
        if spec.key == key:
            return "max" if spec.higher_is_better else "min"
    return None


def _metric(name: str, io: TaskIO) -> Metric:
    classes, ignore = io.num_outputs, io.ignore_index
    if name == "accuracy":
        return MulticlassAccuracy(classes, average="micro", ignore_index=ignore)
    if name == "f1":
        return MulticlassF1Score(classes, average="macro", ignore_index=ignore)
    if name == "mcc":
        return MulticlassMatthewsCorrCoef(classes, ignore_index=ignore)
    if name == "perplexity":
        return Perplexity(ignore_index=ignore)
    if name == "bits_per_token":
        return BitsPerToken(ignore_index=ignore)
    return MeanSquaredError() if name == "mse" else MeanAbsoluteError()


class Objective:
    """The loss and metrics of a task: cross-entropy for class outputs (per token, sequence or pair), mean squared
    error for regression; metrics as `TaskIO.metrics` names them.

    Targets are class ids, or, for `classifier` outputs `[B, C]`, soft targets float `[B, C]` (class probabilities,
    as mixup and label smoothing make): their loss is the cross-entropy with those probabilities, and metrics count
    their most probable class as the target."""

    def __init__(self, io: TaskIO) -> None:
        unknown = [name for name in io.metrics if name not in METRICS]
        if unknown or not io.metrics:
            raise ValueError(f"unknown or no metric(s) {unknown}; choose from: {', '.join(METRICS)}")
        self.io = io
        self.classification = io.outputs != "regression"
        misplaced = [name for name in io.metrics if METRICS[name].classification != self.classification]
        if misplaced:
            raise ValueError(f"metric(s) {misplaced} do not apply to '{io.outputs}' outputs")
        per_token = [name for name in io.metrics if METRICS[name].per_token and not io.per_token]
        if per_token:
            raise ValueError(f"metric(s) {per_token} need a prediction per token; '{io.outputs}' outputs make one per "
                             "sequence")

    def metrics(self, split: str) -> MetricCollection:
        """Fresh metrics for one split, logged as `<split>/<key>`."""
        return MetricCollection({METRICS[name].key: _metric(name, self.io) for name in self.io.metrics},
                                prefix=f"{split}/")

    def group_metrics(self, split: str) -> dict[str, MetricCollection]:
        """Per group of `TaskIO.groups`, a fresh metric of the task's first metric, logged as
        `<split>/<group>/<key>`; empty when the task names no groups."""
        name = self.io.metrics[0]
        return {group: MetricCollection({METRICS[name].key: _metric(name, self.io)}, prefix=f"{split}/{group}/")
                for group in self.io.groups}

    @property
    def monitor(self) -> tuple[str, str]:
        """The validation metric that picks the best checkpoint, and "max" or "min"."""
        spec = METRICS[self.io.metrics[0]]
        return f"val/{spec.key}", "max" if spec.higher_is_better else "min"

    def soft(self, outputs: torch.Tensor, targets: torch.Tensor) -> bool:
        """Whether `targets` are soft: float class probabilities `[B, C]` beside classifier logits `[B, C]`."""
        return self.io.outputs == "classifier" and targets.is_floating_point() and targets.shape == outputs.shape

    def flatten(self, outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class outputs as logits `[N, C]` with targets `[N]` (per-token outputs `[B, T, C]` flattened; soft targets
        `[B, C]` as they are); regression outputs and targets as they are, `[B, horizon, C]`. Shape mismatches raise
        naming both shapes."""
        if not self.classification or self.soft(outputs, targets):
            if outputs.shape != targets.shape:
                raise ValueError(f"regression outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ")
            return outputs.float(), targets.float()
        if outputs.shape[:-1] != targets.shape:
            raise ValueError(
                f"class outputs {tuple(outputs.shape)} need targets of shape {tuple(outputs.shape[:-1])}, got "
                f"{tuple(targets.shape)}"
            )
        return outputs.flatten(0, -2), targets.flatten()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss of a batch (cross-entropy in float32 for classes, MSE for values)."""
        outputs, targets = self.flatten(outputs, targets)
        if not self.classification:
            return F.mse_loss(outputs, targets)
        if targets.is_floating_point():  # soft targets: cross-entropy with the class probabilities
            return F.cross_entropy(outputs.float(), targets.float())
        return F.cross_entropy(outputs.float(), targets, ignore_index=self.io.ignore_index)

    def update(self, metrics: MetricCollection, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Accumulate a batch into `metrics` (perplexity reads per-token logits `[B, T, V]`; the rest flat ones, soft
        targets as their most probable class)."""
        if self.soft(outputs, targets):
            targets = targets.argmax(-1)
        flat_outputs, flat_targets = self.flatten(outputs.detach(), targets)
        for name, metric in metrics.items(keep_base=True):
            if isinstance(metric, Perplexity):
                metric.update(outputs.detach().float(), targets)
            else:
                metric.update(flat_outputs, flat_targets)
