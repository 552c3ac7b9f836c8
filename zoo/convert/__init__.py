"""Upstream checkpoints -> seqzoo models: `from_upstream` reads an upstream folder (or hub id) and returns our
`SequenceModel` with its weights; `convert` writes it in our hub layout (what `zoo convert` runs).

    import zoo.convert
    model = zoo.convert.from_upstream("state-spaces/mamba-130m", source="mamba_ssm")  # or a local folder
    zoo.convert.convert("path/to/fla-checkpoint", "converted/", source="fla")
    model = zoo.from_pretrained("path/to/mamba2-checkpoint", source="mamba_ssm")      # the same, through the hub API

Each format's mapping of config keys and tensors lives with the family it converts to and registers itself
(`zoo.models.registry.register_converter`; `zoo.models.CONVERTERS` lists them): mamba_ssm's `MambaLMHeadModel`
(`models/families/mamba/convert.py`), fla's DeltaNet models (`families/deltanet/convert.py`), xlstm's
`xLSTMLMModel` (`families/xlstm/convert.py`) and HazyResearch/based's `GPTLMHeadModel` (`families/based/convert.py`).
Everything that cannot be converted raises `zoo.models.upstream.ConversionError` naming the file, config key or
tensor.
"""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.convert.common import load_converted, read_upstream, upstream_license
from zoo.hub import SequenceModel, build, save_pretrained
from zoo.locate import HUB_PREFIX
from zoo.models import CONVERTERS, UnknownNameError
from zoo.models.registry import Converter
from zoo.models.upstream import ConversionError
from zoo.provenance import Provenance

__all__ = ["ConversionError", "convert", "converter", "from_upstream"]


def converter(source: str) -> Converter:
    """The registered converter of upstream format `source`; the error lists the known formats."""
    try:
        return CONVERTERS.get(source)
    except UnknownNameError as error:
        raise ConversionError(str(error)) from None


def _name(origin: str) -> str:
    """A model name from the upstream folder or hub id: its last path component."""
    return origin.rstrip("/").rsplit("/", 1)[-1].removeprefix("hf-hub:") or "converted"


def from_upstream(
    path_or_hub_id: str | Path,
    source: str,
    *,
    name: str | None = None,
    dtype: torch.dtype | None = None,
    base_model: str | None = None,
    license: str | None = None,
) -> SequenceModel:
    """Our `SequenceModel` (eval mode) with the weights of an upstream checkpoint: a folder with config.json and
    model.safetensors or pytorch_model.bin (or a sharded index), or `hf-hub:org/name` / `org/name` fetched through
    the Hugging Face cache. source: "mamba_ssm", "fla", "xlstm" or "based".
    name: the config's name (default: the folder's or
    repository's name). dtype: cast the model (default float32, which holds fp16/bf16 weights exactly).

    The model's provenance names its source: `base_model` (default: the hub repository it was fetched from) and
    `license` (default: the one the upstream card declares, else "unknown")."""
    module = converter(source)
    upstream = read_upstream(path_or_hub_id)
    where = f"{source} checkpoint {upstream.origin}"
    config, options = module.model_config(upstream.config, where)
    config.name = name or _name(upstream.origin)
    try:
        model = build(config)
    except ValueError as error:  # ModelConfigError included
        raise ConversionError(f"{where}: the converted config does not build: {error}") from None
    converted, sources = module.state_dict(upstream.state_dict, config, options)
    load_converted(model, converted, sources, where)
    if dtype is not None:
        model = model.to(dtype)
    card_license, license_name, license_link = upstream_license(upstream.folder)
    model.provenance = Provenance(
        name=config.name,
        base_model=base_model or (upstream.origin.removeprefix(HUB_PREFIX)
                                  if upstream.origin.startswith(HUB_PREFIX) else None),
        license=license or card_license,
        license_name=None if license else license_name,
        license_link=None if license else license_link,
        converted_from={"source": source, "checkpoint": upstream.origin},
    )
    return model.eval()


def convert(source_dir: str | Path, out_dir: str | Path, source: str, *, name: str | None = None,
            base_model: str | None = None, license: str | None = None) -> Path:
    """Convert an upstream checkpoint and write it at `out_dir` in our hub layout (config.json, model.safetensors,
    README.md naming the source, its license and base model), atomically: `out_dir` appears whole or not at all.
    Returns `out_dir`."""
    return save_pretrained(from_upstream(source_dir, source, name=name, base_model=base_model, license=license),
                           out_dir)
