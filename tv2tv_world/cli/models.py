"""`tv2tv evaluate-vae`, `evaluate`, `evaluate-ends`, `fit-end-head`, `bundle` and `bench`: what a trained model is
worth, and how fast it runs."""

from __future__ import annotations

import argparse
import json

from tv2tv_world.cli.runtime import add_device, add_sampling, add_threads, torch_threads


def _evaluate_vae(args: argparse.Namespace) -> None:
    from PIL import Image

    from tv2tv_world.evaluation.tokenizer import evaluate_vae, reconstruction_strip
    from tv2tv_world.storage.atomic_file import atomic_path
    from tv2tv_world.tokenizer.loading import load_tokenizer

    vae = load_tokenizer(args.checkpoint).to(args.device)
    report = evaluate_vae(vae, args.data, args.episodes)
    print(json.dumps(report, indent=1))
    if args.image:
        with atomic_path(args.image) as temp:
            Image.fromarray(reconstruction_strip(vae, args.data)).save(temp, format="PNG")
        print(f"real (top) vs reconstructed (bottom) frames: {args.image}")


def _evaluate(args: argparse.Namespace) -> None:
    from tv2tv_world.evaluation.imagination import evaluate_world_model
    from tv2tv_world.evaluation.report import write_report
    from tv2tv_world.world_model.loading import load_world_model

    torch_threads(args.threads)
    report, probe, picture = evaluate_world_model(
        load_world_model(args.checkpoint), args.data, horizon=args.horizon, max_windows=args.windows,
        flow_steps=args.flow_steps, guidance=args.guidance, probe_steps=args.probe_steps, seed=args.seed,
        probe_data=args.probe_data,
    )
    paths = write_report(report, probe, args.out, picture)
    print(json.dumps({k: v for k, v in report.items() if k != "psnr_curve"}, indent=1))
    print("wrote " + ", ".join(str(p) for p in paths.values()))


def _evaluate_ends(args: argparse.Namespace) -> None:
    import time

    from tv2tv_world.end_head.counterfactual_ends import counterfactual_ends
    from tv2tv_world.storage.atomic_file import write_json
    from tv2tv_world.world_model.loading import load_world_model

    torch_threads(args.threads)
    began = time.perf_counter()
    loaded = load_world_model(args.checkpoint, args.device)
    tried = counterfactual_ends(loaded, args.data, limit=args.limit, flow_steps=args.flow_steps, guidance=args.guidance)
    report = {"checkpoint": str(args.checkpoint), "data": args.data, "limit": args.limit, **tried.report(),
              "seconds": round(time.perf_counter() - began, 1)}
    print(json.dumps(report, indent=1))
    if args.out:
        print(f"wrote {write_json(args.out, report)}")


def _fit_end_head(args: argparse.Namespace) -> None:
    import time

    from tv2tv_world.end_head.fit import end_examples, fit_end_head, head_ranking, write_with_end_head
    from tv2tv_world.world_model.loading import load_world_model

    torch_threads(args.threads)
    began = time.perf_counter()
    loaded = load_world_model(args.checkpoint)
    examples = end_examples(loaded, args.data, args.limit, pairs=args.pairs, symmetries=args.symmetries,
                            imagined=args.imagined, depth=args.depth)
    n = len(examples.ends) - examples.imagined
    mirrored = f" ({n // args.symmetries} x {args.symmetries} symmetries)" if args.symmetries > 1 else ""
    print(f"fit on {', '.join(args.data)}: {n} states{mirrored} and {examples.imagined} imagined, "
          f"{int(examples.ends.sum())} deadly actions ({time.perf_counter() - began:.0f} s to replay and encode)")
    heldout = end_examples(loaded, args.heldout, args.limit, pairs=args.pairs,
                           imagined=min(args.imagined, 1), depth=args.depth) if args.heldout else None

    def log(epoch: int, loss: float) -> None:
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f} ({time.perf_counter() - began:.0f} s)", flush=True)

    head = fit_end_head(examples, loaded.game["action_texts"], epochs=args.epochs, seed=args.seed, log=log)
    report = {"checkpoint": str(args.checkpoint), "data": args.data, "fit": head_ranking(head, examples)}
    if heldout is not None:
        report.update(heldout_data=args.heldout, heldout=head_ranking(head, heldout))
    report["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(report, indent=1))
    print(f"wrote {write_with_end_head(args.checkpoint, head, args.out)}")


def _bundle(args: argparse.Namespace) -> None:
    import tempfile

    from tv2tv_world.cli.bundle_check import (CHECK_DATA, CHECK_EVALUATION, END_HEAD_CHECK_DATA, check_end_head,
                                          check_evaluation)
    from tv2tv_world.storage.atomic_file import write_json
    from tv2tv_world.storage.bundle import BUNDLED_DIR, write_bundle, write_end_head_bundle
    from tv2tv_world.training.training_record import record_of_path, summary

    out = BUNDLED_DIR / f"{args.name}.pt"
    if args.end_head_on:
        path = write_end_head_bundle(args.checkpoint, args.end_head_on, out)
        with tempfile.TemporaryDirectory() as folder:
            check = check_end_head(path, folder)
        record = {"source": str(args.checkpoint), "base": args.end_head_on, "check_data": END_HEAD_CHECK_DATA,
                  "check": check}
    else:
        training = record_of_path(args.checkpoint)
        path = write_bundle(args.checkpoint, out, training=training)
        with tempfile.TemporaryDirectory() as folder:
            check = check_evaluation(path, folder)
        record = {"source": str(args.checkpoint), "training": summary(training), "check_data": CHECK_DATA,
                  "check_evaluation": CHECK_EVALUATION, "check": check}
    write_json(path.with_suffix(".json"), record)
    print(f"bundled {args.checkpoint} as {path} ({path.stat().st_size / 2**20:.1f} MB); check: {json.dumps(check)}")


def _bench(args: argparse.Namespace) -> None:
    from tv2tv_world.evaluation.bench import bench_table, run_bench
    from tv2tv_world.storage.atomic_file import write_json, write_text

    torch_threads(args.threads)
    result = run_bench(args.checkpoint, quick=args.quick, device=args.device)
    table = bench_table(result)
    out = write_json(args.out, result)
    write_text(out.with_suffix(".md"), table)
    print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")


def _add_evaluate_vae(commands) -> None:
    vae_eval = commands.add_parser(
        "evaluate-vae", help="reconstruction quality of a trained video tokenizer",
        description="Encode and decode whole episodes chunk by chunk; print PSNR and SSIM as JSON.",
    )
    vae_eval.add_argument("--checkpoint", required=True,
                          help="a video VAE checkpoint from tv2tv fit, or a world model (its tokenizer; 'forage' too)")
    vae_eval.add_argument("--data", required=True, help="dataset folder (use seeds never trained on)")
    vae_eval.add_argument("--episodes", type=int, default=None, help="at most this many episodes")
    vae_eval.add_argument("--image", default=None, help="also write a PNG: real frames over their reconstructions")
    add_device(vae_eval, "to run the tokenizer on")
    vae_eval.set_defaults(run=_evaluate_vae)


def _add_evaluate(commands) -> None:
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
    add_sampling(evaluate, flow_steps=8)
    evaluate.add_argument("--probe-steps", type=int, default=400, help="training steps of the action probe (default: 400)")
    evaluate.add_argument("--probe-data", nargs="+", default=[], metavar="DIR",
                          help="more folders of real episodes of the same game for the action probe to learn from "
                               "(never --data itself), e.g. a random player's, whose actions are spread evenly")
    evaluate.add_argument("--seed", type=int, default=0)
    add_threads(evaluate)
    evaluate.set_defaults(run=_evaluate)


def _add_evaluate_ends(commands) -> None:
    ends = commands.add_parser(
        "evaluate-ends", help="how well a world model tells which of a state's actions ends the game",
        description="Replay recorded episodes in the real game (games that save their state), try every action at "
                    "each decision in a copy, and compare with the termination head's probability for each action's "
                    "first step, read from the real newest chunk as a planner does; print (and with --out write) "
                    "pair_auc, within_state_auc and safest_is_safe as JSON.",
    )
    ends.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit, or a bundled name")
    ends.add_argument("--data", nargs="+", required=True,
                      help="dataset folders whose episodes replay from their seeds (tv2tv collect; use held-out seeds)")
    ends.add_argument("--limit", type=int, default=2000, help="at most this many decisions per folder (default: 2000)")
    ends.add_argument("--out", default=None, help="also write the JSON here")
    add_sampling(ends, flow_steps=4)
    add_device(ends, "where the world model imagines")
    add_threads(ends)
    ends.set_defaults(run=_evaluate_ends)


def _add_fit_end_head(commands) -> None:
    end_head = commands.add_parser(
        "fit-end-head", help="fit a latent end head: which action ends the game, read from the newest chunk",
        description="Replay recorded episodes in the real game (games that save their state), try every action at "
                    "each decision, encode the real chunk before it with the model's tokenizer, and fit a small CNN "
                    "that reads that latent and gives each action's chance of ending the game next decision. The "
                    "trunk is untouched; the checkpoint is written again to OUT with the head, and imagination envs "
                    "made from OUT take their end probability from it for the game's action texts.",
    )
    end_head.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit, or a bundled name")
    end_head.add_argument("--data", nargs="+", required=True,
                          help="dataset folders whose episodes replay from their seeds (tv2tv collect, tv2tv agent --record)")
    end_head.add_argument("--heldout", nargs="+", default=None, help="also score the head on these folders (held-out seeds)")
    end_head.add_argument("--out", required=True, help="the checkpoint to write")
    end_head.add_argument("--limit", type=int, default=100_000, help="at most this many decisions per folder (default: 100000)")
    end_head.add_argument("--epochs", type=int, default=30, help="passes over the states (default: 30)")
    end_head.add_argument("--pairs", action="store_true",
                          help="a two-decision head: also every pair of actions tried, so a plan's second step is "
                               "judged from the real chunk it started from (replays cost ~6x more)")
    end_head.add_argument("--symmetries", type=int, default=1, choices=(1, 2, 4, 8),
                          help="fit on each state also mirrored (2: left-right, 4: and up-down, and transposed, 8: all "
                               "the square's symmetries), the moves permuted to match; games that declare mirrored "
                               "rules unchanged (Forage). Encoding and each epoch cost that many times more (default: 1)")
    end_head.add_argument("--imagined", type=int, default=0, metavar="N",
                          help="also fit on each decision's chunk as the model imagines it from the real one before "
                               "and the recorded action (4 Euler steps, guidance 3, as mpc), with the real decision's "
                               "labels, N copies: a plan's later steps read imagined chunks. The held-out report then "
                               "ranks those apart ('imagined') (default: 0)")
    end_head.add_argument("--depth", type=int, default=1, metavar="D",
                          help="with --imagined, each decision's chunk also imagined from the real one 2..D decisions "
                               "before with the recorded actions (a plan of 4 reads its third and fourth steps' ends "
                               "from chunks 2 and 3 deep); imagining costs D times more (default: 1)")
    end_head.add_argument("--seed", type=int, default=0)
    add_threads(end_head)
    end_head.set_defaults(run=_fit_end_head)


def _add_bundle(commands) -> None:
    bundle = commands.add_parser(
        "bundle", help="ship a world model inside the package (int8/fp16), loadable by name",
        description="Write tv2tv_world/bundled/NAME.pt (sampling only: int8 weight matrices, fp16 rest) and NAME.json "
                    "with the numbers of a quick held-out evaluation that tests reproduce.",
    )
    bundle.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    bundle.add_argument("--name", default="forage", help="the name it loads by (default: forage)")
    bundle.add_argument("--end-head-on", metavar="BASE", default=None,
                        help="ship only the checkpoint's latent end head (a few MB), to load on top of the bundled "
                             "model BASE, which must be the checkpoint's model exactly (tv2tv fit-end-head "
                             "--checkpoint BASE); its check ranks moves in fresh random-player games")
    bundle.set_defaults(run=_bundle)


def _add_bench(commands) -> None:
    bench = commands.add_parser(
        "bench", help="measure imagination and training speed on this machine (JSON and a Markdown table)",
        description="Sampler chunks/s and frames/s, step time over a long rollout, KV cache vs recompute, vector vs "
                    "single env, training tokens/s and share of the measured matmul peak, peak memory of each.",
    )
    bench.add_argument("--checkpoint", default="forage", help="a world model (default: the bundled 'forage')")
    bench.add_argument("--out", default="reports/bench.json", help="JSON path; the table goes next to it as .md")
    bench.add_argument("--quick", action="store_true", help="fewer cases, for a smoke test")
    add_threads(bench)
    add_device(bench, "where the model runs")
    bench.set_defaults(run=_bench)


# this family's verbs: `tv2tv_world.cli.main` lists them in the order a user meets them
VERBS = {
    "evaluate-vae": _add_evaluate_vae,
    "evaluate": _add_evaluate,
    "evaluate-ends": _add_evaluate_ends,
    "fit-end-head": _add_fit_end_head,
    "bundle": _add_bundle,
    "bench": _add_bench,
}
