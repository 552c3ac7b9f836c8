"""Hub-layout checkpoint folders: `config.json`, `model.safetensors`, `README.md` (model card) and
`eval_results.json`. `save_pretrained` writes one atomically; `load_pretrained` loads it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from zoo.atomic import atomic_directory, atomic_write_text
from zoo.card import render_card
from zoo.errors import CheckpointError
from zoo.models import ModelConfigError, SequenceModel, config_from_dict
from zoo.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
RESULTS_FILE = "eval_results.json"
HUB_PREFIX = "hf-hub:"


ARCHITECTURES = {SequenceModel.__name__: SequenceModel}  # what `architecture` in config.json may name


def save_pretrained(
    model: SequenceModel,
    directory: str | Path,
    *,
    name: str | None = None,
    task: dict[str, Any] | None = None,
    task_io: dict[str, Any] | None = None,
    task_description: str | None = None,
    training: dict[str, Any] | None = None,
    results: dict[str, float] | None = None,
) -> Path:
    """Write `model` as a hub-layout folder at `directory`, replacing it whole only once complete.

    `config.json` holds the whole anatomy (encoder, backbone, head), so that `load_pretrained` rebuilds exactly this
    network. `task` is the task config it was trained on and `task_io` what that task feeds and asks (its `labels`
    name the classes; `zoo eval` checks them), `training` the optimiser and trainer settings, `results` metrics such as `{"test/acc": 0.97}`.
    """
    config = {
        "seqzoo_version": __version__,
        "architecture": type(model).__name__,
        "name": name or model.config.name,
        "model": model.config.to_dict(),
        "task": task,
        "task_io": task_io,
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


def load_pretrained(path_or_id: str | Path, *, map_location: str | torch.device = "cpu") -> SequenceModel:
    """Rebuild the model of a checkpoint folder (or `"hf-hub:org/name"`) in our layout with its saved weights, in
    eval mode: the architecture config.json names, built from its `model` section."""
    folder = resolve_checkpoint(path_or_id)
    config = read_checkpoint_config(folder)
    architecture = config.get("architecture")
    if architecture not in ARCHITECTURES:
        raise CheckpointError(
            f"{folder / CONFIG_FILE} names the architecture {architecture!r}, which this seqzoo ({__version__}) does "
            f"not build; it builds: {', '.join(ARCHITECTURES)} (a checkpoint of an older version must be exported "
            "again by the version that wrote it)"
        )
    try:
        model = ARCHITECTURES[architecture](config_from_dict(config["model"]))
    except (ModelConfigError, ValueError) as error:
        imports = (config.get("training") or {}).get("imports") or []
        hint = (f"; the model was trained with `imports: {imports}`, which register parts of it: import them first "
                "(`zoo eval/card --imports ...`, or `zoo.imports.import_user_modules([...])`)") if imports else ""
        raise CheckpointError(f"{folder / CONFIG_FILE}: {error}{hint}") from None
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
    model = load_pretrained(folder)
    card = render_card(config, read_results(folder), model.num_parameters())
    atomic_write_text(folder / CARD_FILE, str(card))
    return str(card)
