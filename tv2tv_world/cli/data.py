"""`tv2tv games`, `collect`, `branch`, `data check` and `encode`: the real games and their datasets."""

from __future__ import annotations

import argparse
import json
import sys

from tv2tv_world.cli.runtime import add_device


def _games(args: argparse.Namespace) -> None:
    from tv2tv_world.envs.registration import GAMES, NAMESPACE

    for name, (_, kwargs) in GAMES.items():
        wraps = f"  (wraps {kwargs['game']})" if "game" in kwargs else ""
        print(f"{NAMESPACE}/{name}{wraps}")


def _collect(args: argparse.Namespace) -> None:
    from tv2tv_world.dataset.collect import collect

    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as err:
        raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r} ({err})") from None
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
    try:
        manifest = collect(
            args.env, args.policy, args.episodes, args.out, workers=args.workers, seed=args.seed,
            action_repeat=args.action_repeat, env_kwargs=env_kwargs, progress=not args.quiet,
        )
    except KeyboardInterrupt:
        print(f"interrupted; complete episodes are kept in {args.out}: re-run the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None
    frames = sum(e["frames"] for e in manifest.episodes)
    print(f"{len(manifest.episodes)} episodes, {frames} frames in {args.out}")


def _branch(args: argparse.Namespace) -> None:
    from tv2tv_world.dataset.branches import branch_dataset

    manifest = branch_dataset(args.data, args.out, args.window, episodes=args.episodes, workers=args.workers,
                              progress=not args.quiet)
    ends = sum(e["terminated"] for e in manifest.episodes)
    print(f"{len(manifest.episodes)} branches ({ends} end the game) of {args.data} in {args.out}")


def _data_check(args: argparse.Namespace) -> None:
    from tv2tv_world.dataset.check import check_dataset

    summary = check_dataset(args.folder)
    print(f"ok: {args.folder}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in summary.items()))


def _encode(args: argparse.Namespace) -> None:
    from tv2tv_world.tokenizer.latents import encode_dataset
    from tv2tv_world.tokenizer.loading import load_tokenizer

    vae = load_tokenizer(args.checkpoint).to(args.device)
    out = encode_dataset(vae, args.data, args.out, progress=not args.quiet, workers=args.workers,
                         batch_chunks=args.batch_chunks)
    print(f"latents written to {out}")


def _add_games(commands) -> None:
    games = commands.add_parser("games", help="list the real games", description="List the registered real games.")
    games.set_defaults(run=_games)


def _add_collect(commands) -> None:
    from tv2tv_world.agents.registry import POLICY_NAMES

    collect = commands.add_parser(
        "collect", help="record episodes of a real game into a dataset",
        description="Record episodes (frames, actions, action and intent texts, rewards, flags) into DIR. "
                    "Re-running the same command resumes and keeps complete episodes.",
    )
    collect.add_argument("--env", required=True, help="game id, e.g. tv2tv_world/Forage-v0 (any pixel Gymnasium id works)")
    collect.add_argument("--policy", choices=POLICY_NAMES, default="scripted", help="who plays (default: scripted)")
    collect.add_argument("--episodes", type=int, required=True, help="number of episodes")
    collect.add_argument("--out", required=True, help="dataset folder")
    collect.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    collect.add_argument("--seed", type=int, default=0, help="episode i is played with seed SEED+i (default: 0)")
    collect.add_argument("--action-repeat", type=int, default=4,
                         help="frames per decision = frames per video chunk (default: 4)")
    collect.add_argument("--env-kwargs", default="{}", help='JSON keyword arguments for the game, e.g. \'{"size": 64}\'')
    collect.add_argument("--quiet", action="store_true", help="no progress bar")
    collect.set_defaults(run=_collect)


def _add_branch(commands) -> None:
    branch = commands.add_parser(
        "branch", help="play every action the recorded player did not take, in a copy of the real game",
        description="From each decision of DATA's recorded episodes, play every other action in a copy of the game "
                    "(it must save and restore its state) and write each as an episode of WINDOW decisions: the "
                    "WINDOW - 1 recorded ones before it, then the branch (terminated where it ends the game). "
                    "A world model trained with them learns which move ends the game, not only where games end.",
    )
    branch.add_argument("--data", required=True, help="dataset folder from tv2tv collect")
    branch.add_argument("--out", required=True, help="new dataset folder for the branches")
    branch.add_argument("--window", type=int, default=8,
                        help="decisions per branch episode: the training window of the model (default: 8)")
    branch.add_argument("--episodes", type=int, default=None, help="branch only the first N recorded episodes")
    branch.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    branch.add_argument("--quiet", action="store_true", help="no progress bar")
    branch.set_defaults(run=_branch)


def _add_encode(commands) -> None:
    encode = commands.add_parser(
        "encode", help="encode a dataset once with a trained tokenizer (world models train on the latents)",
        description="Write DATA/latents.npz: every episode's chunks as latents of the given video tokenizer.",
    )
    encode.add_argument("--checkpoint", required=True,
                        help="a video VAE checkpoint from tv2tv fit, or a world model (its tokenizer; 'forage' too)")
    encode.add_argument("--data", required=True, help="dataset folder from tv2tv collect")
    encode.add_argument("--out", default=None, help="output file (default: DATA/latents.npz)")
    encode.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(encode, "to encode on")
    encode.add_argument("--workers", type=int, default=0,
                        help="processes reading episodes beside the encoder (default: 0, read in the main one)")
    encode.add_argument("--batch-chunks", type=int, default=64,
                        help="chunks encoded at once, across episodes (default: 64; more on a GPU)")
    encode.set_defaults(run=_encode)


def _add_data(commands) -> None:
    data = commands.add_parser("data", help="inspect datasets", description="Inspect datasets.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    check = data_commands.add_parser("check", help="validate a dataset folder",
                                     description="Validate every file of a dataset; name the first bad file and field.")
    check.add_argument("folder")
    check.set_defaults(run=_data_check)


# this family's verbs: `tv2tv_world.cli.main` lists them in the order a user meets them
VERBS = {
    "games": _add_games,
    "collect": _add_collect,
    "branch": _add_branch,
    "encode": _add_encode,
    "data": _add_data,
}
