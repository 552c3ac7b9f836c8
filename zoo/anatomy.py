"""Fitting a network to a task: the one place where a model config meets what a task feeds and asks (`TaskIO`),
used by training and evaluation alike.

- The encoder: unset (`model.encoder: null`, the presets' default) takes the task's usual encoder for its inputs
  (`DEFAULT_ENCODERS`); a chosen one must read the task's kind of input (a patch encoder for images, not tokens).
- The head: unset takes the head the task's targets need; a chosen one must predict that kind of target (its
  class's `predicts`, by default its own kind).
- Sizes always come from the task: vocabulary, channels, image size, classes, forecast horizon.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zoo.errors import ConfigError
from zoo.models import ENCODERS, HEADS, ModelConfig
from zoo.tasks import TaskIO

# The encoder a task's inputs get when the model config leaves it unset.
DEFAULT_ENCODERS = {"tokens": "tokens", "channels": "linear", "image": "patches"}


def _encoder(config: ModelConfig, io: TaskIO, task: str):
    if config.encoder is None:
        encoder = ENCODERS.get(DEFAULT_ENCODERS[io.inputs]).config_cls()
    else:
        encoder = dataclasses.replace(config.encoder)
        reads = ENCODERS.get(encoder.kind).cls.reads
        if reads != io.inputs:
            fitting = [kind for kind in ENCODERS.names() if ENCODERS.get(kind).cls.reads == io.inputs]
            raise ConfigError(
                f"config key 'model.encoder.kind' is '{encoder.kind}', which reads {reads}, but task '{task}' feeds "
                f"{io.inputs}; choose one of: {', '.join(fitting)}, or set model.encoder=null to let the task choose"
            )
    sizes = {"vocab_size": io.vocab_size, "in_channels": io.channels, "image_size": io.image_size}
    return dataclasses.replace(encoder, **{key: value for key, value in sizes.items() if hasattr(encoder, key)})


def predicts(head_kind: str) -> str:
    """The task output kind (`TaskIO.outputs`) that the registered head `head_kind` serves."""
    return getattr(HEADS.get(head_kind).cls, "predicts", head_kind)


def _head(config: ModelConfig, io: TaskIO, task: str):
    if config.head is None:
        head = HEADS.get(io.outputs).config_cls()
    elif predicts(config.head.kind) != io.outputs:
        fitting = [kind for kind in HEADS.names() if predicts(kind) == io.outputs]
        raise ConfigError(
            f"config key 'model.head.kind' is '{config.head.kind}', but task '{task}' needs a '{io.outputs}' head; "
            f"choose one of: {', '.join(fitting)}, or set model.head=null to let the task choose"
        )
    else:
        head = dataclasses.replace(config.head)
    sizes = {"num_outputs": io.num_outputs, "horizon": io.horizon}
    return dataclasses.replace(head, **{key: value for key, value in sizes.items() if hasattr(head, key)})


def fit_to_task(config: ModelConfig, io: TaskIO, task: str) -> ModelConfig:
    """`config` with the encoder and head `io` needs, sized for it (`task` names the task in errors)."""
    if config.bidirectional and io.outputs == "lm":
        raise ConfigError(
            f"config key 'model.bidirectional' is true, but task '{task}' predicts the next token, which a model that "
            "reads both ways sees; set model.bidirectional=false"
        )
    return dataclasses.replace(config, encoder=_encoder(config, io, task), head=_head(config, io, task))


def check_fits(config: ModelConfig, io: TaskIO, task: str, labels: Sequence[str] = ()) -> None:
    """Refuse a built model (resolved `config`) that does not fit task `io` as it is, naming what differs: a saved
    model evaluated on another task setting must read the same inputs and predict the same outputs, and where both
    name their classes (`labels`: the model's, in class-id order; `io.labels`: the task's), the same classes in the
    same order."""
    if labels and io.labels and tuple(labels) != io.labels:
        raise ConfigError(
            f"the model's classes are {list(labels)} but task '{task}' numbers {list(io.labels)}: its predictions "
            "would be scored against other classes; evaluate it on data with the labels it was trained on"
        )
    fitted = fit_to_task(config, io, task)
    for part in ("encoder", "head"):
        ours, needed = dataclasses.asdict(getattr(config, part)), dataclasses.asdict(getattr(fitted, part))
        differ = [f"{key} {ours[key]} (task: {needed[key]})" for key in ours if ours[key] != needed[key]]
        if differ:
            raise ConfigError(
                f"the model does not fit task '{task}': its {part} has {', '.join(differ)}; evaluate it on a task "
                "setting with the same inputs and outputs"
            )
