"""What sequence packing (`task.pack: true`) saves on real variable-length tasks: the share of each padded batch that
is padding, and the training throughput (real tokens a second) of padded against packed batches, per family.

    python -m benchmarks.packing                         # UEA JapaneseVowels and CPU-scale ListOps, four families
    python -m benchmarks.packing --tasks uea --families mamba --steps 20

Tasks: `uea` is UEA JapaneseVowels (real recordings of 7-29 steps; `zoo data prepare timeseries/uea`); `listops` is
the CPU-scale ListOps of the LRA generator (100-500 tokens; `zoo data prepare lra/listops --out
$SEQZOO_DATA/lra/listops-cpu --num-train 20000 --min-length 100 --max-length 500`). Each family runs its CPU config
(configs/experiments/{timeseries/uea-japanese-vowels,lra/listops}-<family>-cpu.yaml): the same model, batches and
optimiser, padded and then packed, over the first --steps training batches of one epoch's order (after one untimed
step); a step is forward, loss, backward and an AdamW update. Each family runs as its config has it (bidirectional:
the model already drops the padding of a padded batch inside, packing saves only the copies around it) and causal
(a padded batch runs every padded position through the network). Results:
benchmarks/results/packing-<machine>-<dtype>[-<tag>].{json,png}.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from rich.console import Console
from rich.table import Table
from zoo.tasks.packing import padding_share

from benchmarks.harness.arguments import (
    add_common_arguments,
    device_and_dtype,
    dtype_name,
)
from benchmarks.harness.machine import describe_machine, machine_label
from benchmarks.harness.results import check_destination, result_name, write_results
from benchmarks.task_runs import CONFIGS
from zoo.anatomy import fit_to_task
from zoo.config import load_config, to_objects
from zoo.module import TaskModule
from zoo.train import build_datamodule

TASKS = {"uea": "timeseries/uea-japanese-vowels-{family}-cpu.yaml", "listops": "lra/listops-{family}-cpu.yaml"}
FAMILIES = ("mamba", "xlstm", "deltanet", "attention")
console = Console()


def _module_and_batches(task: str, family: str, causal: bool, pack: bool,
                        steps: int) -> tuple[TaskModule, list[dict]]:
    """The family's model for the task (its config's bidirectional one, or causal) and the first `steps` + 1 training
    batches, padded or packed."""
    overrides = [f"task.pack={str(pack).lower()}", f"model.bidirectional={str(not causal).lower()}"]
    config = to_objects(load_config(CONFIGS / TASKS[task].format(family=family), overrides))
    torch.manual_seed(config.seed)
    datamodule = build_datamodule(config)
    datamodule.setup("fit")
    model = fit_to_task(config.model, datamodule.io, config.task.name).resolved()
    optim = dataclasses.asdict(config.optim)
    module = TaskModule(model.to_dict(), optim, datamodule.io.to_dict())
    batches = []
    for batch in datamodule.train_dataloader():
        batches.append(batch)
        if len(batches) == steps + 1:
            break
    return module, batches


def _train(module: TaskModule, batches: list[dict]) -> float:
    """Seconds of the training steps on batches[1:] (batches[0] warms up)."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    started = 0.0
    for index, batch in enumerate(batches):
        if index == 1:
            started = time.perf_counter()
        loss = module.objective.loss(module(batch), batch["targets"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def run_point(task: str, family: str, causal: bool, steps: int) -> dict:
    """Padding share and real tokens a second, padded and packed, for one family on one task."""
    record: dict = {"task": task, "family": family, "direction": "causal" if causal else "bidirectional"}
    for pack in (False, True):
        module, batches = _module_and_batches(task, family, causal, pack, steps)
        seconds = _train(module, batches)
        lengths = torch.cat([b["lengths"] for b in batches[1:]])
        real = int(lengths.sum())
        if not pack:
            record["padded_tokens"] = sum(int(b["inputs"].shape[0] * b["inputs"].shape[1]) for b in batches[1:])
            record["padding_share"] = round(1 - real / record["padded_tokens"], 4)
            record["padding_share_mean_batch"] = round(
                sum(padding_share(b["lengths"]) for b in batches[1:]) / (len(batches) - 1), 4)
        record["real_tokens"] = real
        record["packed" if pack else "padded"] = {"seconds": round(seconds, 3), "tokens_per_s": round(real / seconds)}
    record["speedup"] = round(record["packed"]["tokens_per_s"] / record["padded"]["tokens_per_s"], 3)
    return record


def figure(records: list[dict], title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in records))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in records if r["task"] == task]
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r["padded"]["tokens_per_s"] for r in rows], 0.4, label="padded")
        ax.bar([i + 0.2 for i in x], [r["packed"]["tokens_per_s"] for r in rows], 0.4, label="packed")
        for i, row in zip(x, rows):
            ax.annotate(f"x{row['speedup']:.2f}", (i + 0.2, row["packed"]["tokens_per_s"]), ha="center", va="bottom",
                        fontsize=8)
        ax.set_xticks(list(x), [f"{r['family']}\n{r['direction']}" for r in rows], fontsize=7)
        ax.set_ylabel("real tokens / s (training)")
        ax.set_title(f"{task}: {rows[0]['padding_share']:.0%} of padded batches is padding", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
    return fig


def print_table(records: list[dict]) -> None:
    table = Table(title="padded against packed training batches")
    for column in ("task", "family", "direction", "padding share", "padded tok/s", "packed tok/s", "speedup"):
        table.add_column(column, justify="left" if column in ("task", "family", "direction") else "right")
    for r in records:
        table.add_row(r["task"], r["family"], r["direction"], f"{r['padding_share']:.1%}",
                      f"{r['padded']['tokens_per_s']:,}", f"{r['packed']['tokens_per_s']:,}", f"{r['speedup']:.2f}")
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.packing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, "packing")
    parser.add_argument("--tasks", nargs="*", choices=sorted(TASKS), help="default: uea listops")
    parser.add_argument("--families", nargs="*", help=f"default: {' '.join(FAMILIES)}")
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per setting")
    parser.add_argument("--directions", nargs="*", choices=("causal", "bidirectional"),
                        help="default: both (the configs' bidirectional models, and the same models causal)")
    args = parser.parse_args(argv)
    device, dtype = device_and_dtype(args)
    if device.type != "cpu" or dtype != torch.float32:
        raise SystemExit("the packing benchmark runs the CPU configs: --device cpu --dtype float32")
    machine = describe_machine(device)
    grid = {"tasks": args.tasks or list(TASKS), "families": args.families or list(FAMILIES), "steps": args.steps,
            "directions": args.directions or ["causal", "bidirectional"]}
    full = args.tasks is None and args.families is None and args.steps == 40 and args.directions is None
    name = result_name("packing", machine_label(machine), dtype_name(dtype), args.tag, full)
    json_path = args.out / f"{name}.json"
    check_destination(json_path, grid, full, args.overwrite)
    records = []
    for task in grid["tasks"]:
        for family in grid["families"]:
            for direction in grid["directions"]:
                records.append(run_point(task, family, direction == "causal", args.steps))
                console.print(f"{task} {family} {direction}: padding {records[-1]['padding_share']:.1%}, speedup "
                              f"x{records[-1]['speedup']:.2f}")
    title = (f"Training throughput with padded and packed batches ({args.steps} steps of each family's CPU config), "
             f"{machine['cpu']}, torch threads {machine['torch_threads']}")
    payload = {"benchmark": "packing", "measured": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine,
               "dtype": dtype_name(dtype), "grid": grid, "full_grid": full, "title": title,
               "what": "padding_share: padding positions over all positions of the padded batches; tokens_per_s: "
                       "real (non-padding) tokens over the wall time of the timed training steps; speedup: packed "
                       "over padded tokens_per_s",
               "results": records}
    write_results(json_path, payload, lambda: figure(records, title))
    print_table(records)
    print(f"results: {json_path}")


if __name__ == "__main__":
    main()
