"""What a checkpoint's training cost, and where it ran: one record per sitting, chained through warm starts.

A world-model checkpoint carries `tv2tv.training`:

    {"seconds": 6012.4, "steps": 7300, "machine": "x86_64 Intel(R) Xeon(R) Processor",
     "precision": "bf16-mixed", "before": <the record of the model it warm-started from, or None>}

`seconds` (wall time in `fit`) and `steps` are the whole run's, across exact resumes (`RunClock`);
`before` follows `init_from`. Checkpoints written before records existed still hold Lightning's Timer
state and their `init_from`, from which `record_of` rebuilds what it can (machine None: not known).
A bundle copies the record and `summary` adds it up for the bundle's JSON.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import lightning as L
import torch

from tv2tv_world.storage.bundle import resolve_checkpoint
from tv2tv_world.storage.checkpoint import CheckpointError, load_checkpoint


def device_name(device: str | torch.device = "cpu") -> str:
    """What runs the model: the GPU's name, or the CPU's architecture and (where known) model."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return f"{platform.machine()} {model}".strip()


class RunClock:
    """The wall seconds a fit has trained, across exact resumes: `resume` with the checkpoint being restored,
    `start` when training starts, `record` when a checkpoint is saved."""

    def __init__(self) -> None:
        self.seconds_before = 0.0
        self.started: float | None = None

    def resume(self, checkpoint: dict) -> None:
        self.seconds_before = (record_of(checkpoint) or {}).get("seconds") or 0.0

    def start(self) -> None:
        self.started = time.monotonic()

    def record(self, trainer: L.Trainer, before: dict | None) -> dict:
        """The record of the run `trainer` is doing, on top of `before` (the warm start's record)."""
        seconds = self.seconds_before + (0.0 if self.started is None else time.monotonic() - self.started)
        return {"seconds": round(seconds, 3), "steps": trainer.global_step,
                "machine": device_name(trainer.strategy.root_device), "precision": str(trainer.precision),
                "before": before}


def record_of(checkpoint: dict, unknown_source: str | None = None) -> dict | None:
    """The training record of a loaded checkpoint: the one it carries, else rebuilt from Lightning's Timer
    state and `init_from` (followed where it is a file); None where nothing is known (e.g. a bundle
    made before records). `unknown_source` names a bundle whose record is missing."""
    meta = checkpoint.get("tv2tv", {})
    if "training" in meta:
        return meta["training"]
    timer = next((state for key, state in checkpoint.get("callbacks", {}).items() if key.startswith("Timer")), None)
    if timer is None:
        return None if unknown_source is None else {"seconds": None, "steps": None, "machine": None,
                                                    "precision": None, "before": None, "source": unknown_source}
    source = checkpoint.get("hyper_parameters", {}).get("init_from")
    if source is None:
        before = None
    elif Path(source).is_file():
        before = record_of_path(source)
    else:  # a bundled name, or a file gone: what it named then is not known now (bundles get replaced)
        before = record_of({}, unknown_source=str(source))
    return {"seconds": round(timer["time_elapsed"].get("train", 0.0), 1), "steps": checkpoint.get("global_step"),
            "machine": None, "precision": None, "before": before}


def record_of_path(source: str | Path) -> dict | None:
    """`record_of` the checkpoint or bundled model `source`; a record saying nothing is known where it is gone."""
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(source), kind="world_model")
    except (CheckpointError, OSError):
        checkpoint = {}
    return record_of(checkpoint, unknown_source=str(source))


def summary(record: dict | None) -> dict:
    """The chain of sittings oldest first, their total hours where every one is known, and the machines."""
    runs = []
    while record is not None:
        runs.append({k: v for k, v in record.items() if k != "before"})
        record = record.get("before")
    runs.reverse()
    known = [r["seconds"] for r in runs if r.get("seconds") is not None]
    return {"sittings": runs, "hours": round(sum(known) / 3600, 2) if runs and len(known) == len(runs) else None,
            "hours_recorded": round(sum(known) / 3600, 2),
            "machines": sorted({r["machine"] for r in runs if r.get("machine")})}
