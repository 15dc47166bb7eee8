"""`tv2tv fit`: LightningCLI over our modules and data, driven by a YAML config."""

from __future__ import annotations

import sys
import warnings

import lightning as L
import torch
from lightning.pytorch.cli import LightningCLI

from tv2tv_world.dataset.format import DatasetError
from tv2tv_world.storage.checkpoint import CheckpointError, load_checkpoint
from tv2tv_world.training.precision import auto_precision


class Tv2tvCLI(LightningCLI):
    """LightningCLI that checks a resume checkpoint (safely, kind included) before fitting."""

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the checkpoint's hyperparameters while parsing: check it is safe and ours first.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in ("last", "best", "hpc", "registry"):
            load_checkpoint(ckpt_path, kind=None)
        super()._parse_ckpt_path()

    def before_fit(self) -> None:
        print(f"tv2tv fit: precision {self.config['fit']['trainer'].get('precision')} (this machine's default: "
              f"{self.trainer_defaults['precision']})", flush=True)
        ckpt_path = self.config_init["fit"].get("ckpt_path") if "fit" in self.config_init else None
        kind = getattr(self.model, "CHECKPOINT_KIND", None)
        if ckpt_path and kind and ckpt_path not in ("last", "best", "hpc", "registry"):
            load_checkpoint(ckpt_path, kind)


def _raised_by_us(err: BaseException) -> BaseException | None:
    """The error our own code raised that `err` (jsonargparse's "does not validate", around the errors met
    while it builds the model, its config or the data) wraps, if any: a wrong setting, named by our code."""
    cause = err.__cause__
    while cause is not None:
        tb = cause.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None and "tv2tv_world" in tb.tb_frame.f_code.co_filename:
            return cause
        cause = cause.__cause__
    return None


def run_fit(args: list[str]) -> None:
    """Run `fit` with LightningCLI; `args` are the command line after `tv2tv fit`."""
    if not any(a in ("-h", "--help", "--print_config") or a.startswith("--print_config") for a in args):
        # Resuming loads tensors and plain data only, unless the user explicitly says otherwise.
        args = ["--weights_only=true", *args]
    # LightningCLI warns when given args while sys.argv also has some; we pass them on purpose, and
    # sys.argv must stay as it is because DDP relaunches this very command line in each process.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    try:
        Tv2tvCLI(
            L.LightningModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=["fit", *args],
            save_config_kwargs={"overwrite": True},
            # a config that leaves trainer.precision out trains in bf16 where this machine computes it natively
            trainer_defaults={"precision": auto_precision("cuda" if torch.cuda.is_available() else "cpu")},
        )
    except (DatasetError, CheckpointError) as err:
        print(f"tv2tv fit: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValueError as err:
        ours = _raised_by_us(err)
        if ours is None:
            raise
        print(f"tv2tv fit: error: {ours}", file=sys.stderr)
        raise SystemExit(2) from None
