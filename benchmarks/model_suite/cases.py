"""The model benchmark cases: every family's seqzoo model at the benchmark size, and beside it the upstream
models of that family at the same configuration (`benchmarks.model_suite.peer_models`)."""

from __future__ import annotations

import torch

from benchmarks.model_suite.case import LM, ModelCase
from benchmarks.model_suite.families import Sized
from benchmarks.model_suite.peer_models import PEERS


def _ours_build(sized: Sized):
    def build(device: torch.device, dtype: torch.dtype, max_len: int) -> LM:
        model = sized.create().to(device=device, dtype=dtype)
        return LM(model, model, lambda ids, room: model.prefill(ids)[1], model.step)

    return build


def ours(sized: Sized) -> ModelCase:
    """Our model of the family."""
    return ModelCase(sized.family.name, "seqzoo", _ours_build(sized))


def model_cases(sized: list[Sized], peers: bool = True) -> list[ModelCase]:
    """For each family: ours, then (with `peers`) the upstream models of that family at our model's config."""
    cases = []
    for s in sized:
        cases.append(ours(s))
        if peers and s.family.name in PEERS:
            cases += PEERS[s.family.name](s.family.name, s.config)
    return cases
