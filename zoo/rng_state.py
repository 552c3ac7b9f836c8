"""A Lightning callback that keeps the random number generators in the training checkpoint, so that a resumed run
draws what the uninterrupted run would have drawn (data order, dropout, augmentation): Lightning saves the model,
optimiser, scheduler and loop state, not the generators."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


class RngState(Callback):
    """Saves Python's, NumPy's and torch's CPU (and CUDA, where present) generator states with every checkpoint and
    restores them when a run resumes from one."""

    def state_dict(self) -> dict[str, Any]:
        kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
        # plain types and tensors only: checkpoints must load with torch.load(weights_only=True)
        numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}
        state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_dict["python"])
        numpy_state = state_dict["numpy"]
        np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                             numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
