"""A task's loss and metrics (`zoo.tasks.Objective`) follow from its `TaskIO`: cross-entropy over classes per token,
sequence or pair, MSE for values; each metric checked against its definition computed by hand (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from zoo.tasks import Objective, TaskIO, metric_mode

LM = TaskIO(inputs="tokens", outputs="lm", num_outputs=7, vocab_size=7,
            metrics=("accuracy", "perplexity", "bits_per_token"))
CLASSES = TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=256,
                 metrics=("accuracy", "f1", "mcc"))
SERIES = TaskIO(inputs="channels", outputs="regression", num_outputs=2, channels=2, horizon=4, metrics=("mse", "mae"))
# float32 metric states against float64 sums by hand: errors of a few ulp of values of order 1
TOL = dict(rtol=1e-5, atol=1e-6)


def computed(objective: Objective, outputs: torch.Tensor, targets: torch.Tensor, batches: int = 2) -> dict:
    metrics = objective.metrics("val")
    for outs, tgts in zip(outputs.chunk(batches), targets.chunk(batches)):
        objective.update(metrics, outs, tgts)
    return {key: float(value) for key, value in metrics.compute().items()}


def test_per_token_classes_skip_ignored_targets(seed):
    objective = Objective(LM)
    logits = torch.randn(4, 9, 7, dtype=torch.float64)
    targets = torch.randint(0, 7, (4, 9))
    targets[:, :3] = LM.ignore_index  # e.g. the prompt of a recall task
    kept = targets != LM.ignore_index
    nats = -logits.log_softmax(-1)[kept].gather(-1, targets[kept][:, None]).squeeze(-1)
    expected = {"val/acc": (logits.argmax(-1)[kept] == targets[kept]).double().mean().item(),
                "val/ppl": math.exp(nats.mean().item()), "val/bpt": nats.mean().item() / math.log(2)}
    got = computed(objective, logits, targets)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, **TOL, msg=f"{key} (seed {seed})")
    torch.testing.assert_close(objective.loss(logits, targets).double(), nats.mean(), **TOL)
    assert objective.monitor == ("val/acc", "max")


def test_sequence_classes_accuracy_f1_and_mcc(seed):
    objective = Objective(CLASSES)
    logits = torch.randn(40, 3, dtype=torch.float64)
    targets = torch.randint(0, 3, (40,))
    predicted = logits.argmax(-1)
    f1 = []
    for c in range(3):
        tp = ((predicted == c) & (targets == c)).sum().item()
        fp = ((predicted == c) & (targets != c)).sum().item()
        fn = ((predicted != c) & (targets == c)).sum().item()
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    confusion = torch.zeros(3, 3, dtype=torch.float64)
    confusion.index_put_((targets, predicted), torch.ones(40, dtype=torch.float64), accumulate=True)
    t, p, n, right = confusion.sum(1), confusion.sum(0), confusion.sum(), confusion.trace()
    mcc = (right * n - (t * p).sum()) / math.sqrt((n**2 - (p * p).sum()) * (n**2 - (t * t).sum()))
    got = computed(objective, logits, targets)
    torch.testing.assert_close(got["val/acc"], (predicted == targets).double().mean().item(), **TOL)
    torch.testing.assert_close(got["val/f1"], sum(f1) / 3, **TOL)
    torch.testing.assert_close(got["val/mcc"], mcc.item(), **TOL)


def test_soft_targets_take_cross_entropy_with_probabilities_and_count_their_top_class(seed):
    objective = Objective(CLASSES)
    logits = torch.randn(12, 3, dtype=torch.float64)
    soft = torch.rand(12, 3, dtype=torch.float64).softmax(-1)  # e.g. mixed and smoothed one-hot targets
    expected_loss = -(soft * logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(objective.loss(logits, soft).double(), expected_loss, **TOL, msg=f"seed {seed}")
    got = computed(objective, logits, soft, batches=3)
    accuracy = (logits.argmax(-1) == soft.argmax(-1)).double().mean().item()
    torch.testing.assert_close(got["val/acc"], accuracy, **TOL, msg=f"seed {seed}")
    one_hot = torch.nn.functional.one_hot(soft.argmax(-1), 3).double()  # a hard target spelled as probabilities
    torch.testing.assert_close(objective.loss(logits, one_hot), objective.loss(logits, soft.argmax(-1)), **TOL)


def test_regression_mse_and_mae(seed):
    objective = Objective(SERIES)
    outputs, targets = torch.randn(6, 4, 2, dtype=torch.float64), torch.randn(6, 4, 2, dtype=torch.float64)
    got = computed(objective, outputs, targets, batches=3)
    torch.testing.assert_close(got["val/mse"], (outputs - targets).square().mean().item(), **TOL)
    torch.testing.assert_close(got["val/mae"], (outputs - targets).abs().mean().item(), **TOL)
    torch.testing.assert_close(objective.loss(outputs, targets).double(), (outputs - targets).square().mean(), **TOL)
    assert objective.monitor == ("val/mse", "min")


@pytest.mark.parametrize(
    "io, message",
    [
        (TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=9, metrics=("perplexity",)),
         r"\['perplexity'\] need a prediction per token; 'classifier' outputs make one per sequence"),
        (TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=9, metrics=("mse",)),
         r"\['mse'\] do not apply to 'classifier' outputs"),
        (TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=9, metrics=("auroc",)),
         r"unknown or no metric\(s\) \['auroc'\]"),
    ],
)
def test_metrics_that_do_not_apply_are_refused(io, message):
    with pytest.raises(ValueError, match=message):
        Objective(io)


def test_shapes_that_do_not_match_are_named():
    with pytest.raises(ValueError, match=r"class outputs \(2, 3\) need targets of shape \(2,\), got \(2, 1\)"):
        Objective(CLASSES).loss(torch.randn(2, 3), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"regression outputs \(2, 4, 2\) and targets \(2, 4, 1\) differ"):
        Objective(SERIES).loss(torch.randn(2, 4, 2), torch.randn(2, 4, 1))


def test_task_io_refuses_what_cannot_be_trained():
    with pytest.raises(ValueError, match="'classifier' outputs need at least two classes, got 1"):
        TaskIO(inputs="tokens", outputs="classifier", num_outputs=1, vocab_size=9)
    with pytest.raises(ValueError, match="TaskIO.labels names 2 classes but num_outputs is 3"):
        TaskIO(inputs="tokens", outputs="classifier", num_outputs=3, vocab_size=9, labels=("a", "b"))


def test_metric_mode_reads_the_logged_key():
    assert [metric_mode(key) for key in ("val/acc", "val/loss", "test/ppl", "val/mae", "val/unknown")] == [
        "max", "min", "min", "min", None]
