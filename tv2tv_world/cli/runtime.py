"""What several `tv2tv` commands share: torch's thread count, whether a window can open, the model-game match."""

from __future__ import annotations

import argparse
import os
import sys


def add_threads(parser: argparse.ArgumentParser) -> None:
    """The `--threads` option of a command that runs torch."""
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")


def add_sampling(parser: argparse.ArgumentParser, flow_steps: int) -> None:
    """The `--flow-steps` and `--guidance` options of a command that imagines chunks."""
    from tv2tv_world.world_model.sampler import SamplerConfig

    parser.add_argument("--flow-steps", type=int, default=flow_steps,
                        help=f"Euler steps of the flow ODE per imagined chunk (default: {flow_steps})")
    parser.add_argument("--guidance", type=float, default=SamplerConfig.guidance,
                        help="classifier-free guidance scale on the step's text; 1 = none "
                             f"(default: {SamplerConfig.guidance:g})")


def add_device(parser: argparse.ArgumentParser, what: str) -> None:
    """The `--device` option of a command that runs a model: `what` says what runs there."""
    parser.add_argument("--device", default="cpu", type=torch_device,
                        help=f"torch device {what} (e.g. cuda; default: cpu)")


def torch_device(name: str) -> str:
    """A `--device` value checked: one torch knows, and a GPU only where this torch and machine have one."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{name!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{name!r}: this torch has no CUDA device here (torch {torch.__version__})")
    return name


def torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def display_available() -> bool:
    """Whether pygame can open a window here."""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def check_game(loaded, env_id: str | None) -> None:
    """A world model runs only against the game it learnt: refuse a checkpoint of another game than `env_id`."""
    if loaded.game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game (trained without a dataset manifest)")
    if env_id is not None and env_id != loaded.game["env_id"]:
        raise ValueError(f"{loaded.path} is a world model of {loaded.game['env_id']}, not {env_id}: "
                         "agents and playback only run in the game the model learnt")
