"""Where a checkpoint named by the user lives: a local folder, a run directory (its `export/`), a shipped checkpoint,
or a Hugging Face repository fetched through huggingface_hub's cache (which honours `HF_HUB_OFFLINE`, `HF_HOME`,
tokens and revisions). Every failure is one `CheckpointError` line that says what to do."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub.utils import HFValidationError, validate_repo_id

from zoo.errors import CheckpointError

HUB_PREFIX = "hf-hub:"  # timm's spelling of a hub id; plain "org/name" works as well
EXPORT_FOLDER = "export"  # where `zoo train` writes the exported model inside its run directory


def hub_repo_id(text: str) -> str | None:
    """The repository id `text` names (`org/name` or `hf-hub:org/name`), None when it is no hub id."""
    candidate = text.removeprefix(HUB_PREFIX)
    if candidate.count("/") != 1 or candidate.startswith((".", "/", "~")):
        return None
    try:
        validate_repo_id(candidate)
    except HFValidationError:
        return None
    return candidate


def fetch(repo_id: str, patterns: list[str], *, revision: str | None = None, **hub_options) -> Path:
    """The local snapshot of hub repository `repo_id` (only the files matching `patterns`) at `revision`.

    hub_options: huggingface_hub's `cache_dir`, `force_download`, `local_files_only`, `token`."""
    from huggingface_hub import snapshot_download

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns, **hub_options))
    except Exception as error:  # offline, unknown repository or revision, no network: one line for the user
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CheckpointError(
            f"'{where}' could not be fetched from the Hugging Face hub ({type(error).__name__}: {reason}). "
            "Offline (HF_HUB_OFFLINE=1, or no network) only repositories already in the hub cache load: pass a local "
            f"checkpoint folder, or fetch it once where the hub is reachable (`hf download {repo_id}`)"
        ) from None


def _training_checkpoint_hint(path: Path) -> str:
    """What to say about a Lightning `.ckpt` of a run: where the run's export is, or how to finish the run."""
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    export = run_dir / EXPORT_FOLDER
    if (export / "config.json").is_file():
        return f"{path} is a Lightning training checkpoint; the run's exported model is {export}: pass that folder"
    return (f"{path} is a Lightning training checkpoint of a run that has not exported its model yet (interrupted?): "
            f"resume it with `zoo train {run_dir}`, which finishes the run and writes {export}")


def local_folder(text: str, marker: str) -> Path | None:
    """The checkpoint folder a local path names (the folder itself, or a run directory's `export/`), None when the
    path does not exist; `marker` is the file a checkpoint folder holds (config.json)."""
    path = Path(text).expanduser()
    if not path.exists():
        return None
    if path.is_file():
        if path.suffix == ".ckpt":
            raise CheckpointError(_training_checkpoint_hint(path))
        raise CheckpointError(f"{path} is a file; pass the checkpoint folder that holds {marker}")
    if (path / marker).is_file() or not (path / "config.yaml").is_file():
        return path
    export = path / EXPORT_FOLDER  # a run directory
    if (export / marker).is_file():
        return export
    raise CheckpointError(f"{path} is a run directory without an exported model (the run was interrupted or is still "
                          f"going): resume it with `zoo train {path}`, which writes {export}")
