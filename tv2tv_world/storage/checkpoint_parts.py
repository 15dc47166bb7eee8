"""A checkpoint split into files of bounded size and joined again, exactly (for remote GPU machines that return files of at most 16 MiB).

    python -m tv2tv_world.storage.checkpoint_parts split CKPT PREFIX [--max-mib 15]   # PREFIX_meta.pt, PREFIX_part0.pt, ...
    python -m tv2tv_world.storage.checkpoint_parts join PREFIX OUT.ckpt

`split` drops what only resuming needs (optimizer and scheduler states, loops, callbacks), so the
joined checkpoint initialises a new run (`init_from`), is evaluated, bundled or played, but does
not resume one; every weight keeps its dtype and value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tv2tv_world.storage.atomic_file import atomic_path
from tv2tv_world.storage.checkpoint import CheckpointError, load_checkpoint

RESUME_ONLY = ("optimizer_states", "lr_schedulers", "loops", "callbacks")


def split_checkpoint(checkpoint: str | Path, prefix: str | Path, max_bytes: int = 15 * 2**20) -> list[Path]:
    """Write PREFIX_meta.pt (everything but the weights) and PREFIX_part{i}.pt (weights, each under `max_bytes`)."""
    raw = load_checkpoint(checkpoint, kind=None)
    if "state_dict" not in raw:
        raise CheckpointError(f"{checkpoint}: no state_dict; not a checkpoint from tv2tv fit")
    for key in RESUME_ONLY:
        raw.pop(key, None)
    parts, part, size = [], {}, 0
    for name, tensor in raw.pop("state_dict").items():
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes > max_bytes:
            raise ValueError(f"{name} alone is {nbytes} bytes, more than a part may hold ({max_bytes})")
        if part and size + nbytes > max_bytes:
            parts.append(part)
            part, size = {}, 0
        part[name], size = tensor, size + nbytes
    parts.append(part)
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    raw["parts"] = len(parts)
    written = []
    for path, content in [(Path(f"{prefix}_part{i}.pt"), p) for i, p in enumerate(parts)] + [(Path(f"{prefix}_meta.pt"), raw)]:
        with atomic_path(path) as temp:
            torch.save(content, temp)
        written.append(path)
    return written


def join_checkpoint(prefix: str | Path, out: str | Path) -> Path:
    """Rebuild the checkpoint `split_checkpoint` wrote under `prefix` as `out`; checks that every part is there."""
    meta_path = Path(f"{prefix}_meta.pt")
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path}: missing; expected the files `split` wrote under {prefix}")
    raw = load_checkpoint(meta_path, kind=None)
    state = {}
    for i in range(raw.pop("parts")):
        path = Path(f"{prefix}_part{i}.pt")
        if not path.is_file():
            raise CheckpointError(f"{path}: missing part {i} of {prefix}")
        try:
            state.update(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:  # unpickling refused, truncated or corrupt: all mean this part is unusable
            raise CheckpointError(f"{path}: part {i} of {prefix} is unreadable ({type(err).__name__}: {err})") from None
    raw["state_dict"] = state
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        torch.save(raw, temp)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tv2tv_world.storage.checkpoint_parts", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    split = verbs.add_parser("split", help="CKPT -> PREFIX_meta.pt and PREFIX_part{i}.pt")
    split.add_argument("checkpoint")
    split.add_argument("prefix")
    split.add_argument("--max-mib", type=float, default=15.0, help="largest part in MiB (default: 15)")
    join = verbs.add_parser("join", help="PREFIX_* -> OUT")
    join.add_argument("prefix")
    join.add_argument("out")
    args = parser.parse_args(argv)
    if args.verb == "split":
        paths = split_checkpoint(args.checkpoint, args.prefix, int(args.max_mib * 2**20))
        print("wrote " + ", ".join(str(p) for p in paths))
    else:
        print(f"wrote {join_checkpoint(args.prefix, args.out)}")


if __name__ == "__main__":
    main()
