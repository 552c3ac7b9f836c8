"""Upstream checkpoints -> seqzoo models: `from_upstream` reads an upstream folder (or hub id) and returns our
`LMHeadModel` with its weights; `convert` writes it in our hub layout (what `zoo convert` runs).

    import zoo.convert
    model = zoo.convert.from_upstream("state-spaces/mamba-130m", source="mamba_ssm")  # or a local folder
    zoo.convert.convert("path/to/fla-checkpoint", "converted/", source="fla")
    model = zoo.from_pretrained("path/to/mamba2-checkpoint", source="mamba_ssm")      # the same, through the hub API

One module per source holds its mapping of config keys and tensors (its docstring is the table):
`zoo.convert.mamba_ssm` (mamba_ssm's `MambaLMHeadModel`: Mamba-1, Mamba-2, hybrids with MHA layers) and
`zoo.convert.fla` (fla's `DeltaNetForCausalLM`, `GatedDeltaNetForCausalLM`), `zoo.convert.xlstm` (xlstm's
`xLSTMLMModel`) and `zoo.convert.based` (HazyResearch/based's `GPTLMHeadModel`:
hazyresearch/based-*). A source module provides
`model_config(config_dict, where) -> (ModelConfig, options)` and `state_dict(upstream_state, config, options) ->
(our state dict, our name -> upstream name)`; registering it in `SOURCES` makes it available everywhere.
Everything that cannot be converted raises `zoo.errors.ConversionError` naming the file, config key or tensor.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import torch

from zoo.convert import based, fla, mamba_ssm, xlstm
from zoo.convert.common import read_upstream, load_converted
from zoo.errors import ConversionError
from zoo.models import LMHeadModel, build_model

SOURCES: dict[str, ModuleType] = {"mamba_ssm": mamba_ssm, "fla": fla, "xlstm": xlstm, "based": based}

__all__ = ["SOURCES", "ConversionError", "convert", "from_upstream", "source_module"]


def source_module(source: str) -> ModuleType:
    """The converter module of `source`; the error lists the known sources."""
    if source not in SOURCES:
        raise ConversionError(f"unknown upstream source {source!r}; choose one of: {', '.join(sorted(SOURCES))}")
    return SOURCES[source]


def _name(origin: str) -> str:
    """A model name from the upstream folder or hub id: its last path component."""
    return origin.rstrip("/").rsplit("/", 1)[-1].removeprefix("hf-hub:") or "converted"


def from_upstream(
    path_or_hub_id: str | Path,
    source: str,
    *,
    name: str | None = None,
    dtype: torch.dtype | None = None,
) -> LMHeadModel:
    """Our `LMHeadModel` (eval mode) with the weights of an upstream checkpoint: a folder with config.json and
    model.safetensors or pytorch_model.bin (or a sharded index), or `hf-hub:org/name` / `org/name` fetched through
    the Hugging Face cache. source: "mamba_ssm", "fla", "xlstm" or "based".
    name: the config's name (default: the folder's or
    repository's name). dtype: cast the model (default float32, which holds fp16/bf16 weights exactly)."""
    module = source_module(source)
    upstream = read_upstream(path_or_hub_id)
    where = f"{source} checkpoint {upstream.origin}"
    config, options = module.model_config(upstream.config, where)
    config.name = name or _name(upstream.origin)
    try:
        model = build_model(config)
    except ValueError as error:
        raise ConversionError(f"{where}: the converted config does not build: {error}") from None
    converted, sources = module.state_dict(upstream.state_dict, config, options)
    load_converted(model, converted, sources, where)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def convert(source_dir: str | Path, out_dir: str | Path, source: str, *, name: str | None = None) -> Path:
    """Convert an upstream checkpoint and write it at `out_dir` in our hub layout (config.json, model.safetensors,
    README.md), atomically: `out_dir` appears whole or not at all. Returns `out_dir`."""
    from zoo.hub import save_pretrained

    model = from_upstream(source_dir, source, name=name)
    provenance = {"converted_from": {"source": source, "checkpoint": str(source_dir)}}
    return save_pretrained(model, out_dir, training=provenance)
