"""The model benchmark cases: every family's seqzoo model at the benchmark size, and beside it the upstream
models of that family at the same configuration (`zoo.bench.model_peers`)."""

from __future__ import annotations

import torch

from zoo.bench.lm_case import LM, ModelCase
from zoo.bench.model_families import Sized
from zoo.bench.model_peers import PEERS
from zoo.models import ModelConfig, build_model


def _ours_build(config: ModelConfig):
    def build(device: torch.device, dtype: torch.dtype, max_len: int) -> LM:
        model = build_model(config).to(device=device, dtype=dtype)
        return LM(model, model, lambda ids, room: model.prefill(ids)[1], model.step)

    return build


def ours(sized: Sized) -> ModelCase:
    """Our model of the family."""
    return ModelCase(sized.family.name, "seqzoo", _ours_build(sized.config))


def model_cases(sized: list[Sized], peers: bool = True) -> list[ModelCase]:
    """For each family: ours, then (with `peers`) the upstream models of that family."""
    cases = []
    for s in sized:
        cases.append(ours(s))
        if peers and s.family.name in PEERS:
            cases += PEERS[s.family.name](s.family.name, s.config)
    return cases
