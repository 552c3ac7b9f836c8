"""Train and publish the checkpoints seqzoo ships: each `configs/pretrained/<name>.yaml` is trained by `zoo train`
(so that its card carries that command and config) and its export is copied to `checkpoints/<name>/` with its hub id
`seqzoo/<name>` recorded.

    python -m benchmarks.ship_checkpoints mamba-tiny-mqar xlstm-tiny-mqar   # these two
    python -m benchmarks.ship_checkpoints --all                             # every config in configs/pretrained/
    python -m benchmarks.ship_checkpoints --refresh     # rewrite the shipped folders (cards) with this seqzoo

A checkpoint folder is replaced only once its run has finished and exported. The shipped folders together must stay
under `SIZE_LIMIT` bytes (they travel in the wheel).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.pretrained import HUB_ORGANISATION

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "pretrained"
CHECKPOINTS = ROOT / "checkpoints"
SIZE_LIMIT = 50 * 2**20


def shippable() -> list[str]:
    """The names of the configs that make shipped checkpoints (`<preset>-<tag>.yaml`; shared bases such as
    mqar.yaml name no preset)."""
    from zoo.models import list_models

    presets = list_models()
    return sorted(path.stem for path in CONFIGS.glob("*.yaml")
                  if any(path.stem.startswith(f"{preset}-") for preset in presets))


def ship(name: str) -> Path:
    """Train `configs/pretrained/<name>.yaml` with `zoo train` and publish the export as `checkpoints/<name>/`."""
    from zoo.cli import main

    config = CONFIGS.joinpath(f"{name}.yaml").relative_to(ROOT)
    runs = ROOT / "runs" / name
    before = set(runs.glob("*")) if runs.is_dir() else set()
    if main(["train", str(config)]) != 0:
        raise SystemExit(f"zoo train {config} failed")
    (run_dir,) = set(runs.glob("*")) - before
    return publish(run_dir / "export", name)


def publish(export: Path, name: str) -> Path:
    """Write the exported model at `export` as `checkpoints/<name>/`, named `<name>` with hub id `seqzoo/<name>`."""
    from zoo.hub import load_pretrained, save_pretrained

    model = load_pretrained(export)
    model.provenance.name, model.provenance.hub_id = name, f"{HUB_ORGANISATION}/{name}"
    return save_pretrained(model, CHECKPOINTS / name)


def shipped_size() -> int:
    """Bytes of every shipped checkpoint folder together."""
    return sum(path.stat().st_size for path in CHECKPOINTS.glob("*/*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*",
                        help=f"configs/pretrained/<name>.yaml to ship (known: {', '.join(shippable())})")
    parser.add_argument("--all", action="store_true", help="every shippable config")
    parser.add_argument("--refresh", action="store_true",
                        help="rewrite every shipped folder (config.json, card) with this seqzoo, without training")
    args = parser.parse_args(argv)
    if args.refresh:
        for folder in sorted(path.parent for path in CHECKPOINTS.glob("*/config.json")):
            print(f"refreshed {publish(folder, folder.name)}", flush=True)
        return 0
    names = shippable() if args.all else args.names
    unknown = sorted(set(names) - set(shippable()))
    if unknown or not names:
        parser.error(f"unknown or no names: {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(shippable())}")
    for name in names:
        print(f"shipped {name}: {ship(name)}", flush=True)
    size = shipped_size()
    print(f"shipped checkpoints: {size / 2**20:.1f} MiB of {SIZE_LIMIT / 2**20:.0f} MiB")
    return 0 if size <= SIZE_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
