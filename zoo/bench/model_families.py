"""The model families of the model benchmark, each built from its registered preset at one size.

A family is a preset (`zoo list`) whose layer pattern is repeated to `n` layers and whose mixer sections are
sized by d_model: heads of 64 channels (fewer at tiny widths), windows of `window` tokens. Every family is
then matched to the same parameter count: families with an MLP after their mixers keep the number of layers
and take the MLP width that comes closest; those without one (Mamba-1, xLSTM) take the number of layers that
comes closest. The target is `params`, or else the full-attention model's count at (d_model, layers, MLP
width d_intermediate).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from zoo.models import ModelConfig, build_model, model_config
from zoo.models.attention import AttentionConfig
from zoo.models.based import BasedConfig
from zoo.models.deltanet import DeltaNetConfig, GatedDeltaNetConfig
from zoo.models.mamba import Mamba2Config, MambaConfig
from zoo.models.xlstm import MLSTMConfig, SLSTMConfig

TOLERANCE = 0.10  # matched parameter counts lie within 10% of the target


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
    """A preset, its layer pattern as a function of the number of layers, and its sections at a size."""

    name: str
    preset: str
    pattern: Callable[[int], list[str]]
    sections: Callable[[Size], dict]
    description: str

    def config(self, size: Size, layers: int, d_intermediate: int) -> ModelConfig:
        """The preset at `size` with `layers` layers (its MLP, if it has one, `d_intermediate` wide)."""
        preset = model_config(self.preset)
        mlp = d_intermediate if preset.d_intermediate > 0 else 0
        return model_config(self.preset, d_model=size.d_model, layers=self.pattern(layers), d_intermediate=mlp,
                            vocab_size=size.vocab_size, **self.sections(size))

    @property
    def has_mlp(self) -> bool:
        return model_config(self.preset).d_intermediate > 0


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
        return dict(attention=AttentionConfig(**fields))

    return sections


def _mamba2(s: Size) -> Mamba2Config:
    return Mamba2Config(d_state=64, headdim=s.head_dim, expand=2, chunk_size=64)


def _gated_deltanet(s: Size) -> GatedDeltaNetConfig:
    """fla's proportions: query/key heads covering 3/4 of d_model, values twice as wide."""
    return GatedDeltaNetConfig(num_heads=max(3 * s.d_model // (4 * s.head_dim), 1), head_dim=s.head_dim, expand_v=2.0)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in [
        Family("attention", "attention-tiny", _repeat("attention"), _attention("full"), "full causal attention"),
        Family("swa", "swa-tiny", _repeat("attention"), _attention("sliding_window"), "sliding-window attention"),
        Family("longformer", "longformer-tiny", _repeat("attention"), _attention("longformer"),
               "Longformer: sliding window + global token 0"),
        Family("bigbird", "bigbird-tiny", _repeat("attention"), _attention("bigbird"),
               "BigBird: window, global and random blocks"),
        Family("mamba", "mamba-tiny", _repeat("mamba"), lambda s: dict(mamba=MambaConfig(d_state=16)),
               "Mamba-1 (no MLP)"),
        Family("mamba2", "mamba2-tiny", _repeat("mamba2"), lambda s: dict(mamba2=_mamba2(s)), "Mamba-2 with MLPs"),
        Family("hybrid", "hybrid-tiny", _repeat("mamba2", "attention"),
               lambda s: dict(mamba2=_mamba2(s), attention=AttentionConfig(num_heads=s.heads)),
               "Mamba-2 and full attention, alternating"),
        Family("deltanet", "deltanet-tiny", _repeat("deltanet"),
               lambda s: dict(deltanet=DeltaNetConfig(num_heads=s.heads)), "DeltaNet"),
        Family("gated-deltanet", "gated-deltanet-tiny", _repeat("gated_deltanet"),
               lambda s: dict(gated_deltanet=_gated_deltanet(s)), "Gated DeltaNet"),
        Family("based", "based-tiny", _based_pattern,
               lambda s: dict(based=BasedConfig(feature_dim=16, num_heads=s.heads),
                              attention=AttentionConfig(num_heads=s.heads, kind="sliding_window", window=s.window)),
               "BASED: gated convs, Taylor linear attention, sliding window"),
        Family("xlstm", "xlstm-tiny", _xlstm_pattern,
               lambda s: dict(mlstm=MLSTMConfig(num_heads=4 if s.d_model >= 64 else 1),
                              slstm=SLSTMConfig(num_heads=4 if s.d_model >= 64 else 1)),
               "xLSTM[7:1] (no MLP after mLSTM blocks)"),
    ]
}


def family_names() -> list[str]:
    """The families whose presets are registered (a preset another change has not added yet is left out)."""
    from zoo.models import list_models

    registered = set(list_models())
    return [name for name, family in FAMILIES.items() if family.preset in registered]


def check_families(names: list[str]) -> list[Family]:
    """The families `names` names; a ValueError lists the known ones for a name that is not."""
    known = family_names()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown model famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                         f"choose from: {', '.join(known)}")
    return [FAMILIES[name] for name in names]


def count_parameters(config: ModelConfig) -> int:
    """Parameters of the model `config` describes, built on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        return build_model(config).num_parameters()


@dataclass(frozen=True)
class Sized:
    """A family's config at the benchmark size and its parameter count."""

    family: Family
    config: ModelConfig
    parameters: int
    target: int

    @property
    def deviation(self) -> float:
        return self.parameters / self.target - 1

    def describe(self) -> dict:
        c = self.config
        return {"family": self.family.name, "preset": self.family.preset, "description": self.family.description,
                "parameters": self.parameters, "target_parameters": self.target,
                "deviation": round(self.deviation, 4), "d_model": c.d_model, "layers": list(c.layers),
                "d_intermediate": c.d_intermediate, "vocab_size": c.vocab_size, "config": _plain(c)}


def _plain(config: ModelConfig) -> dict:
    """The config's sections that its layers use, as plain dicts."""
    sections = {"attention": "attention", "mamba": "mamba", "mamba2": "mamba2", "based": "based",
                "based_conv": "based", "deltanet": "deltanet", "gated_deltanet": "gated_deltanet", "mlstm": "mlstm",
                "slstm": "slstm"}
    used = sorted({sections[name] for name in config.layers if name in sections})
    return {name: dataclasses.asdict(getattr(config, name)) for name in used}


def _best_width(family: Family, size: Size, layers: int, target: int) -> tuple[int, int]:
    """(MLP width, parameter count) closest to `target` at `layers` layers; the count is linear in the width."""
    m = size.mlp_multiple
    low, high = count_parameters(family.config(size, layers, m)), count_parameters(family.config(size, layers, 2 * m))
    per_multiple = high - low
    steps = max(round((target - low) / per_multiple), 0) if per_multiple else 0
    width = m * (1 + steps)
    return width, low + steps * per_multiple


def _layer_counts_near(family: Family, size: Size, target: int) -> list[int]:
    """Layer counts around the one whose parameter count is estimated (linearly in the layers) to hit `target`."""
    base = count_parameters(family.config(size, size.layers, size.mlp_width))
    per_layer = (count_parameters(family.config(size, 2 * size.layers, size.mlp_width)) - base) / size.layers
    estimate = round(size.layers + (target - base) / per_layer)
    return [n for n in range(estimate - 2, estimate + 3) if n >= 1]


def match(family: Family, size: Size, target: int) -> Sized:
    """The family at `size` with the parameter count closest to `target` (see the module docstring)."""
    if family.has_mlp:
        candidates = [(size.layers, *_best_width(family, size, size.layers, target))]
        if abs(candidates[0][2] / target - 1) > TOLERANCE:  # the mixers alone outweigh the target: fewer layers
            candidates += [(n, *_best_width(family, size, n, target)) for n in _layer_counts_near(family, size, target)]
    else:
        candidates = [(n, 0, count_parameters(family.config(size, n, 0)))
                      for n in _layer_counts_near(family, size, target)]
    layers, width, _ = min(candidates, key=lambda c: (abs(c[2] - target), abs(c[0] - size.layers)))
    config = family.config(size, layers, width)
    return Sized(family, config, count_parameters(config), target)


def sized_families(names: list[str], size: Size, match_params: bool = True) -> list[Sized]:
    """Every named family at `size`: matched to the target count (ValueError naming a family that cannot be
    matched within 10%), or, with `match_params` False, all at `size.layers` layers and MLP width."""
    families = check_families(names)
    if not match_params:
        configs = [f.config(size, size.layers, size.mlp_width) for f in families]
        counts = [count_parameters(c) for c in configs]
        return [Sized(f, c, n, size.params or n) for f, c, n in zip(families, configs, counts)]
    target = size.params or count_parameters(FAMILIES["attention"].config(size, size.layers, size.mlp_width))
    sized = [match(family, size, target) for family in families]
    off = [f"{s.family.name} ({s.parameters:,})" for s in sized if abs(s.deviation) > TOLERANCE]
    if off:
        raise ValueError(f"cannot match {', '.join(off)} to {target:,} parameters within {TOLERANCE:.0%} at "
                         f"d_model {size.d_model}; choose another size or --no-match")
    return sized
