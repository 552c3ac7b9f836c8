"""Hub-layout checkpoint folders: `config.json`, `model.safetensors`, `README.md` (model card) and
`eval_results.json`. `save_pretrained` writes one atomically; `from_pretrained` loads it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

import zoo
from zoo.atomic import atomic_directory, atomic_write_text
from zoo.card import render_card
from zoo.errors import CheckpointError
from zoo.models import LMHeadModel, build_model, config_from_dict

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
RESULTS_FILE = "eval_results.json"
HUB_PREFIX = "hf-hub:"


def save_pretrained(
    model: LMHeadModel,
    directory: str | Path,
    *,
    name: str | None = None,
    task: dict[str, Any] | None = None,
    task_description: str | None = None,
    training: dict[str, Any] | None = None,
    results: dict[str, float] | None = None,
) -> Path:
    """Write `model` as a hub-layout folder at `directory`, replacing it whole only once complete.

    `task` is the task config it was trained on (used by `zoo eval`), `training` the optimiser and
    trainer settings, `results` metrics such as `{"test/acc": 0.97}` for the model card.
    """
    config = {
        "seqzoo_version": zoo.__version__,
        "architecture": type(model).__name__,
        "name": name or model.config.name,
        "model": OmegaConf.to_container(OmegaConf.structured(model.config)),
        "task": task,
        "task_description": task_description,
        "training": training,
    }
    results = dict(results or {})
    with atomic_directory(directory) as folder:
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        save_model(model, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
        (folder / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
        render_card(config, results, model.num_parameters()).save(folder / CARD_FILE)
    return Path(directory)


def resolve_checkpoint(path_or_id: str | Path) -> Path:
    """A local checkpoint folder for a path, or for `"hf-hub:org/name"` (fetched through the hub cache,
    which honours `HF_HUB_OFFLINE=1`)."""
    text = str(path_or_id)
    if text.startswith(HUB_PREFIX):
        from huggingface_hub import snapshot_download

        repo_id = text[len(HUB_PREFIX) :]
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, RESULTS_FILE]))
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise CheckpointError(
            f"checkpoint folder not found: {folder}. Pass a folder written by `zoo train` (it holds "
            f"{CONFIG_FILE}, {WEIGHTS_FILE}, {CARD_FILE}) or 'hf-hub:<org>/<name>'."
        )
    return folder


def read_checkpoint_config(folder: Path) -> dict[str, Any]:
    """The parsed `config.json` of a checkpoint folder, with clear errors when it is missing or corrupt."""
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_FILE}: it is not a seqzoo checkpoint folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{config_path} is corrupt (not valid JSON: {error})") from None
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointError(f"{config_path} has no 'model' section: it was not written by seqzoo")
    return config


def read_results(folder: Path) -> dict[str, float]:
    """The metrics recorded in a checkpoint folder (`{}` when there are none)."""
    path = folder / RESULTS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def from_pretrained(
    path_or_id: str | Path, *, map_location: str | torch.device = "cpu", source: str | None = None
) -> LMHeadModel:
    """Rebuild the model of a checkpoint folder (or `"hf-hub:org/name"`) with its saved weights, in eval mode.

    source: None for our own layout; "mamba_ssm" or "fla" to convert an upstream checkpoint folder or hub id
    instead (`zoo.convert.from_upstream`; `zoo convert` writes the result in our layout once and for all)."""
    if source is not None:
        from zoo.convert import from_upstream

        return from_upstream(path_or_id, source).to(map_location).eval()
    folder = resolve_checkpoint(path_or_id)
    config = read_checkpoint_config(folder)
    try:
        model = build_model(config_from_dict(config["model"]))
    except ValueError as error:
        raise CheckpointError(f"{folder / CONFIG_FILE}: {error}") from None
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}; the export was interrupted or the file was removed")
    try:
        load_model(model, str(weights), strict=True, device=str(map_location))
    except SafetensorError as error:
        raise CheckpointError(f"{weights} is corrupt or truncated ({error}); export the model again") from None
    except RuntimeError as error:
        raise CheckpointError(f"{weights} does not fit the model in {CONFIG_FILE}: {error}") from None
    return model.to(map_location).eval()


def rewrite_card(path: str | Path) -> str:
    """Render the model card of a local checkpoint folder from its files again, save and return it."""
    folder = resolve_checkpoint(path)
    config = read_checkpoint_config(folder)
    model = from_pretrained(folder)
    card = render_card(config, read_results(folder), model.num_parameters())
    atomic_write_text(folder / CARD_FILE, str(card))
    return str(card)
