"""The patch encoder: an image cut into patches (timm's `PatchEmbed`), read as a sequence in a chosen scan order,
with a learned position embedding (as ViT and Vision Mamba)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from timm.layers import PatchEmbed, trunc_normal_
from torch import nn
from zoo.models.config import ModelConfigError
from zoo.models.registry import register_encoder

SCANS = ("row", "column", "snake")


@dataclass
class PatchEncoderConfig:
    """Square images of `image_size` pixels and `in_channels` channels, cut into `patch_size` patches.

    scan: the order in which the grid of patches becomes a sequence: `row` (row-major, ViT's), `column`
    (column-major) or `snake` (row-major with every other row reversed, so that neighbours in the sequence are
    neighbours in the image).
    """

    kind: str = "patches"
    image_size: int = 32
    patch_size: int = 4
    in_channels: int = 3
    scan: str = "row"
    position_embedding: bool = True


def scan_order(rows: int, columns: int, scan: str) -> torch.Tensor:
    """The row-major patch indices `[rows * columns]` in the order `scan` reads them."""
    grid = torch.arange(rows * columns).view(rows, columns)
    if scan == "column":
        grid = grid.t()
    elif scan == "snake":
        grid = grid.clone()
        grid[1::2] = grid[1::2].flip(-1)
    return grid.reshape(-1)


@register_encoder("patches", config=PatchEncoderConfig)
class PatchEncoder(nn.Module):
    """Images `[B, C, H, W]` -> patch embeddings `[B, (H / p) * (W / p), d_model]` in scan order."""

    reads = "image"

    def __init__(self, d_model: int, config: PatchEncoderConfig):
        super().__init__()
        if config.scan not in SCANS:
            raise ModelConfigError("encoder.scan", f"'{config.scan}' is not a scan order; choose one of: "
                                   f"{', '.join(SCANS)}")
        if config.patch_size < 1 or config.image_size % config.patch_size:
            raise ModelConfigError(
                "encoder.patch_size", f"must divide image_size {config.image_size}, got {config.patch_size}"
            )
        self.patch_embed = PatchEmbed(
            img_size=config.image_size,
            patch_size=config.patch_size,
            in_chans=config.in_channels,
            embed_dim=d_model,
            flatten=False,
        )
        rows, columns = self.patch_embed.grid_size
        self.scan = config.scan
        self.register_buffer("order", scan_order(rows, columns, config.scan), persistent=False)
        self.position = None
        if config.position_embedding:
            self.position = nn.Parameter(trunc_normal_(torch.empty(1, rows * columns, d_model), std=0.02))
            self.position._no_weight_decay = True

    def init_buffers(self) -> None:
        """Compute the scan order again (not saved: see `RotaryEmbedding.init_buffers`)."""
        device = "cpu" if self.order.is_meta else self.order.device
        self.order = scan_order(*self.patch_embed.grid_size, self.scan).to(device)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        expected = (self.patch_embed.proj.in_channels, *self.patch_embed.img_size)
        if inputs.ndim != 4 or tuple(inputs.shape[1:]) != expected:
            raise ValueError(
                f"the patch encoder takes images [B, {expected[0]}, {expected[1]}, {expected[2]}], got shape "
                f"{tuple(inputs.shape)}"
            )
        x = self.patch_embed(inputs.to(self.patch_embed.proj.weight.dtype)).flatten(2).transpose(1, 2)
        x = x[:, self.order]
        return x if self.position is None else x + self.position
