"""The model families of the model benchmark, each built from its registered preset at one size.

A family is a preset (`zoo list`) whose layer pattern is repeated to `n` layers and whose mixer sections are
sized by d_model: heads of 64 channels (fewer at tiny widths), windows of `window` tokens. Every family is
then matched to the same parameter count: families with an MLP after their mixers keep the number of layers
and take the MLP width that comes closest; those without one (Mamba-1, xLSTM) take the number of layers that
comes closest. The target is `params`, or else the full-attention model's count at (d_model, layers, MLP
width d_intermediate). Models are built through the public API alone: `zoo.create_model(preset, **overrides)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import zoo
from benchmarks.model_suite.sections import section_overrides, vocab_size, vocabulary_overrides

TOLERANCE = 0.10  # matched parameter counts lie within 10% of the target

Overrides = dict[str, Any]  # keyword arguments of zoo.create_model


@dataclass(frozen=True)
class Size:
    """The size every family is built at (`d_intermediate` 0: 8/3 d_model rounded up to `mlp_multiple`)."""

    d_model: int = 256
    layers: int = 4
    d_intermediate: int = 0
    window: int = 256
    vocab_size: int = 256
    params: int | None = None  # the target parameter count; None: the attention model's at this size

    @property
    def head_dim(self) -> int:
        return min(64, max(self.d_model // 4, 1))

    @property
    def heads(self) -> int:
        return max(self.d_model // self.head_dim, 1)

    @property
    def mlp_multiple(self) -> int:
        """MLP widths are multiples of this (128 from d_model 256 on: mamba_ssm rounds its GatedMLP to 128)."""
        return max(min(128, self.d_model // 2), 8)

    @property
    def mlp_width(self) -> int:
        if self.d_intermediate:
            return self.d_intermediate
        return -(-8 * self.d_model // (3 * self.mlp_multiple)) * self.mlp_multiple


@dataclass(frozen=True)
class Family:
    """A preset, its layer pattern as a function of the number of layers, and its mixer sections at a size (each
    a dict of the fields it sets in the preset's section)."""

    name: str
    preset: str
    pattern: Callable[[int], list[str]]
    sections: Callable[[Size], dict[str, dict[str, Any]]]
    description: str

    def overrides(self, size: Size, layers: int, d_intermediate: int) -> Overrides:
        """The preset at `size` with `layers` layers (its MLP, if it has one, `d_intermediate` wide)."""
        return dict(d_model=size.d_model, layers=self.pattern(layers), d_intermediate=d_intermediate if self.has_mlp else 0,
                    **vocabulary_overrides(size.vocab_size), **section_overrides(self.sections(size)))

    @property
    def has_mlp(self) -> bool:
        return _has_mlp(self.preset)


@functools.lru_cache(maxsize=None)
def _has_mlp(preset: str) -> bool:
    """Whether the preset's blocks have an MLP after their mixers."""
    with torch.device("meta"):
        return zoo.create_model(preset).config.d_intermediate > 0


def _repeat(*names: str) -> Callable[[int], list[str]]:
    return lambda n: [names[i % len(names)] for i in range(n)]


def _based_pattern(n: int) -> list[str]:
    """based-360m's layout: linear attention at layers 1, 6, 11, ..., sliding window at 2, 7, 12, ..., convs else."""
    return ["based" if i % 5 == 1 else "attention" if i % 5 == 2 else "based_conv" for i in range(n)]


def _xlstm_pattern(n: int) -> list[str]:
    """xLSTM[7:1]: an sLSTM block as the 4th of every 8 (xlstm-7-1-125m's positions 3, 11, 19), mLSTM else."""
    return ["slstm" if i % 8 == 3 else "mlstm" for i in range(n)]


def _attention(kind: str) -> Callable[[Size], dict]:
    def sections(s: Size) -> dict:
        fields = dict(num_heads=s.heads, kind=kind)
        if kind in ("sliding_window", "longformer"):
            fields["window"] = s.window
        if kind == "longformer":
            fields["global_tokens"] = [0]
        if kind == "bigbird":
            fields.update(block_size=max(s.window // 4, 1), window_blocks=3, global_blocks=1, random_blocks=2)
        return dict(attention=fields)

    return sections


def _mamba2(s: Size) -> dict:
    return dict(d_state=64, headdim=s.head_dim, expand=2, chunk_size=64)


def _gated_deltanet(s: Size) -> dict:
    """fla's proportions: query/key heads covering 3/4 of d_model, values twice as wide."""
    return dict(num_heads=max(3 * s.d_model // (4 * s.head_dim), 1), head_dim=s.head_dim, expand_v=2.0)


def _xlstm(s: Size) -> dict:
    heads = 4 if s.d_model >= 64 else 1
    return dict(mlstm=dict(num_heads=heads), slstm=dict(num_heads=heads))


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in [
        Family("attention", "attention-tiny", _repeat("attention"), _attention("full"), "full causal attention"),
        Family("swa", "swa-tiny", _repeat("attention"), _attention("sliding_window"), "sliding-window attention"),
        Family("longformer", "longformer-tiny", _repeat("attention"), _attention("longformer"),
               "Longformer: sliding window + global token 0"),
        Family("bigbird", "bigbird-tiny", _repeat("attention"), _attention("bigbird"),
               "BigBird: window, global and random blocks"),
        Family("mamba", "mamba-tiny", _repeat("mamba"), lambda s: dict(mamba=dict(d_state=16)), "Mamba-1 (no MLP)"),
        Family("mamba2", "mamba2-tiny", _repeat("mamba2"), lambda s: dict(mamba2=_mamba2(s)), "Mamba-2 with MLPs"),
        Family("hybrid", "hybrid-tiny", _repeat("mamba2", "attention"),
               lambda s: dict(mamba2=_mamba2(s), attention=dict(num_heads=s.heads)),
               "Mamba-2 and full attention, alternating"),
        Family("deltanet", "deltanet-tiny", _repeat("deltanet"), lambda s: dict(deltanet=dict(num_heads=s.heads)),
               "DeltaNet"),
        Family("gated-deltanet", "gated-deltanet-tiny", _repeat("gated_deltanet"),
               lambda s: dict(gated_deltanet=_gated_deltanet(s)), "Gated DeltaNet"),
        Family("based", "based-tiny", _based_pattern,
               lambda s: dict(based=dict(feature_dim=16, num_heads=s.heads),
                              attention=dict(num_heads=s.heads, kind="sliding_window", window=s.window)),
               "BASED: gated convs, Taylor linear attention, sliding window"),
        Family("xlstm", "xlstm-tiny", _xlstm_pattern, _xlstm, "xLSTM[7:1] (no MLP after mLSTM blocks)"),
    ]
}


def family_names() -> list[str]:
    """The families whose presets are registered (a preset another change has not added yet is left out)."""
    registered = set(zoo.list_models())
    return [name for name, family in FAMILIES.items() if family.preset in registered]


def check_families(names: list[str]) -> list[Family]:
    """The families `names` names; a ValueError lists the known ones for a name that is not."""
    known = family_names()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown model famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                         f"choose from: {', '.join(known)}")
    return [FAMILIES[name] for name in names]


def count_parameters(preset: str, overrides: Overrides) -> int:
    """Parameters of the preset with `overrides`, built on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        return zoo.create_model(preset, **overrides).num_parameters()


@dataclass(frozen=True)
class Sized:
    """A family at the benchmark size: the `create_model` overrides of its preset, and its parameter count."""

    family: Family
    overrides: Overrides
    parameters: int
    target: int

    @property
    def deviation(self) -> float:
        return self.parameters / self.target - 1

    def create(self) -> torch.nn.Module:
        """The model (random initialisation, on the current default device)."""
        return zoo.create_model(self.family.preset, **self.overrides)

    @property
    def config(self) -> Any:
        """The built model's config (`model.config`), read from a copy on the meta device."""
        with torch.device("meta"):
            return self.create().config

    def describe(self) -> dict:
        """The family, its parameter count against the target, and the overrides that build it from its preset."""
        o = self.overrides
        return {"family": self.family.name, "preset": self.family.preset, "description": self.family.description,
                "parameters": self.parameters, "target_parameters": self.target,
                "deviation": round(self.deviation, 4), "d_model": o["d_model"], "layers": list(o["layers"]),
                "d_intermediate": o["d_intermediate"], "vocab_size": vocab_size(self.config),
                "section_overrides": {k: v for k, v in o.items() if k not in _TOP_LEVEL}}


_TOP_LEVEL = ("d_model", "layers", "d_intermediate")


def _count(family: Family, size: Size, layers: int, d_intermediate: int) -> int:
    return count_parameters(family.preset, family.overrides(size, layers, d_intermediate))


def _best_width(family: Family, size: Size, layers: int, target: int) -> tuple[int, int]:
    """(MLP width, parameter count) closest to `target` at `layers` layers; the count is linear in the width."""
    m = size.mlp_multiple
    low, high = _count(family, size, layers, m), _count(family, size, layers, 2 * m)
    per_multiple = high - low
    steps = max(round((target - low) / per_multiple), 0) if per_multiple else 0
    width = m * (1 + steps)
    return width, low + steps * per_multiple


def _layer_counts_near(family: Family, size: Size, target: int) -> list[int]:
    """Layer counts around the one whose parameter count is estimated (linearly in the layers) to hit `target`."""
    base = _count(family, size, size.layers, size.mlp_width)
    per_layer = (_count(family, size, 2 * size.layers, size.mlp_width) - base) / size.layers
    estimate = round(size.layers + (target - base) / per_layer)
    return [n for n in range(estimate - 2, estimate + 3) if n >= 1]


def _sized(family: Family, size: Size, layers: int, width: int, target: int | None) -> Sized:
    overrides = family.overrides(size, layers, width)
    parameters = count_parameters(family.preset, overrides)
    return Sized(family, overrides, parameters, target or parameters)


def match(family: Family, size: Size, target: int) -> Sized:
    """The family at `size` with the parameter count closest to `target` (see the module docstring)."""
    if family.has_mlp:
        candidates = [(size.layers, *_best_width(family, size, size.layers, target))]
        if abs(candidates[0][2] / target - 1) > TOLERANCE:  # the mixers alone outweigh the target: fewer layers
            candidates += [(n, *_best_width(family, size, n, target)) for n in _layer_counts_near(family, size, target)]
    else:
        candidates = [(n, 0, _count(family, size, n, 0)) for n in _layer_counts_near(family, size, target)]
    layers, width, _ = min(candidates, key=lambda c: (abs(c[2] - target), abs(c[0] - size.layers)))
    return _sized(family, size, layers, width, target)


def sized_families(names: list[str], size: Size, match_params: bool = True) -> list[Sized]:
    """Every named family at `size`: matched to the target count (ValueError naming a family that cannot be
    matched within 10%), or, with `match_params` False, all at `size.layers` layers and MLP width."""
    families = check_families(names)
    if not match_params:
        return [_sized(family, size, size.layers, size.mlp_width, size.params) for family in families]
    target = size.params or _count(FAMILIES["attention"], size, size.layers, size.mlp_width)
    sized = [match(family, size, target) for family in families]
    off = [f"{s.family.name} ({s.parameters:,})" for s in sized if abs(s.deviation) > TOLERANCE]
    if off:
        raise ValueError(f"cannot match {', '.join(off)} to {target:,} parameters within {TOLERANCE:.0%} at "
                         f"d_model {size.d_model}; choose another size or --no-match")
    return sized


