"""seqzoo's image classifiers in timm's model registry, so that timm's tools build them:

    timm.list_models("seqzoo_*")
    model = timm.create_model("seqzoo_mamba2_tiny_patch4", num_classes=10, in_chans=1, img_size=28)

`seqzoo_<preset>_patch4` (the preset's `-` spelled `_`) is the `-tiny` preset of a family (`FAMILY_PRESETS`) as a
Vision-Mamba-style classifier: 4 x 4 patches (`encoders/patches.py`: timm's `PatchEmbed`, row-major scan, learned
position embedding), the backbone run both ways (`bidirectional`: attention unmasked within the preset's window,
recurrent mixers in both directions) and a mean-pooled linear head. The presets' windows and blocks are kept: on a
grid of 7 x 7 or 8 x 8 patches a window of 8 tokens is about one row of patches either side, which keeps the sparse
transformers sparse. Defaults (`pretrained_cfg`): CIFAR-10's 3 x 32 x 32 images, 10 classes, its mean and std; no
pretrained weights (`pretrained=True` is refused).

The models are `SeqZooImageClassifier`, a thin wrapper of `SequenceModel` with timm's classifier interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn
from zoo.models.config import merge_config
from zoo.models.model import SequenceModel
from zoo.models.registry import get_entry

# timm's "avg" pooling is our "mean"; our own pooling names are taken as they are
POOLS = {"avg": "mean", "mean": "mean", "last": "last", "first": "first"}
FAMILY_PRESETS = ("attention-tiny", "swa-tiny", "longformer-tiny", "bigbird-tiny", "mamba-tiny", "mamba2-tiny",
                  "mamba2-hybrid-tiny", "xlstm-tiny", "deltanet-tiny", "gated-deltanet-tiny", "based-tiny")
PATCH_SIZE = 4
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def timm_name(preset: str) -> str:
    """The timm name of a preset's image classifier: `mamba2-tiny` -> `seqzoo_mamba2_tiny_patch4`."""
    return f"seqzoo_{preset.replace('-', '_')}_patch{PATCH_SIZE}"


def _square(img_size: int | Sequence[int]) -> int:
    """timm's `img_size` (an int, or (H, W) as timm passes it) as the side of a square image."""
    sides = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    if len(sides) != 2 or sides[0] != sides[1]:
        raise ValueError(f"seqzoo's patch encoder reads square images; got img_size {img_size}")
    return int(sides[0])


def _pool(global_pool: str) -> str:
    if global_pool not in POOLS:
        raise ValueError(f"global_pool '{global_pool}' is not a pooling of seqzoo's classifier; choose one of: "
                         f"{', '.join(POOLS)}")
    return POOLS[global_pool]


class SeqZooImageClassifier(nn.Module):
    """A seqzoo preset as a timm image classifier: images `[B, in_chans, H, W]` -> logits `[B, num_classes]`.

    preset: a registered preset (its backbone); num_classes >= 1; img_size: the side of the square images (or
    (H, H)); patch_size: divides img_size; global_pool: `avg` (mean over patches), `last` or `first`; drop_rate:
    dropout before the classifier; overrides: `ModelConfig` fields (`d_model=32`, `mixers={...}`).
    `forward_features` gives the patch features `[B, T, d_model]` (T = (img_size / patch_size)^2), `forward_head`
    pools and classifies them.
    """

    def __init__(self, preset: str, num_classes: int = 10, in_chans: int = 3, img_size: int | Sequence[int] = 32,
                 patch_size: int = PATCH_SIZE, global_pool: str = "avg", drop_rate: float = 0.0,
                 **overrides: Any) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}: seqzoo's classifier head always "
                             "classifies (pooled features: forward_head(x, pre_logits=True))")
        encoder = {"kind": "patches", "image_size": _square(img_size), "patch_size": patch_size,
                   "in_channels": in_chans}
        head = {"kind": "classifier", "num_outputs": num_classes, "pool": _pool(global_pool), "dropout": drop_rate}
        config = merge_config(get_entry(preset).make_config(),
                              {**overrides, "bidirectional": True, "encoder": encoder, "head": head})
        self.model = SequenceModel(config)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = config.d_model

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images `[B, C, H, W]` -> patch features `[B, T, d_model]`."""
        return self.model.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Patch features `[B, T, d_model]` -> logits `[B, num_classes]`; with pre_logits, the pooled features
        `[B, d_model]`."""
        return self.model.forward_head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images `[B, C, H, W]` -> logits `[B, num_classes]`."""
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The final linear layer (timm's classifier)."""
        return self.model.head.linear

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier of `num_classes` >= 1 outputs (and `global_pool`, when given); the rest keeps its
        weights."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        head: dict[str, Any] = {"num_outputs": num_classes}
        if global_pool is not None:
            head["pool"] = _pool(global_pool)
            self.global_pool = global_pool
        self.model.reset_head(**head)
        self.num_classes = num_classes

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters trained without weight decay: vectors (norm scales, biases) and those marked
        `_no_weight_decay` (the position embedding, Mamba's A_log and D)."""
        return {name for name, parameter in self.named_parameters()
                if parameter.ndim < 2 or getattr(parameter, "_no_weight_decay", False)}


def _cfg() -> dict[str, Any]:
    return {"url": "", "num_classes": 10, "input_size": (3, 32, 32), "pool_size": None, "crop_pct": 1.0,
            "interpolation": "bicubic", "fixed_input_size": True, "mean": CIFAR10_MEAN, "std": CIFAR10_STD,
            "first_conv": "model.encoder.patch_embed.proj", "classifier": "model.head.linear",
            "license": "apache-2.0"}


default_cfgs = generate_default_cfgs({timm_name(preset): _cfg() for preset in FAMILY_PRESETS})


def _register(preset: str) -> None:
    """Register the timm entrypoint of `preset`'s image classifier."""
    name = timm_name(preset)

    def entrypoint(pretrained: bool = False, **kwargs: Any) -> SeqZooImageClassifier:
        if pretrained:
            raise ValueError(f"{name} has no pretrained weights; create it with pretrained=False")
        return build_model_with_cfg(SeqZooImageClassifier, name, pretrained=False, preset=preset, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"{preset} as a bidirectional image classifier over {PATCH_SIZE} x {PATCH_SIZE} patches."
    register_model(entrypoint)


for _preset in FAMILY_PRESETS:
    _register(_preset)
