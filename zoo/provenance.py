"""What a checkpoint says about its model beside the architecture: where it came from (preset, base model,
conversion), what it was trained on and how (task, command, config), its license and every evaluation of it.

A loaded model carries its `Provenance` (`model.provenance`), so that `model.save_pretrained(...)` or
`model.push_to_hub(...)` writes the same card again; `zoo.hub` reads and writes it as `config.json` (everything but
the evaluations) and `eval_results.json` (the evaluations).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_LICENSE = "apache-2.0"  # seqzoo's own license, for weights trained with it from scratch


@dataclass
class Evaluation:
    """One evaluation of a checkpoint: the task setting it ran on and what it measured.

    task: the task config (`{"name": "mqar", "seq_len": 64, ...}`); description: the task's one-line description
    (`TaskDataModule.description`), which names the setting; metrics: `{"test/acc": 0.99, "val/acc": ...}`;
    command: how to run it again (`zoo eval checkpoints/x task.seq_len=128`).
    """

    task: dict[str, Any] | None
    description: str
    metrics: dict[str, float]
    command: str | None = None

    def same_setting(self, other: Evaluation) -> bool:
        return self.task == other.task and self.description == other.description


@dataclass
class Provenance:
    """The model's identity and history, as `config.json` records it beside `model`.

    name: the checkpoint's name (`hybrid-tiny-mqar`); hub_id: its Hugging Face repository (`seqzoo/hybrid-tiny-mqar`)
    when it has one; preset: the registered preset whose architecture this is
    (None once `changes` departs from it); changes: the model keys that differ from the preset; base_model: the hub
    id of the weights this model started from (fine-tunes, converted checkpoints); license: a hub license id
    ("other" with `license_name` / `license_link` for custom ones); task / task_io / task_description: what it was
    trained on, and the hub ids of its data
    (`datasets`, only where the data is a hub dataset); training: the experiment, seed, command, resolved config
    and trainer settings; converted_from: the
    upstream format and checkpoint of converted weights; evaluations: the training's own test first, then every
    `zoo eval --write`; curves: a training-curves PNG to copy into the folder (not recorded in config.json).
    """

    name: str
    hub_id: str | None = None
    preset: str | None = None
    changes: list[str] = field(default_factory=list)
    base_model: str | None = None
    license: str = DEFAULT_LICENSE
    license_name: str | None = None
    license_link: str | None = None
    task: dict[str, Any] | None = None
    datasets: list[str] = field(default_factory=list)
    task_io: dict[str, Any] | None = None
    task_description: str | None = None
    training: dict[str, Any] | None = None
    converted_from: dict[str, Any] | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    curves: Path | None = None

    RECORDED = ("name", "hub_id", "preset", "changes", "base_model", "license", "license_name", "license_link", "task",
                "datasets", "task_io", "task_description", "training", "converted_from")

    def recorded(self) -> dict[str, Any]:
        """The fields `config.json` holds (all but the evaluations and the curves file)."""
        return {key: getattr(self, key) for key in self.RECORDED}

    @classmethod
    def from_recorded(cls, config: dict[str, Any], evaluations: list[Evaluation], curves: Path | None) -> Provenance:
        """The provenance of a checkpoint from its `config.json` contents, evaluations and curves file."""
        known = {key: config[key] for key in cls.RECORDED if config.get(key) is not None}
        known.setdefault("name", (config.get("model") or {}).get("name", "custom"))
        return cls(**known, evaluations=list(evaluations), curves=curves)

    def with_evaluation(self, evaluation: Evaluation) -> Provenance:
        """A copy with `evaluation` added, replacing an earlier one of the same task setting."""
        kept = [e for e in self.evaluations if not e.same_setting(evaluation)]
        return dataclasses.replace(self, evaluations=[*kept, evaluation])

    def fine_tuned(self, name: str) -> Provenance:
        """The provenance of a model made from this one by changing its head: trained on nothing yet, based on
        this checkpoint (by its hub id when it has one)."""
        return Provenance(name=name, base_model=self.hub_id or self.name, license=self.license,
                          license_name=self.license_name, license_link=self.license_link)
