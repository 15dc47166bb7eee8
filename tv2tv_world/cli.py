"""The `tv2tv` command: one subcommand per job of the product."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tv2tv_world.checkpoint import CheckpointError
from tv2tv_world.dataset.format import DatasetError


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


def _data_check(args: argparse.Namespace) -> None:
    from tv2tv_world.dataset.check import check_dataset

    summary = check_dataset(args.folder)
    print(f"ok: {args.folder}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in summary.items()))


def _evaluate_vae(args: argparse.Namespace) -> None:
    from PIL import Image

    from tv2tv_world.atomic_file import atomic_path
    from tv2tv_world.vae_evaluation import evaluate_vae, reconstruction_strip
    from tv2tv_world.video_vae import VideoVAE

    vae = VideoVAE.from_checkpoint(args.checkpoint)
    report = evaluate_vae(vae, args.data, args.episodes)
    print(json.dumps(report, indent=1))
    if args.image:
        with atomic_path(args.image) as temp:
            Image.fromarray(reconstruction_strip(vae, args.data)).save(temp, format="PNG")
        print(f"real (top) vs reconstructed (bottom) frames: {args.image}")


def _encode(args: argparse.Namespace) -> None:
    from tv2tv_world.dataset.latents import encode_dataset
    from tv2tv_world.world_model_checkpoint import load_tokenizer

    vae = load_tokenizer(args.checkpoint).to(args.device)
    out = encode_dataset(vae, args.data, args.out, progress=not args.quiet)
    print(f"latents written to {out}")


def _evaluate(args: argparse.Namespace) -> None:
    from tv2tv_world.evaluation_report import write_report
    from tv2tv_world.world_model_checkpoint import load_world_model
    from tv2tv_world.world_model_evaluation import evaluate_world_model

    torch_threads(args.threads)
    report, probe = evaluate_world_model(
        load_world_model(args.checkpoint), args.data, horizon=args.horizon, max_windows=args.windows,
        flow_steps=args.flow_steps, guidance=args.guidance, probe_steps=args.probe_steps, seed=args.seed,
    )
    paths = write_report(report, probe, args.out)
    print(json.dumps({k: v for k, v in report.items() if k != "psnr_curve"}, indent=1))
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _agent(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from torch.utils.tensorboard import SummaryWriter

    from tv2tv_world.agent_evaluation import play_episodes, write_agent_report
    from tv2tv_world.agents.cem_planner import PlannerConfig
    from tv2tv_world.agents.make_agent import AgentSettings, make_agent
    from tv2tv_world.envs.imagination import make_real_env
    from tv2tv_world.world_model_checkpoint import load_world_model

    torch_threads(args.threads)
    loaded = load_world_model(args.checkpoint)
    check_game(loaded, args.env)
    planner = PlannerConfig(horizon=args.horizon, candidates=args.candidates, iterations=args.iterations,
                            elites=min(args.elites, args.candidates))
    settings = AgentSettings(planner=planner, flow_steps=args.flow_steps, policy=args.policy)
    names = [args.agent] + [b for b in args.baselines if b != args.agent]
    out = Path(args.out)
    writer = SummaryWriter(str(out.with_suffix("")) + "_tb")
    report = {"env_id": loaded.game["env_id"], "checkpoint": str(args.checkpoint), "seed": args.seed,
              "episodes": args.episodes, "max_decisions": args.max_decisions, "planner": asdict(planner),
              "flow_steps": args.flow_steps, "agents": {}}
    for name in names:
        env = make_real_env(loaded)
        agent = make_agent(name, loaded, env, settings)
        report["agents"][name] = result = play_episodes(agent, env, args.episodes, args.seed, args.max_decisions,
                                                        writer, tag=name)
        print(f"{name:12s} return {result['mean']:7.2f} ± {result['std']:.2f} over {args.episodes} episodes "
              f"({result['seconds']:.0f} s, {result['seconds_per_decision']:.3f} s per decision)", flush=True)
        env.close()
    writer.close()
    paths = write_agent_report(report, out)
    print("wrote " + ", ".join(str(p) for p in paths))


def _train_ac(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    import numpy as np

    from tv2tv_world.agents.actor_critic import save_actor_critic
    from tv2tv_world.agents.imagined_ac import ImaginedACConfig, train_imagined_ac
    from tv2tv_world.dataset.format import Manifest
    from tv2tv_world.dataset.latents import LATENTS_FILE, load_latents, vae_fingerprint
    from tv2tv_world.world_model_checkpoint import load_world_model

    torch_threads(args.threads)
    loaded = load_world_model(args.checkpoint)
    manifest = Manifest.load(args.data)
    latents, fingerprint = load_latents(Path(args.data) / LATENTS_FILE, [e["file"] for e in manifest.episodes])
    if fingerprint != vae_fingerprint(loaded.vae):
        raise DatasetError(f"{args.data}/{LATENTS_FILE} was encoded by another tokenizer than {args.checkpoint}'s; "
                           f"re-run `tv2tv encode --checkpoint {args.checkpoint} --data {args.data}`")
    config = ImaginedACConfig(iterations=args.iterations, num_envs=args.num_envs, horizon=args.horizon,
                              flow_steps=args.flow_steps, seed=args.seed)
    net = train_imagined_ac(loaded, np.concatenate(latents).astype(np.float32), config,
                            log_dir=Path(args.out).with_suffix("").as_posix() + "_tb", progress=not args.quiet)
    path = save_actor_critic(net, args.out, {"world_model": str(args.checkpoint), "vae_fingerprint": fingerprint,
                                             "config": asdict(config)})
    print(f"policy written to {path}")


def _play(args: argparse.Namespace) -> None:
    import os

    from tv2tv_world.play_session import PlaySession
    from tv2tv_world.rollout_file import Rollout

    headless = not display_available()
    if headless and not args.record:
        raise ValueError("no display is available (no DISPLAY / WAYLAND_DISPLAY, or SDL_VIDEODRIVER=dummy): "
                         "pass --record out.mp4 (or .gif) to play off-screen into a file")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    from tv2tv_world.play_window import PlayWindow
    from tv2tv_world.player import Player, ReplayPlayer
    from tv2tv_world.video_recorder import VideoRecorder

    if args.replay:
        rollout = Rollout.load(args.replay)
        window = PlayWindow(rollout.frames.shape[1], args.scale, side_by_side=rollout.real is not None,
                            title=f"tv2tv-world replay: {args.replay}")
        recorder = VideoRecorder(args.record, rollout.fps) if args.record else None
        try:
            ReplayPlayer(rollout, window, recorder).run()
        except BaseException:
            if recorder is not None:
                recorder.abort()
            raise
    else:
        if args.checkpoint is None:
            raise ValueError("--checkpoint is required (or --replay FILE)")
        torch_threads(args.threads)
        from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
        from tv2tv_world.world_model_checkpoint import load_world_model

        loaded = load_world_model(args.checkpoint)
        check_game(loaded, args.env)
        env = ImaginationEnv(loaded, action_mode="text", flow_steps=args.flow_steps, horizon=args.horizon)
        session = PlaySession(env, make_real_env(loaded) if args.side_by_side else None, seed=args.seed)
        window = PlayWindow(loaded.vae.cfg.frame_size, args.scale, side_by_side=args.side_by_side,
                            title=f"tv2tv-world: {loaded.game['env_id']}")
        recorder = VideoRecorder(args.record, session.rollout.fps) if args.record else None
        steps = args.steps if args.steps is not None else (32 if headless else None)
        try:
            fps = Player(session, window, recorder, free_run=args.free_run or headless, max_steps=steps).run()
        except BaseException:
            if recorder is not None:
                recorder.abort()
            raise
        print(f"{session.steps} decisions, {fps:.1f} frames/s achieved (the game runs at {session.rollout.fps})")
        if args.save:
            print(f"rollout saved to {session.to_rollout({'checkpoint': str(args.checkpoint)}).save(args.save)}")
    window.close()
    if recorder is not None:
        path = recorder.close()
        print(f"recorded {recorder.frames} frames to {path}")


def _demo(args: argparse.Namespace) -> None:
    torch_threads(args.threads)
    if args.train:
        from tv2tv_world.demo_training import run_demo_training

        checkpoint = run_demo_training(Path(args.out) / "train")
    else:
        checkpoint = args.checkpoint
    from tv2tv_world.demo import run_demo

    report = run_demo(checkpoint, args.out, decisions=args.decisions, seed=args.seed, show=display_available())
    print(f"{report['decisions']} decisions, real return {report['real_return']:+g}, PSNR by horizon "
          + ", ".join(f"{h}: {v:.1f} dB" for h, v in report["psnr_by_horizon"].items())
          + f"; {report['seconds']:.0f} s")
    print(f"wrote {args.out}/rollout.mp4, {args.out}/rollout.gif, {args.out}/report.md, {args.out}/psnr.png")


def _bundle(args: argparse.Namespace) -> None:
    import tempfile

    from tv2tv_world.atomic_file import atomic_path
    from tv2tv_world.bundle import BUNDLED_DIR, CHECK_DATA, CHECK_EVALUATION, check_evaluation, write_bundle

    path = write_bundle(args.checkpoint, BUNDLED_DIR / f"{args.name}.pt")
    with tempfile.TemporaryDirectory() as folder:
        check = check_evaluation(path, folder)
    record = {"source": str(args.checkpoint), "check_data": CHECK_DATA, "check_evaluation": CHECK_EVALUATION,
              "check": check}
    with atomic_path(path.with_suffix(".json")) as temp:
        temp.write_text(json.dumps(record, indent=1) + "\n")
    print(f"bundled {args.checkpoint} as {path} ({path.stat().st_size / 2**20:.1f} MB); check: {json.dumps(check)}")


def _bench(args: argparse.Namespace) -> None:
    from tv2tv_world.atomic_file import atomic_path
    from tv2tv_world.bench import bench_table, run_bench

    torch_threads(args.threads)
    result = run_bench(args.checkpoint, quick=args.quick, device=args.device)
    table = bench_table(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        temp.write_text(json.dumps(result, indent=1) + "\n")
    with atomic_path(out.with_suffix(".md")) as temp:
        temp.write_text(table)
    print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")


def check_game(loaded, env_id: str | None) -> None:
    """A world model runs only against the game it learnt: refuse a checkpoint of another game than `env_id`."""
    if loaded.game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game (trained without a dataset manifest)")
    if env_id is not None and env_id != loaded.game["env_id"]:
        raise ValueError(f"{loaded.path} is a world model of {loaded.game['env_id']}, not {env_id}: "
                         "agents and playback only run in the game the model learnt")


def display_available() -> bool:
    """Whether pygame can open a window here."""
    import os

    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _games(args: argparse.Namespace) -> None:
    from tv2tv_world.envs.registration import GAMES, NAMESPACE

    for name, (_, kwargs) in GAMES.items():
        wraps = f"  (wraps {kwargs['game']})" if "game" in kwargs else ""
        print(f"{NAMESPACE}/{name}{wraps}")


def build_parser() -> argparse.ArgumentParser:
    from tv2tv_world.agents.registry import POLICY_NAMES

    parser = argparse.ArgumentParser(
        prog="tv2tv", description="tv2tv-world: a game world model that thinks in words and acts in pixels."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "fit", help="train a model from a YAML config (LightningCLI: tv2tv fit --config FILE, --help for all options)",
        add_help=False,
    )
    games = commands.add_parser("games", help="list the real games", description="List the registered real games.")
    games.set_defaults(run=_games)

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

    vae_eval = commands.add_parser(
        "evaluate-vae", help="reconstruction quality of a trained video tokenizer",
        description="Encode and decode whole episodes chunk by chunk; print PSNR and SSIM as JSON.",
    )
    vae_eval.add_argument("--checkpoint", required=True, help="a video VAE checkpoint from tv2tv fit")
    vae_eval.add_argument("--data", required=True, help="dataset folder (use seeds never trained on)")
    vae_eval.add_argument("--episodes", type=int, default=None, help="at most this many episodes")
    vae_eval.add_argument("--image", default=None, help="also write a PNG: real frames over their reconstructions")
    vae_eval.set_defaults(run=_evaluate_vae)

    evaluate = commands.add_parser(
        "evaluate", help="imagination quality and controllability of a world model on held-out episodes",
        description="Imagine held-out windows from real starts with the recorded (and counterfactual) actions; "
                    "write REPORT.json, REPORT.md, REPORT_psnr.png and the action probe REPORT_probe.pt.",
    )
    evaluate.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    evaluate.add_argument("--data", required=True, help="dataset folder with episodes never trained on")
    evaluate.add_argument("--out", required=True, help="report JSON path; the other files go next to it")
    evaluate.add_argument("--horizon", type=int, default=16, help="chunks imagined per window (default: 16)")
    evaluate.add_argument("--windows", type=int, default=96, help="at most this many windows (default: 96)")
    evaluate.add_argument("--flow-steps", type=int, default=8, help="Euler steps per chunk (default: 8)")
    evaluate.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (default: 1)")
    evaluate.add_argument("--probe-steps", type=int, default=400, help="training steps of the action probe (default: 400)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    evaluate.set_defaults(run=_evaluate)

    encode = commands.add_parser(
        "encode", help="encode a dataset once with a trained tokenizer (world models train on the latents)",
        description="Write DATA/latents.npz: every episode's chunks as latents of the given video tokenizer.",
    )
    encode.add_argument("--checkpoint", required=True,
                        help="a video VAE checkpoint from tv2tv fit, or a world model (its tokenizer; 'forage' too)")
    encode.add_argument("--data", required=True, help="dataset folder from tv2tv collect")
    encode.add_argument("--out", default=None, help="output file (default: DATA/latents.npz)")
    encode.add_argument("--quiet", action="store_true", help="no progress bar")
    encode.add_argument("--device", default="cpu", help="torch device to encode on (e.g. cuda)")
    encode.set_defaults(run=_encode)

    from tv2tv_world.agents.real_game_agent import AGENT_NAMES

    agent = commands.add_parser(
        "agent", help="run an agent in the real game, next to the random agent and the oracle planner",
        description="Play EPISODES real games (seeds SEED..) with each agent; print and save mean and std of return "
                    "(OUT.json, OUT.md, TensorBoard in OUT_tb).",
    )
    agent.add_argument("--agent", choices=AGENT_NAMES, required=True)
    agent.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    agent.add_argument("--env", default=None, help="the real game id (default: the checkpoint's game; must match it)")
    agent.add_argument("--episodes", type=int, default=10)
    agent.add_argument("--seed", type=int, default=10_000, help="episode i uses seed SEED+i (default: 10000, unseen in data)")
    agent.add_argument("--max-decisions", type=int, default=None, help="cut episodes after this many decisions")
    agent.add_argument("--baselines", nargs="*", default=["random", "oracle"], choices=AGENT_NAMES,
                       help="agents run alongside on the same seeds (default: random oracle)")
    agent.add_argument("--out", default="reports/agents.json", help="report path (default: reports/agents.json)")
    agent.add_argument("--horizon", type=int, default=4, help="planning horizon in decisions (default: 4)")
    agent.add_argument("--candidates", type=int, default=32, help="plans per iteration = imagined envs (default: 32)")
    agent.add_argument("--iterations", type=int, default=1, help="CEM iterations; 1 = random shooting (default: 1)")
    agent.add_argument("--elites", type=int, default=8, help="CEM elites (default: 8)")
    agent.add_argument("--flow-steps", type=int, default=2, help="Euler steps per imagined chunk (default: 2)")
    agent.add_argument("--policy", default=None, help="imagined_ac: policy file from tv2tv train-ac")
    agent.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    agent.set_defaults(run=_agent)

    train_ac = commands.add_parser(
        "train-ac", help="train an actor-critic only in imagination (starts from a dataset's recorded latents)",
        description="Advantage actor-critic on imagined rollouts of the world model; writes the policy file OUT "
                    "and TensorBoard logs in OUT_tb.",
    )
    train_ac.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    train_ac.add_argument("--data", required=True, help="dataset folder with latents.npz (tv2tv encode)")
    train_ac.add_argument("--out", required=True, help="policy file to write, e.g. runs/imagined_ac.pt")
    train_ac.add_argument("--iterations", type=int, default=200)
    train_ac.add_argument("--num-envs", type=int, default=32, help="imagined games per batch (default: 32)")
    train_ac.add_argument("--horizon", type=int, default=8, help="decisions per imagined rollout (default: 8)")
    train_ac.add_argument("--flow-steps", type=int, default=2)
    train_ac.add_argument("--seed", type=int, default=0)
    train_ac.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    train_ac.add_argument("--quiet", action="store_true", help="no progress bar")
    train_ac.set_defaults(run=_train_ac)

    bundle = commands.add_parser(
        "bundle", help="ship a world model inside the package (int8/fp16), loadable by name",
        description="Write tv2tv_world/bundled/NAME.pt (sampling only: int8 weight matrices, fp16 rest) and NAME.json "
                    "with the numbers of a quick held-out evaluation that tests reproduce.",
    )
    bundle.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    bundle.add_argument("--name", default="forage", help="the name it loads by (default: forage)")
    bundle.set_defaults(run=_bundle)

    bench = commands.add_parser(
        "bench", help="measure imagination and training speed on this machine (JSON and a Markdown table)",
        description="Sampler chunks/s and frames/s, step time over a long rollout, KV cache vs recompute, vector vs "
                    "single env, training tokens/s and share of the measured matmul peak, peak memory of each.",
    )
    bench.add_argument("--checkpoint", default="forage", help="a world model (default: the bundled 'forage')")
    bench.add_argument("--out", default="reports/bench.json", help="JSON path; the table goes next to it as .md")
    bench.add_argument("--quick", action="store_true", help="fewer cases, for a smoke test")
    bench.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    bench.add_argument("--device", default="cpu", help="where the model runs (e.g. cuda; default: cpu)")
    bench.set_defaults(run=_bench)

    demo = commands.add_parser(
        "demo", help="the product in a few minutes: an agent plans in the bundled world model and plays Forage",
        description="The mpc agent plans in imagination with the bundled Forage model and plays the real game; "
                    "writes OUT/rollout.mp4, OUT/rollout.gif (real vs imagined), OUT/report.md and OUT/psnr.png.",
    )
    demo.add_argument("--checkpoint", default="forage", help="a world model (default: the bundled 'forage')")
    demo.add_argument("--out", default="demo", help="output folder (default: demo)")
    demo.add_argument("--decisions", type=int, default=48, help="decisions to play (default: 48 = 192 frames)")
    demo.add_argument("--seed", type=int, default=20_000, help="the real start's seed (default: 20000)")
    demo.add_argument("--train", action="store_true",
                      help="first run the whole pipeline small (collect, tokenizer, world model, evaluate) and demo that")
    demo.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    demo.set_defaults(run=_demo)

    play = commands.add_parser(
        "play", help="play the imagined game in a window: keys or typed text drive it",
        description="Drive the world model live (arrow keys / WASD / space, t to type any text, h for help), "
                    "optionally next to the real game; record to MP4/GIF, save the rollout, replay it.",
    )
    play.add_argument("--checkpoint", default=None, help="a world-model checkpoint (not needed with --replay)")
    play.add_argument("--env", default=None, help="the real game id (default: the checkpoint's; must match it)")
    play.add_argument("--side-by-side", action="store_true", help="the real game with the same actions, and PSNR")
    play.add_argument("--record", default=None, help="write what the window shows to this .mp4 or .gif")
    play.add_argument("--save", default=None, help="save the rollout (frames, texts, actions, rewards) to this .npz")
    play.add_argument("--replay", default=None, help="play back a rollout saved with --save")
    play.add_argument("--free-run", action="store_true", help="start in free run: the model writes its own text")
    play.add_argument("--steps", type=int, default=None,
                      help="stop after this many decisions (default: none with a display, 32 off-screen)")
    play.add_argument("--seed", type=int, default=0, help="the real start's seed (default: 0)")
    play.add_argument("--scale", type=int, default=6, help="window pixels per frame pixel (default: 6)")
    play.add_argument("--flow-steps", type=int, default=4, help="Euler steps per chunk (default: 4)")
    play.add_argument("--horizon", type=int, default=1000, help="decisions per imagined episode (default: 1000)")
    play.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    play.set_defaults(run=_play)

    data = commands.add_parser("data", help="inspect datasets", description="Inspect datasets.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    check = data_commands.add_parser("check", help="validate a dataset folder",
                                     description="Validate every file of a dataset; name the first bad file and field.")
    check.add_argument("folder")
    check.set_defaults(run=_data_check)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fit"]:  # LightningCLI owns the whole command line of `fit`
        from tv2tv_world.fit_cli import run_fit

        return run_fit(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (DatasetError, CheckpointError, ValueError, TypeError, FileNotFoundError) as err:
        print(f"tv2tv: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
