"""The checkpoints seqzoo ships: each folder of `checkpoints/` (the `zoo.checkpoints` package, so wheels carry them)
is one model trained by `zoo train` from a config in `configs/pretrained/`, published on the hub as `seqzoo/<folder>`.

A folder's `config.json` says which preset it fits (`preset`) and what it was trained on (`task`); its tag is the
folder name after the preset (`hybrid-tiny-mqar` -> preset `hybrid-tiny`, tag `mqar`). Adding a checkpoint is adding
its folder: nothing else lists them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

HUB_ORGANISATION = "seqzoo"


@dataclass(frozen=True)
class ShippedCheckpoint:
    """One shipped checkpoint: its folder, registered preset, tag, hub id and training task."""

    folder: Path
    preset: str
    tag: str
    task: str
    description: str

    @property
    def hub_id(self) -> str:
        return f"{HUB_ORGANISATION}/{self.folder.name}"


def checkpoints_root() -> Path:
    """The folder of the shipped checkpoints (inside the installed package, or the source checkout's)."""
    return Path(str(resources.files("zoo.checkpoints")))


@functools.cache
def shipped_checkpoints() -> tuple[ShippedCheckpoint, ...]:
    """Every shipped checkpoint, sorted by folder name."""
    found = []
    for config_path in sorted(checkpoints_root().glob("*/config.json")):
        config = json.loads(config_path.read_text())
        preset, folder = config.get("preset"), config_path.parent
        if not preset or not folder.name.startswith(f"{preset}-"):
            continue  # not a shipped checkpoint of a registered preset
        task = config.get("task") or {}
        found.append(ShippedCheckpoint(folder, preset, folder.name[len(preset) + 1:], task.get("name", ""),
                                       config.get("task_description") or ""))
    return tuple(found)


def shipped_for(preset: str) -> list[ShippedCheckpoint]:
    """The shipped checkpoints of one preset."""
    return [checkpoint for checkpoint in shipped_checkpoints() if checkpoint.preset == preset]


def shipped_folder(repo_id: str) -> Path | None:
    """The shipped copy of hub repository `repo_id` (`seqzoo/<folder>`), None when seqzoo ships no such folder."""
    organisation, _, name = repo_id.partition("/")
    if organisation != HUB_ORGANISATION:
        return None
    folder = checkpoints_root() / name
    return folder if (folder / "config.json").is_file() else None
