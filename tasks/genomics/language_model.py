"""Causal nucleotide language modelling on real genomes, reported in bits per base (HyenaDNA's pretraining task at
CPU scale): `bacteria-lm` (Debian ragout-examples, whole strains held out) and `chr22-lm` (human chr22 of Debian
maffilter-examples, coordinate ranges held out).

Windows of `window` bases (`windows.py`): `train_windows` random ones an epoch, reverse-complemented half the time
when `reverse_complement` is on; validation and test windows fixed, at most `eval_windows` each, evenly spread over
the held-out sequence. Each position predicts the next base: `inputs` and `targets` LongTensor `[B, window]` over the
9-token nucleotide vocabulary (`nucleotides.py`); the loss is the cross-entropy of every position, and bits per base
(`test/bpt`) is its mean in bits. A model that knew nothing would score 2 bits per base (uniform A C G T).

Splits:
- `bacteria-lm`: test, the held-out strains (`test_strains`, `<Species>/<Strain>`; by default the strain each ragout
  example assembles, one per species); val, the last `val_fraction` of every chromosome of the other strains;
  train, the rest of those chromosomes.
- `chr22-lm`: the human bases in coordinate order cut into train, val (`val_fraction`) and test (`test_fraction`),
  consecutive coordinate ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zoo.tasks.base import DataError, TaskConfig, TaskDataModule, TaskIO, register_task
from zoo.tasks.genomics.chr22 import alignment_file, coordinate, human_blocks
from zoo.tasks.genomics.nucleotides import BASES, VOCAB
from zoo.tasks.genomics.ragout import HELD_OUT, package_folder, read_strains, strain_segments
from zoo.tasks.genomics.windows import FixedWindows, RandomWindows, Segment, split_range

LM_METRICS = ("bits_per_token", "perplexity", "accuracy")


@dataclass
class GenomeWindowsConfig(TaskConfig):
    """Windows over genomes: `window` bases each, `train_windows` random ones an epoch, at most `eval_windows` fixed
    ones per split (0: every non-overlapping window), reverse-complement augmentation, the share of each sequence
    held out for validation."""

    window: int = 1024
    train_windows: int = 20_000
    eval_windows: int = 512
    reverse_complement: bool = True
    val_fraction: float = 0.1

    def validate(self) -> None:
        super().validate()
        if self.window < 2:
            raise ValueError(f"window must be >= 2 bases, got {self.window}")
        if self.train_windows < 1 or self.eval_windows < 0:
            raise ValueError(f"train_windows must be >= 1 and eval_windows >= 0, got {self.train_windows} and "
                             f"{self.eval_windows}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass
class BacteriaLMConfig(GenomeWindowsConfig):
    """`bacteria-lm`; `data_dir` empty: the ragout-examples package."""

    name: str = "bacteria-lm"
    test_strains: list[str] = field(default_factory=lambda: list(HELD_OUT))


@dataclass
class Chr22LMConfig(GenomeWindowsConfig):
    """`chr22-lm`; `data_dir` empty: the maffilter-examples package; `test_fraction` of the bases held out last."""

    name: str = "chr22-lm"
    test_fraction: float = 0.1

    def validate(self) -> None:
        super().validate()
        if not 0 < self.test_fraction < 1 or self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"val_fraction + test_fraction must leave bases to train on, got {self.val_fraction} + "
                             f"{self.test_fraction}")


class GenomeLanguageModelTask(TaskDataModule):
    """Next-base prediction over windows of the splits `segments()` returns."""

    inputs = "tokens"
    outputs = "lm"
    token_symbols = VOCAB
    unknown_symbol = BASES[-1]  # N

    @property
    def io(self) -> TaskIO:
        return TaskIO(inputs="tokens", outputs="lm", num_outputs=len(VOCAB), vocab_size=len(VOCAB),
                      metrics=LM_METRICS)

    def segments(self) -> dict[str, list[Segment]]:
        """The sequences of "train", "val" and "test"."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "datasets", None):
            return
        config, splits = self.config, self.segments()
        self.datasets = {
            "train": RandomWindows(splits["train"], config.window, config.train_windows, language_model=True,
                                   reverse_complement=config.reverse_complement, what=f"{config.name} train"),
            **{split: FixedWindows(splits[split], config.window, config.eval_windows, language_model=True,
                                   what=f"{config.name} {split}") for split in ("val", "test")},
        }


@register_task("bacteria-lm", BacteriaLMConfig)
class BacteriaLMDataModule(GenomeLanguageModelTask):
    """Bits per base on held-out bacterial strains (see the module docstring)."""

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir).expanduser() if self.config.data_dir else package_folder()

    @property
    def description(self) -> str:
        held = ", ".join(sorted(self.config.test_strains))
        return (f"causal nucleotide LM on bacterial genomes (ragout-examples), windows of {self.config.window:,} "
                f"bases; "
                f"test: the held-out strains {held}")

    def segments(self) -> dict[str, list[Segment]]:
        return strain_segments(read_strains(self.data_dir), list(self.config.test_strains), self.config.val_fraction)


@register_task("chr22-lm", Chr22LMConfig)
class Chr22LMDataModule(GenomeLanguageModelTask):
    """Bits per base on held-out coordinate ranges of human chr22 (see the module docstring)."""

    def alignment(self) -> Path:
        """`data_dir`'s `.maf.gz` / `.maf` file when data_dir is set, else the package's alignment."""
        if not self.config.data_dir:
            return alignment_file(fetch=False)
        found = sorted(self.data_dir.glob("*.maf.gz")) + sorted(self.data_dir.glob("*.maf"))
        if len(found) != 1:
            raise DataError(f"{self.data_dir} holds {len(found)} .maf / .maf.gz files, chr22-lm reads exactly one; "
                            "leave data_dir empty to read the maffilter-examples alignment (`zoo data prepare "
                            "genomics/chr22`)")
        return found[0]

    @property
    def description(self) -> str:
        return (f"causal nucleotide LM on human chr22 (maffilter-examples alignment), windows of "
                f"{self.config.window:,} bases; test: the last {self.config.test_fraction:.0%} of its aligned bases "
                "by coordinate")

    def segments(self) -> dict[str, list[Segment]]:
        blocks = human_blocks(self.alignment())
        train, val, test = split_range(blocks["ids"], (self.config.val_fraction, self.config.test_fraction))
        ranges, offset = {}, 0
        for split, ids in (("train", train), ("val", val), ("test", test)):
            first, last = coordinate(blocks, offset), coordinate(blocks, offset + len(ids) - 1)
            ranges[split] = [Segment(f"chr22:{first:,}-{last + 1:,}", ids)]
            offset += len(ids)
        return ranges
