"""Species classification of random genome windows (HyenaDNA's species task at bacterial scale): `genome-species`.

A window of `window` bases is cut from one of the 16 genomes of Debian ragout-examples (`ragout.py`) and the model
names its species (E.Coli, H.Pylori, S.Aureus, V.Cholerae). Splits as `bacteria-lm`'s: test, one whole strain per
species never trained on (`test_strains`); val, the last `val_fraction` of every chromosome of the training strains;
train, the rest. Training windows are drawn afresh every epoch with each species equally likely (reverse-complemented
half the time with `reverse_complement`); evaluation windows are fixed, at most `eval_windows` per species.

`inputs` LongTensor `[B, window]` (nucleotide ids), `targets` LongTensor `[B]` (species ids in `io.labels` order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zoo.tasks.base import TaskDataModule, TaskIO, register_task
from zoo.tasks.genomics.language_model import GenomeWindowsConfig
from zoo.tasks.genomics.nucleotides import VOCAB
from zoo.tasks.genomics.ragout import HELD_OUT, package_folder, parse_strains, read_strains, strain_segments
from zoo.tasks.genomics.windows import FixedWindows, RandomWindows


@dataclass
class GenomeSpeciesConfig(GenomeWindowsConfig):
    """`genome-species`; `data_dir` empty: the ragout-examples package."""

    name: str = "genome-species"
    train_windows: int = 8_000
    eval_windows: int = 128
    test_strains: list[str] = field(default_factory=lambda: list(HELD_OUT))


@register_task("genome-species", GenomeSpeciesConfig)
class GenomeSpeciesDataModule(TaskDataModule):
    """Which species a window of bases comes from, on strains never trained on (see the module docstring)."""

    inputs = "tokens"
    outputs = "classifier"

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir).expanduser() if self.config.data_dir else package_folder()

    @property
    def species(self) -> tuple[str, ...]:
        """The class names: the species the held-out strains name, sorted."""
        return tuple(sorted({species for species, _ in parse_strains(self.config.test_strains)}))

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", outputs="classifier", num_outputs=len(self.species), vocab_size=len(VOCAB),
                      metrics=("accuracy", "f1"), labels=self.species)

    @property
    def description(self) -> str:
        held = ", ".join(sorted(self.config.test_strains))
        return (f"species of random {self.config.window:,}-base windows of bacterial genomes (ragout-examples); test: "
                f"the held-out strains {held}")

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "datasets", None):
            return
        config = self.config
        labels = {species: index for index, species in enumerate(self.species)}
        strains = [strain for strain in read_strains(self.data_dir) if strain.species in labels]
        splits = strain_segments(strains, list(config.test_strains), config.val_fraction, labels)
        self.datasets = {
            "train": RandomWindows(splits["train"], config.window, config.train_windows, language_model=False,
                                   reverse_complement=config.reverse_complement, balance_labels=True,
                                   what="genome-species train"),
            **{split: FixedWindows(splits[split], config.window, config.eval_windows, language_model=False,
                                   what=f"genome-species {split}") for split in ("val", "test")},
        }
