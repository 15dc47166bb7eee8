"""Loading our checkpoints safely: tensors and plain data only, never pickled code."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, unsafe, or of the wrong kind."""


def load_checkpoint(path: str | Path, kind: str | tuple[str, ...] | None) -> dict:
    """Load a Lightning checkpoint of ours with `weights_only=True` and check its kind (one of several; None: any).

    Every checkpoint we write carries `checkpoint["tv2tv"] = {"kind": ..., "format": ...}`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused to load: it holds pickled objects other than tensors and plain data, "
            f"which could run code ({str(err).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint, corrupt or truncated ({type(err).__name__}: {err})") from None
    meta = checkpoint.get("tv2tv") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or "kind" not in meta:
        raise CheckpointError(f"{path}: not a tv2tv-world checkpoint (no 'tv2tv' entry)")
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and meta["kind"] not in kinds:
        raise CheckpointError(f"{path}: is a {meta['kind']!r} checkpoint, expected {' or '.join(map(repr, kinds))}")
    if meta.get("format", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {meta['format']} is newer than this tv2tv-world reads")
    return checkpoint


def module_state(checkpoint: dict, prefix: str) -> dict:
    """The state dict entries under `prefix.` with the prefix removed."""
    return {k[len(prefix) + 1 :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix + ".")}


def check_kind(checkpoint: dict, kind: str) -> None:
    """Refuse to resume a module of `kind` from another kind's checkpoint."""
    found = checkpoint.get("tv2tv", {}).get("kind")
    if found != kind:
        raise CheckpointError(f"cannot resume a {kind} from a {found!r} checkpoint")


def inconsistent_checkpoint(path: Path, what: str, err: Exception) -> CheckpointError:
    """The error for a checkpoint whose contents do not build the model they claim to hold."""
    return CheckpointError(f"{path}: {what} is incomplete or inconsistent ({type(err).__name__}: {str(err).splitlines()[0]})")
