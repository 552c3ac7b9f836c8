"""What every upstream converter shares: finding and reading the upstream folder (config.json and the weights:
model.safetensors, pytorch_model.bin, or their sharded index), reading config keys with errors that name them, and
loading converted tensors into our model with errors that name the tensor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard

from zoo.locate import HUB_PREFIX, fetch, hub_repo_id
from zoo.models.upstream import EMBEDDING, LM_HEAD, ConversionError, Tensors

CONFIG_FILE = "config.json"
# weight files in order of preference: one file, or a sharded index naming the shard of each tensor
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_SUFFIX = ".index.json"
CARD_FILE = "README.md"
HUB_PATTERNS = [CONFIG_FILE, CARD_FILE, "model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin",
                "pytorch_model.bin.index.json"]


@dataclass
class Upstream:
    """An upstream checkpoint read into memory: where it came from, its config dict and its state dict."""

    origin: str
    folder: Path
    config: dict[str, Any]
    state_dict: Tensors


def locate(path_or_hub_id: str | Path) -> tuple[Path, str]:
    """The local folder of a checkpoint and a readable origin. A local folder is used as is; `hf-hub:org/name`,
    or `org/name` that is no local path, is fetched through the Hugging Face cache (honouring HF_HUB_OFFLINE)."""
    text = str(path_or_hub_id)
    folder = Path(text).expanduser()
    if not text.startswith(HUB_PREFIX):
        if folder.is_dir():
            return folder, str(folder)
        if folder.exists():
            raise ConversionError(f"{folder} is a file; pass the upstream checkpoint's folder (it holds {CONFIG_FILE})")
    repo_id = hub_repo_id(text)
    if repo_id is None:
        raise ConversionError(f"upstream checkpoint folder not found: {folder}")
    return fetch(repo_id, HUB_PATTERNS), f"{HUB_PREFIX}{repo_id}"


def upstream_license(folder: Path) -> tuple[str, str | None, str | None]:
    """The license the upstream model card (README.md) declares: (hub license id, license_name, license_link);
    ("unknown", None, None) when the folder has no card or the card names none."""
    card_path = folder / CARD_FILE
    if card_path.is_file():
        try:
            data = ModelCard.load(card_path).data
        except Exception:  # a card we cannot parse declares nothing we can rely on
            return "unknown", None, None
        if data.license:
            return data.license, data.get("license_name"), data.get("license_link")
    return "unknown", None, None


def read_config(folder: Path) -> dict[str, Any]:
    """The upstream config.json as a dict."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ConversionError(f"{folder} has no {CONFIG_FILE}: not an upstream checkpoint folder")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConversionError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{path} does not hold a JSON object")
    return config


def _load_file(path: Path) -> Tensors:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ConversionError(f"{path} cannot be read ({type(error).__name__}: {error})") from None


def read_weights(folder: Path) -> Tensors:
    """The upstream state dict: model.safetensors, else pytorch_model.bin, else a sharded index of either."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            state = _load_file(folder / name)
            break
        index = folder / f"{name}{INDEX_SUFFIX}"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ConversionError(f"{index} is not a sharded-checkpoint index ({error!r})") from None
            state = {}
            for shard in sorted(set(weight_map.values())):
                if not (folder / shard).is_file():
                    raise ConversionError(f"{index} names the shard {shard}, which is missing from {folder}")
                state.update(_load_file(folder / shard))
            break
    else:
        raise ConversionError(
            f"{folder} holds no weights: expected one of {', '.join(WEIGHT_FILES)} "
            f"(or a sharded {WEIGHT_FILES[0]}{INDEX_SUFFIX})"
        )
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"the weights in {folder} are not a state dict (name -> tensor)")
    return dict(state)


def read_upstream(path_or_hub_id: str | Path) -> Upstream:
    """Locate and read an upstream checkpoint folder: config and weights."""
    folder, origin = locate(path_or_hub_id)
    config = read_config(folder)
    return Upstream(origin, folder, config, read_weights(folder))


def load_converted(model: torch.nn.Module, converted: Tensors, sources: Mapping[str, str], where: str) -> None:
    """Copy `converted` (our names -> tensors) into `model`, refusing tensors we have no place for, places no tensor
    fills and shape mismatches; `sources` maps our names to the upstream names for the messages. Tied weights (the
    LM head sharing the embedding) need only the embedding."""
    expected = model.state_dict()
    tied = getattr(model.config.head, "tie_embeddings", False)
    if tied and LM_HEAD in converted:
        head = converted.pop(LM_HEAD)
        embedding = converted.get(EMBEDDING)
        if embedding is not None and not torch.equal(head, embedding):
            raise ConversionError(
                f"{where}: the config ties the LM head to the embedding, but the checkpoint's "
                f"'{sources.get(LM_HEAD, LM_HEAD)}' differs from its embedding"
            )
    unexpected = sorted(set(converted) - set(expected))
    if unexpected:
        names = ", ".join(f"'{sources.get(n, n)}'" for n in unexpected)
        raise ConversionError(f"{where}: upstream tensor(s) {names} have no counterpart in the converted model")
    missing = sorted(set(expected) - set(converted) - ({LM_HEAD} if tied else set()))
    if missing:
        raise ConversionError(f"{where}: the checkpoint lacks the tensor(s) for {', '.join(missing)}")
    for name, tensor in converted.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ConversionError(
                f"{where}: tensor '{sources.get(name, name)}' has shape {tuple(tensor.shape)}, but the config asks "
                f"for {tuple(expected[name].shape)} (as '{name}')"
            )
    with torch.no_grad():
        for name, parameter in expected.items():
            if name in converted:
                parameter.copy_(converted[name])
