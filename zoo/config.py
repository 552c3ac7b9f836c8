"""Experiment configs: one structured dataclass per section, YAML files that can `extends` others,
`key=value` overrides from the command line, and validation that names the offending key.

An experiment YAML looks like::

    extends: base.yaml          # optional: a path or a list of paths, relative to this file
    imports: [my_mixers.py]     # optional: modules or .py files (relative to this file) that register models/tasks
    name: mqar-hybrid
    model: {name: hybrid-tiny, d_model: 64}   # a registered preset, then field overrides
    task: {name: mqar, seq_len: 64}           # a registered task, then field overrides
    optim: {lr: 3e-3}
    trainer: {max_epochs: 20}
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from zoo.anatomy import DEFAULT_ENCODERS
from zoo.errors import ConfigError
from zoo.imports import import_user_modules
from zoo.models import (
    ModelConfig,
    ModelConfigError,
    UnknownNameError,
    get_entry,
    list_models,
    merge_config,
)
from zoo.models.config import check_layers, container_mismatch
from zoo.tasks import TaskConfig, UnknownTaskError, get_task

PRECISIONS = ("32-true", "64-true", "bf16-mixed", "16-mixed")
LOGGERS = ("csv", "tensorboard")


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay to `min_lr_ratio * lr`."""

    lr: float = 1e-3
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1


@dataclass
class TrainerConfig:
    """The `lightning.Trainer` settings a run may change, plus the checkpoint/early-stop monitor."""

    max_epochs: int = 10
    max_steps: int = -1
    max_time: Optional[str] = None  # "DD:HH:MM:SS"
    precision: str = "32-true"  # mixed precision keeps parameters in float32; "*-true" halves are refused
    gradient_clip_val: float = 1.0
    accumulate_grad_batches: int = 1
    accelerator: str = "auto"
    devices: Any = "auto"  # "auto", a count (2), or a list of device indices ([0, 1])
    num_nodes: int = 1
    strategy: str = "auto"  # "ddp", "fsdp", ...: Lightning strategies
    log_every_n_steps: int = 10
    val_check_interval: float = 1.0
    monitor: Optional[str] = None  # the validation metric that picks the best checkpoint; None: the task's first metric
    monitor_mode: Optional[str] = None  # "max" or "min"; None: the monitored metric's own direction
    stop_at: Optional[float] = None  # stop once the monitored metric reaches this value
    patience: Optional[int] = None  # stop after this many validations without improving the monitored metric
    deterministic: bool = False
    checkpoint_every_n_steps: int = 200  # also write checkpoints/last.ckpt every this many steps (0: epoch ends only)
    activation_checkpointing: bool = False  # recompute each block's activations in the backward pass (long sequences)
    logger: str = "csv"  # "csv", or "tensorboard" for TensorBoard event files beside the CSV log
    fast_dev_run: int = 0  # n > 0: n batches of each split as a smoke test; no run folder, nothing saved
    limit_train_batches: float = 1.0  # a share of each epoch's batches (<= 1.0) or a number of batches
    limit_val_batches: float = 1.0


@dataclass
class ExperimentConfig:
    """A training run: model x task, optimiser, trainer, seed and where the run directory goes."""

    name: str = "experiment"
    seed: int = 0
    output_dir: str = "runs"
    imports: list[str] = field(default_factory=list)  # modules / .py files imported first: they may register things
    model: ModelConfig = field(default_factory=ModelConfig)
    task: Any = None  # the TaskConfig subclass of the named task
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


_TOP_LEVEL_KEYS = [f.name for f in dataclasses.fields(ExperimentConfig)]


def _close_match_hint(key: str, choices: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, choices, n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _check_keys(section: DictConfig, schema: DictConfig, path: str) -> None:
    """Fail on the first key of `section` that `schema` lacks, naming it and the valid keys."""
    valid = [str(k) for k in schema.keys()]
    for key in section.keys():
        if key not in schema:
            raise ConfigError(
                f"unknown config key '{path}.{key}'{_close_match_hint(str(key), valid, path + '.')}; "
                f"valid keys in '{path}': {', '.join(valid)}"
            )
        if OmegaConf.is_dict(section[key]) and OmegaConf.is_dict(schema[key]):
            _check_keys(section[key], schema[key], f"{path}.{key}")


def _merge_section(schema: DictConfig, section: Any, path: str) -> DictConfig:
    """Merge a user section into its structured schema, turning OmegaConf errors into ConfigErrors."""
    if section is None:
        return schema
    if not OmegaConf.is_dict(section):
        raise ConfigError(f"config section '{path}' must be a mapping of keys to values, got {section!r}")
    _check_keys(section, schema, path)
    mismatch = container_mismatch(schema, section, path)
    if mismatch:
        raise ConfigError(f"config key {mismatch}")
    try:
        return OmegaConf.merge(schema, section)
    except OmegaConfBaseException as error:
        reason = str(error).splitlines()[0]
        raise ConfigError(f"config key '{path}.{error.full_key}' has a wrong value: {reason}") from None


_NAMED_SECTIONS = ("model", "task")


def _normalize_named_sections(node: DictConfig) -> DictConfig:
    """Rewrite the shorthand `model: NAME` / `task: NAME` as `{name: NAME}` so that files and overrides merge."""
    for key in _NAMED_SECTIONS:
        if isinstance(node.get(key), str):
            node[key] = {"name": node[key]}
    return node


def _named_section(raw: DictConfig, key: str) -> tuple[str | None, DictConfig]:
    """Split a `model` or `task` mapping into its `name` and the remaining fields."""
    section = raw.get(key)
    if section is None:
        return None, OmegaConf.create({})
    if not OmegaConf.is_dict(section):
        raise ConfigError(f"config section '{key}' must be a name or a mapping, got {section!r}")
    section = section.copy()
    name = section.pop("name", None)
    return name, section


def _compose_model(raw: DictConfig, task: str) -> DictConfig:
    """The `model` section: a registered preset (or `custom`) with the section's fields merged in
    (`zoo.models.merge_config`; an encoder or head override without a `kind` starts from what `task` needs), the
    mixer pattern checked."""
    _, datamodule_cls = get_task(task)
    kinds = {"encoder": DEFAULT_ENCODERS[datamodule_cls.inputs], "head": datamodule_cls.outputs}
    name, fields = _named_section(raw, "model")
    if name is None or name == "custom":
        base = ModelConfig()
    else:
        try:
            base = get_entry(name).make_config()
        except UnknownNameError:
            raise ConfigError(
                f"unknown model 'model.name: {name}'; choose a registered model ({', '.join(list_models())}) "
                "or 'custom'"
            ) from None
    try:
        model = merge_config(base, fields, kinds)
        check_layers(model.layers)
    except ModelConfigError as error:
        raise ConfigError(error.describe("model.")) from None
    read = model.sections_read()
    for section in fields.get("mixers") or {}:
        if section not in read:
            warnings.warn(f"config key 'model.mixers.{section}' has no effect: no layer reads it (layers: "
                          f"{model.layers})", UserWarning, stacklevel=2)
    return OmegaConf.structured(model)


def compose_task(raw: DictConfig) -> DictConfig:
    """The `task` section of a raw config, validated against the named task's config class."""
    name, fields = _named_section(raw, "task")
    try:
        config_cls, datamodule_cls = get_task(name if name is not None else "")
    except UnknownTaskError as error:
        raise ConfigError(f"config key 'task.name': {error}") from None
    task = _merge_section(OmegaConf.structured(config_cls), fields, "task")
    refusal = datamodule_cls.packing_refusal() if task.pack else None
    if refusal:
        raise ConfigError(f"config key 'task.pack': the task '{name}' cannot be packed: {refusal}")
    return task


# (section, key) -> (the test a value must pass, what it must be); None passes where the schema allows it
_RANGES: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("optim", "lr"): (lambda v: v >= 0, ">= 0 (0 trains nothing)"),
    ("optim", "weight_decay"): (lambda v: v >= 0, ">= 0"),
    ("optim", "betas"): (lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    ("optim", "eps"): (lambda v: v > 0, "> 0"),
    ("optim", "warmup_steps"): (lambda v: v >= 0, ">= 0"),
    ("optim", "min_lr_ratio"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("trainer", "max_epochs"): (lambda v: v >= 1 or v == -1,
                                ">= 1, or -1 for no limit (then set max_steps or max_time)"),
    ("trainer", "max_steps"): (lambda v: v >= 1 or v == -1, ">= 1, or -1 for no limit"),
    ("trainer", "gradient_clip_val"): (lambda v: v >= 0, ">= 0 (0: no clipping)"),
    ("trainer", "accumulate_grad_batches"): (lambda v: v >= 1, ">= 1"),
    ("trainer", "log_every_n_steps"): (lambda v: v >= 1, ">= 1"),
    ("trainer", "val_check_interval"): (lambda v: v > 0, "> 0 (a share of an epoch up to 1.0, or a number of steps)"),
    ("trainer", "checkpoint_every_n_steps"): (lambda v: v >= 0, ">= 0 (0: at epoch ends only)"),
    ("trainer", "limit_train_batches"): (lambda v: v > 0, "> 0 (a share of the batches up to 1.0, or a count)"),
    ("trainer", "limit_val_batches"): (lambda v: v >= 0, ">= 0 (a share of the batches up to 1.0, or a count)"),
    ("trainer", "fast_dev_run"): (lambda v: v >= 0, ">= 0 (0: off; n: n batches of each split, nothing saved)"),
    ("experiment", "seed"): (lambda v: 0 <= v < 2**32, "in [0, 2^32)"),
}


def _validate_ranges(config: DictConfig) -> None:
    """Refuse numbers outside their meaningful range, naming the key, the value and what it must be."""
    for (section, key), (valid, requirement) in _RANGES.items():
        node = config if section == "experiment" else config[section]
        value = node[key]
        if value is not None and not valid(value):
            name = key if section == "experiment" else f"{section}.{key}"
            raise ConfigError(f"config key '{name}' is {value}; it must be {requirement}")
    if config.trainer.max_epochs == -1 and config.trainer.max_steps == -1 and config.trainer.max_time is None:
        raise ConfigError("config keys 'trainer.max_epochs', 'trainer.max_steps' and 'trainer.max_time' set no limit: "
                          "the run would never end; give at least one of them")


def _validate_choices(config: DictConfig) -> None:
    """Checks that a dataclass schema cannot express: enumerations and ranges."""
    _validate_ranges(config)
    if config.trainer.logger not in LOGGERS:
        raise ConfigError(f"config key 'trainer.logger' is '{config.trainer.logger}'; choose one of: "
                          f"{', '.join(LOGGERS)}")
    if config.trainer.precision not in PRECISIONS:
        raise ConfigError(
            f"config key 'trainer.precision' is '{config.trainer.precision}'; choose one of: {', '.join(PRECISIONS)} "
            "(mixed precision keeps parameters in float32)"
        )
    if config.trainer.monitor_mode not in (None, "min", "max"):
        raise ConfigError(f"config key 'trainer.monitor_mode' is '{config.trainer.monitor_mode}'; choose 'min' or 'max'")
    if config.trainer.patience is not None and config.trainer.patience < 1:
        raise ConfigError(f"config key 'trainer.patience' is {config.trainer.patience}; give the number of validations "
                          "without improvement to stop after (>= 1), or null to train every epoch")


def load_yaml(path: Path, chain: tuple[Path, ...] = ()) -> DictConfig:
    """Load a YAML file and the files it `extends` (bases first, this file on top)."""
    path = path.expanduser().resolve()
    if path in chain:
        raise ConfigError(f"config files extend each other in a cycle: {' -> '.join(map(str, chain + (path,)))}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        node = OmegaConf.load(path)
    except (yaml.YAMLError, OmegaConfBaseException) as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if not OmegaConf.is_dict(node):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(node).__name__}")
    _normalize_named_sections(node)
    imports = node.get("imports")
    if imports is not None:
        if not OmegaConf.is_list(imports):
            raise ConfigError(f"config key 'imports' in {path} must be a list of modules or .py files, got {imports!r}")
        node["imports"] = [str(path.parent / item) if str(item).endswith(".py") else str(item) for item in imports]
    extends = node.pop("extends", None)
    bases = [] if extends is None else [extends] if isinstance(extends, str) else list(extends)
    merged = OmegaConf.create({})
    for base in bases:
        merged = OmegaConf.merge(merged, load_yaml(path.parent / str(base), chain + (path,)))
    return OmegaConf.merge(merged, node)


def parse_overrides(overrides: list[str]) -> DictConfig:
    """`["model.d_model=128", "trainer.max_steps=10"]` -> a nested DictConfig (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. trainer.max_steps=100)")
    try:
        return _normalize_named_sections(OmegaConf.from_dotlist(list(overrides)))
    except (OmegaConfBaseException, yaml.YAMLError, TypeError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"could not parse overrides {overrides}: {reason} (values are read as YAML: quote text "
                          "with special characters, e.g. name='\"a: b\"')") from None


def _check_interpolations(raw: DictConfig) -> DictConfig:
    """Resolve `${...}` references on a copy, so that one naming nothing is a ConfigError before any work; `raw`
    keeps them (a run's config.yaml says `${oc.env:SEQZOO_DATA}`, not this machine's path)."""
    try:
        OmegaConf.resolve(copy.deepcopy(raw))
    except OmegaConfBaseException as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"config value of '{error.full_key}' could not be resolved: {reason}") from None
    return raw


def _user_imports(raw: DictConfig) -> list[str]:
    """The `imports` list: module names or .py paths."""
    imports = raw.get("imports")
    if imports is None:
        return []
    if not OmegaConf.is_list(imports) or not all(isinstance(item, str) and item for item in imports):
        raise ConfigError(f"config key 'imports' must be a list of module names or .py files, got {imports!r}")
    return list(imports)


def compose(raw: DictConfig) -> DictConfig:
    """Validate a raw experiment mapping and return it as a structured, fully filled-in config."""
    raw = _check_interpolations(_normalize_named_sections(raw.copy()))
    for key in raw.keys():
        if key not in _TOP_LEVEL_KEYS:
            raise ConfigError(
                f"unknown config key '{key}'{_close_match_hint(str(key), _TOP_LEVEL_KEYS, '')}; "
                f"valid top-level keys: {', '.join(_TOP_LEVEL_KEYS)}"
            )
    config = OmegaConf.structured(ExperimentConfig)
    import_user_modules(_user_imports(raw))
    scalars = {k: raw[k] for k in ("name", "seed", "output_dir", "imports") if k in raw}
    config = _merge_section(config, OmegaConf.create(scalars), "experiment")
    config.task = compose_task(raw)
    config.model = _compose_model(raw, config.task.name)
    config.optim = _merge_section(OmegaConf.structured(OptimConfig), raw.get("optim"), "optim")
    config.trainer = _merge_section(OmegaConf.structured(TrainerConfig), raw.get("trainer"), "trainer")
    _validate_choices(config)
    to_objects(config)  # runs the dataclasses' own checks (__post_init__) now, before any work
    return config


def load_config(path: str | Path, overrides: list[str] = ()) -> DictConfig:
    """Load an experiment YAML (with its `extends` chain), apply overrides and validate everything."""
    file, changes = load_yaml(Path(path)), parse_overrides(list(overrides))
    try:
        raw = OmegaConf.merge(file, changes)
    except (OmegaConfBaseException, TypeError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"overrides {list(overrides)} do not fit {path}: {reason} (a section takes key=value pairs "
                          "inside it, e.g. model.d_model=128)") from None
    return compose(raw)


def to_objects(config: DictConfig) -> ExperimentConfig:
    """The composed config as dataclass instances; a failing dataclass check becomes a ConfigError."""
    for section in ("model", "task", "optim", "trainer"):
        try:
            OmegaConf.to_object(config[section])
        except ValueError as error:
            raise ConfigError(f"invalid value in config section '{section}': {error}") from None
    experiment = OmegaConf.to_object(config)
    if not isinstance(experiment.task, TaskConfig):
        raise ConfigError("config section 'task' did not resolve to a task config")
    return experiment
