"""Hub-layout checkpoint folders, the Hugging Face way: `config.json` (strict JSON), `model.safetensors`,
`eval_results.json`, `README.md` (the model card) and, for trained models, `training_curves.png`.

`SequenceModel.save_pretrained` / `push_to_hub` (huggingface_hub's `ModelHubMixin`) write a folder through
`write_checkpoint`; `load_pretrained` (behind `SequenceModel.from_pretrained` and `zoo.from_pretrained`) reads one
back from a local folder, a run directory, a shipped checkpoint or a hub repository at any revision.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelHubMixin
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from zoo import strict_json
from zoo.atomic import atomic_directory, atomic_write_text
from zoo.card import render_card
from zoo.errors import CheckpointError
from zoo.identity import identify
from zoo.locate import HUB_PREFIX, fetch, hub_repo_id, local_folder
from zoo.models import ModelConfig, ModelConfigError, config_from_dict
from zoo.models import SequenceModel as Network
from zoo.pretrained import shipped_folder
from zoo.provenance import Evaluation, Provenance
from zoo.tasks import get_task, list_tasks
from zoo.tokenizer import TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, write_tokenizer
from zoo.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
RESULTS_FILE = "eval_results.json"
CURVES_FILE = "training_curves.png"
HUB_FILES = [CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, RESULTS_FILE, CURVES_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE]
MODEL_TYPE = "seqzoo"  # config.json's `model_type`, the key transformers' AutoConfig maps (`zoo.hf`)
CAUSAL_LM_ARCHITECTURE = "SeqzooForCausalLM"  # the transformers class of language models (`zoo.hf`)

__all__ = ["CARD_FILE", "CONFIG_FILE", "CURVES_FILE", "HUB_PREFIX", "RESULTS_FILE", "WEIGHTS_FILE", "SequenceModel",
           "load_pretrained", "save_pretrained", "write_checkpoint"]


class SequenceModel(Network, ModelHubMixin, library_name="seqzoo", tags=["seqzoo"]):
    """`zoo.models.SequenceModel` (encoder -> backbone -> head) with the Hugging Face conventions of huggingface_hub's
    `ModelHubMixin`: `model.save_pretrained(dir)`, `SequenceModel.from_pretrained(dir_or_hub_id, revision=...)` and
    `model.push_to_hub("org/name")`, in the layout of this module. Every model `zoo` builds or loads is one.

    `provenance` (`zoo.provenance.Provenance`) is what a loaded or exported model records about itself: name, task,
    training command and config, evaluations, base model, license; `save_pretrained` writes it into the card.
    """

    provenance: Provenance | None = None

    def save_pretrained(self, save_directory: str | Path, *, push_to_hub: bool = False, repo_id: str | None = None,
                        **kwargs: Any) -> str | None:
        """Write the hub-layout folder (config.json, model.safetensors, eval_results.json, README.md model card)
        atomically: `save_directory` is replaced whole once every file is written, never left half-written.
        `push_to_hub=True` then uploads it to `repo_id` (default: the folder's name) with huggingface_hub."""
        push_options = {key: kwargs.pop(key) for key in list(kwargs) if key not in ("config", "model_card_kwargs")}
        with atomic_directory(save_directory) as folder:
            super().save_pretrained(folder, **kwargs)
        if push_to_hub:
            return self.push_to_hub(repo_id or Path(save_directory).name, **push_options)
        return None

    def _save_pretrained(self, save_directory: Path) -> None:
        write_checkpoint(self, Path(save_directory))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, revision: str | None = None,
                        map_location: str | torch.device = "cpu", **hub_options: Any) -> SequenceModel:
        """The model of a checkpoint folder, run directory or hub repository (`org/name`, optionally at `revision`)
        with its weights, in eval mode. hub_options: huggingface_hub's `cache_dir`, `force_download`,
        `local_files_only`, `token`; `HF_HUB_OFFLINE=1` loads from the hub cache only."""
        return load_pretrained(pretrained_model_name_or_path, revision=revision, map_location=map_location,
                               **hub_options)

    def reset_head(self, kind: str | None = None, **fields: Any) -> None:
        """`zoo.models.SequenceModel.reset_head`; a loaded model becomes a fine-tune based on its checkpoint (trained
        on nothing yet: its task and evaluations are dropped, `base_model` names the checkpoint)."""
        super().reset_head(kind, **fields)
        if self.provenance is not None:
            self.provenance = self.provenance.fine_tuned(f"{self.provenance.name}-{self.config.head.kind}")


def build(config: ModelConfig) -> SequenceModel:
    """The network a config describes (random initialisation), with the hub methods."""
    return SequenceModel(config)


ARCHITECTURES = {"SequenceModel": SequenceModel}  # what `architecture` in config.json may name


def provenance_of(model: Network) -> Provenance:
    """The provenance a model carries (loaded or exported), else that of a freshly built model."""
    if getattr(model, "provenance", None) is not None:
        return model.provenance
    identity = identify(model.config)
    return Provenance(name=identity.name, preset=identity.preset, changes=identity.changes)


def checkpoint_config(model: Network, provenance: Provenance) -> dict[str, Any]:
    """`config.json`: the hub keys (`model_type`, `architectures`), our architecture and version, the provenance and
    the whole anatomy (`model`: encoder, backbone, head) that `load_pretrained` rebuilds the network from."""
    is_lm = model.config.head.kind == "lm"
    return {
        "model_type": MODEL_TYPE,
        "architectures": [CAUSAL_LM_ARCHITECTURE] if is_lm else [],
        "seqzoo_version": __version__,
        "architecture": "SequenceModel",
        **provenance.recorded(),
        "model": model.config.to_dict(),
    }


def write_checkpoint(model: Network, folder: Path) -> None:
    """Write the files of `model`'s checkpoint into `folder` (a fresh temporary folder: `save_pretrained` renames it
    into place once this returns)."""
    provenance = provenance_of(model)
    config = checkpoint_config(model, provenance)
    (folder / CONFIG_FILE).write_text(strict_json.dumps(config))
    save_model(model, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    evaluations = [dataclasses.asdict(evaluation) for evaluation in provenance.evaluations]
    (folder / RESULTS_FILE).write_text(strict_json.dumps({"evaluations": evaluations}))
    if provenance.curves is not None and provenance.curves.is_file():
        shutil.copyfile(provenance.curves, folder / CURVES_FILE)
    _write_tokenizer(config, folder)
    card = render_card(config, provenance.evaluations, model.num_parameters(), (folder / CURVES_FILE).is_file())
    (folder / CARD_FILE).write_text(card)


def _write_tokenizer(config: dict[str, Any], folder: Path) -> None:
    """A tokenizer beside a language model whose task's tokens are characters (`TaskDataModule.token_symbols`)."""
    task = (config.get("task") or {}).get("name")
    if config["model"]["head"]["kind"] != "lm" or task not in list_tasks():
        return
    _, datamodule = get_task(task)
    if datamodule.token_symbols:
        max_length = int((config.get("task") or {}).get("window", 0)) or 2**20
        write_tokenizer(folder, datamodule.token_symbols, datamodule.unknown_symbol, max_length)


def save_pretrained(model: Network, directory: str | Path, provenance: Provenance | None = None) -> Path:
    """Write `model` (any `zoo.models.SequenceModel`) as a hub-layout folder at `directory`, atomically, with
    `provenance` when given (else what the model carries)."""
    if not isinstance(model, SequenceModel):
        model = _with_hub_methods(model)
    if provenance is not None:
        model.provenance = provenance
    model.save_pretrained(directory)
    return Path(directory)


def _with_hub_methods(network: Network) -> SequenceModel:
    """The same network (its modules, not copies) as a `SequenceModel` of this module."""
    model = SequenceModel.__new__(SequenceModel)
    model.__dict__.update(network.__dict__)
    return model


def locate_checkpoint(path_or_id: str | Path, *, revision: str | None = None, **hub_options) -> tuple[Path, str | None]:
    """The local folder of a checkpoint and its hub id (None for local folders).

    A local path: the folder, or a run directory's `export/`. `org/name` or `hf-hub:org/name`: seqzoo's shipped copy
    when it ships one and no revision is asked, else the hub snapshot at `revision` through the hub cache.
    hub_options: huggingface_hub's `cache_dir`, `force_download`, `local_files_only`, `token`."""
    text = str(path_or_id)
    if not text.startswith(HUB_PREFIX):
        folder = local_folder(text, CONFIG_FILE)
        if folder is not None:
            return folder, None
    repo_id = hub_repo_id(text)
    if repo_id is None:
        raise CheckpointError(
            f"checkpoint folder not found: {Path(text).expanduser()}. Pass a folder written by `zoo train` or "
            f"`save_pretrained` (it holds {CONFIG_FILE} and {WEIGHTS_FILE}), a run directory, or a hub id 'org/name'"
        )
    shipped = shipped_folder(repo_id)
    if shipped is not None and revision is None and not hub_options.get("force_download"):
        return shipped, repo_id
    return fetch(repo_id, HUB_FILES, revision=revision, **hub_options), repo_id


def read_checkpoint_config(folder: Path) -> dict[str, Any]:
    """The parsed `config.json` of a checkpoint folder, with clear errors when it is missing or corrupt."""
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_FILE}: it is not a seqzoo checkpoint folder")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{config_path} is corrupt (not valid JSON: {error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{config_path} has no 'model' section: it was not written by seqzoo")
    return config


def read_evaluations(folder: Path, config: dict[str, Any]) -> list[Evaluation]:
    """The evaluations recorded in a checkpoint folder (`[]` when there are none). A flat `{metric: value}` file
    (seqzoo 0.1's) is one evaluation on the task the model was trained on."""
    path = folder / RESULTS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "evaluations" in data:
            return [Evaluation(**entry) for entry in data["evaluations"]]
        if isinstance(data, dict) and all(isinstance(value, (int, float)) for value in data.values()):
            description = config.get("task_description") or (config.get("task") or {}).get("name", "")
            return [Evaluation(task=config.get("task"), description=description, metrics=data)] if data else []
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error}); remove it or evaluate the model again") from None
    raise CheckpointError(f"{path} is not a seqzoo results file (expected {{\"evaluations\": [...]}})")


def _build(folder: Path, config: dict[str, Any]) -> SequenceModel:
    architecture = config.get("architecture")
    if architecture not in ARCHITECTURES:
        raise CheckpointError(
            f"{folder / CONFIG_FILE} names the architecture {architecture!r}, which this seqzoo ({__version__}) does "
            f"not build; it builds: {', '.join(ARCHITECTURES)} (a checkpoint of an older version must be exported "
            "again by the version that wrote it)"
        )
    try:
        return ARCHITECTURES[architecture](config_from_dict(config["model"]))
    except (ModelConfigError, ValueError) as error:
        imports = (config.get("training") or {}).get("imports") or []
        hint = (f"; the model was trained with `imports: {imports}`, which register parts of it: import them first "
                "(`zoo eval/card --imports ...`, or `zoo.imports.import_user_modules([...])`)") if imports else ""
        raise CheckpointError(f"{folder / CONFIG_FILE}: {error}{hint}") from None


def _load_weights(model: SequenceModel, weights: Path, map_location: str | torch.device) -> None:
    if not weights.is_file():
        raise CheckpointError(f"{weights.parent} has no {WEIGHTS_FILE}; the export was interrupted or the file was "
                              "removed")
    try:
        load_model(model, str(weights), strict=True, device=str(map_location))
    except SafetensorError as error:
        raise CheckpointError(f"{weights} is corrupt or truncated ({error}); export the model again") from None
    except RuntimeError as error:
        summary = " ".join(str(error).split())
        raise CheckpointError(f"{weights} does not fit the model in {CONFIG_FILE}: {summary}") from None


def load_pretrained(path_or_id: str | Path, *, revision: str | None = None,
                    map_location: str | torch.device = "cpu", **hub_options) -> SequenceModel:
    """The model of a checkpoint (a folder, a run directory, or a hub id `org/name` at `revision`), with its
    weights and provenance (`model.provenance`), in eval mode. Nothing is returned unless every tensor of the
    config's model is in the weights file with its shape and no tensor is left over."""
    folder, hub_id = locate_checkpoint(path_or_id, revision=revision, **hub_options)
    config = read_checkpoint_config(folder)
    model = _build(folder, config)
    _load_weights(model, folder / WEIGHTS_FILE, map_location)
    curves = folder / CURVES_FILE
    provenance = Provenance.from_recorded(config, read_evaluations(folder, config),
                                          curves if curves.is_file() else None)
    if hub_id is not None and provenance.hub_id is None:
        provenance.hub_id = hub_id
    model.provenance = provenance
    return model.to(map_location).eval()


def rewrite_card(path: str | Path) -> str:
    """Render the model card of a local checkpoint folder from its files again, save and return it."""
    folder, _ = locate_checkpoint(path, local_files_only=True)
    model = load_pretrained(folder)
    card = render_card(read_checkpoint_config(folder), model.provenance.evaluations, model.num_parameters(),
                       (folder / CURVES_FILE).is_file())
    atomic_write_text(folder / CARD_FILE, card)
    return card


def record_evaluation(folder: Path, evaluation: Evaluation) -> None:
    """Add `evaluation` to a local checkpoint folder's `eval_results.json` and card (replacing an earlier evaluation
    of the same task setting); the folder is rewritten whole."""
    model = load_pretrained(folder)
    model.provenance = model.provenance.with_evaluation(evaluation)
    model.save_pretrained(folder)


def training_metrics(path: str | Path) -> dict[str, float]:
    """The metrics a checkpoint's training measured (its first evaluation: validation and test), `{}` if none."""
    folder, _ = locate_checkpoint(path, local_files_only=True)
    evaluations = read_evaluations(folder, read_checkpoint_config(folder))
    return dict(evaluations[0].metrics) if evaluations else {}
