"""The `tv2tv` command: one subcommand per job of the product (one module of `tv2tv_world/cli/` per family)."""

from __future__ import annotations

import argparse
import sys

from tv2tv_world.cli import agents, data, models, playback
from tv2tv_world.dataset.format import DatasetError
from tv2tv_world.storage.checkpoint import CheckpointError


# in the order a user meets them: games and data, training, evaluating and shipping, playing, agents, the demo, speed
VERB_ORDER = ("games", "collect", "branch", "data", "encode", "fit", "evaluate-vae", "evaluate", "evaluate-ends",
              "fit-end-head", "bundle", "play", "agent", "train-ac", "compare-agents", "demo", "bench")


def _add_fit(commands) -> None:
    commands.add_parser(
        "fit", help="train a model from a YAML config (LightningCLI: tv2tv fit --config FILE, --help for all options)",
        add_help=False,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tv2tv", description="tv2tv-world: a game world model that thinks in words and acts in pixels."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verbs = {**data.VERBS, "fit": _add_fit, **models.VERBS, **agents.VERBS, **playback.VERBS}
    for verb in VERB_ORDER:
        verbs[verb](commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fit"]:  # LightningCLI owns the whole command line of `fit`
        from tv2tv_world.cli.fit import run_fit

        return run_fit(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (DatasetError, CheckpointError, ValueError, TypeError, FileNotFoundError) as err:
        print(f"tv2tv: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
