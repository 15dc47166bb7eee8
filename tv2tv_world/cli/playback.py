"""`tv2tv play` and `demo`: the imagined game on screen or in files."""

from __future__ import annotations

import argparse
from pathlib import Path

from tv2tv_world.cli.runtime import add_sampling, add_threads, check_game, display_available, torch_threads


def _play(args: argparse.Namespace) -> None:
    import os

    from tv2tv_world.play.rollout_file import Rollout
    from tv2tv_world.play.session import PlaySession

    headless = not display_available()
    if headless and not args.record:
        raise ValueError("no display is available (no DISPLAY / WAYLAND_DISPLAY, or SDL_VIDEODRIVER=dummy): "
                         "pass --record out.mp4 (or .gif) to play off-screen into a file")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    from tv2tv_world.play.player import Player, ReplayPlayer
    from tv2tv_world.play.video_recorder import VideoRecorder
    from tv2tv_world.play.window import PlayWindow

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
        from tv2tv_world.world_model.loading import load_world_model

        loaded = load_world_model(args.checkpoint)
        check_game(loaded, args.env)
        env = ImaginationEnv(loaded, action_mode="text", flow_steps=args.flow_steps, guidance=args.guidance,
                             horizon=args.horizon)
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
        from tv2tv_world.cli.demo_training import run_demo_training

        checkpoint = run_demo_training(Path(args.out) / "train")
    else:
        checkpoint = args.checkpoint
    from tv2tv_world.play.demo import run_demo

    report = run_demo(checkpoint, args.out, decisions=args.decisions, seed=args.seed, show=display_available())
    print(f"{report['decisions']} decisions, real return {report['real_return']:+g}, PSNR by horizon "
          + ", ".join(f"{h}: {v:.1f} dB" for h, v in report["psnr_by_horizon"].items())
          + f"; {report['seconds']:.0f} s")
    print(f"wrote {args.out}/rollout.mp4, {args.out}/rollout.gif, {args.out}/report.md, {args.out}/psnr.png")


def _add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo", help="the product in a few minutes: an agent plans in the bundled world model and plays Forage",
        description="The mpc agent plans in imagination with the bundled Forage model and plays the real game; "
                    "writes OUT/rollout.mp4, OUT/rollout.gif (real vs imagined), OUT/report.md and OUT/psnr.png.",
    )
    demo.add_argument("--checkpoint", default="forage_branches_ends",
                      help="a world model (default: the bundled 'forage_branches_ends', whose end head plans best; "
                           "'forage' imagines the frames a little better)")
    demo.add_argument("--out", default="demo", help="output folder (default: demo)")
    demo.add_argument("--decisions", type=int, default=48, help="decisions to play (default: 48 = 192 frames)")
    demo.add_argument("--seed", type=int, default=20_000, help="the real start's seed (default: 20000)")
    demo.add_argument("--train", action="store_true",
                      help="first run the whole pipeline small (collect, tokenizer, world model, evaluate) and demo that")
    add_threads(demo)
    demo.set_defaults(run=_demo)


def _add_play(commands) -> None:
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
    add_sampling(play, flow_steps=4)
    play.add_argument("--horizon", type=int, default=1000, help="decisions per imagined episode (default: 1000)")
    add_threads(play)
    play.set_defaults(run=_play)


# this family's verbs: `tv2tv_world.cli.main` lists them in the order a user meets them
VERBS = {
    "demo": _add_demo,
    "play": _add_play,
}
