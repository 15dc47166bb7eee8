"""Matched-budget arms of the world model's design, as one table.

Each arm trains on the same data for the same wall-clock minutes (`tv2tv fit` with `max_time`, the
learning rate annealed by then), on one machine, one arm at a time, from scratch or (the `continued`
arms) from the bundled `forage` model; then `tv2tv evaluate` imagines the same held-out windows
from each, and from the bundled model itself (`bundled`, not matched: a reference). The table (Markdown, with the JSON beside
it) has per arm its parameters, steps reached, minutes, object F1 (all objects and moving ones) and
PSNR at 1 / 4 / 16 decisions, and control accuracy. Arms already evaluated are kept (rerun one by
deleting its folder under --runs).

Needs data/forage with latents of the bundled tokenizer, data/forage_heldout and
data/forage_random_heldout (the README's commands), then:

    python scripts/imagination_arms.py --minutes 14 --out reports/imagination_arms.md
    python scripts/imagination_arms.py --minutes 14 --arms base patch1 --out reports/imagination_arms.md
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

BASE = ["--config", "configs/world_model/forage.yaml", "--model.init_args.vae_checkpoint=forage",
        "--trainer.max_steps=1000000", "--trainer.enable_progress_bar=false"]
ARMS = {
    "base": ([], "today's design: 16 tokens per chunk (2x2 latent patches), dim 256 x 6 layers"),
    "patch1": (["--model.init_args.mot.patch_size=1"], "64 tokens per chunk (1x1 latent patches)"),
    "change_weight": (["--model.init_args.flow.change_weight=4.0"],
                      "flow loss weighted 1 + 4 x each token's change from the chunk before"),
    "patch1_change_weight": (["--model.init_args.mot.patch_size=1", "--model.init_args.flow.change_weight=4.0"],
                             "both"),
    "wide": (["--model.init_args.mot.dim=384", "--model.init_args.mot.heads=6"], "dim 384 x 6 layers"),
    # warm starts from the bundled model (its weights, a fresh schedule): what a change adds to it
    "continued": (["--config", "configs/world_model/continue.yaml"], "the bundled `forage` continued as it is"),
    "continued_change_weight": (["--config", "configs/world_model/continue.yaml",
                                 "--model.init_args.flow.change_weight=4.0"],
                                "the bundled `forage` continued with the change-weighted flow loss"),
    "continued_refiner": (["--config", "configs/world_model/continue.yaml", "--config", "configs/world_model/refiner.yaml"],
                          "the bundled `forage` continued with a convolutional velocity refiner (64 channels, "
                          "zero start) that sees the chunk before"),
    "continued_context_noise": (["--config", "configs/world_model/continue.yaml",
                                 "--model.init_args.flow.context_noise=0.3"],
                                "the bundled `forage` continued with its context chunks corrupted to flow time "
                                "U(0.7, 1) in training"),
}
REFERENCE = "bundled"  # the bundled `forage` model itself, evaluated the same way: no training
EVALUATION = ["--data", "data/forage_heldout", "--probe-data", "data/forage_random_heldout", "--horizon", "16",
              "--windows", "48", "--threads", "2"]


def tv2tv(*args: str) -> float:
    """Run `tv2tv ARGS` with this Python; the CPU seconds it used (user + system, all its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "tv2tv_world.cli.main", *args], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_arm(name: str, minutes: float, runs: Path) -> dict:
    """Train arm `name` for `minutes` and evaluate it; its row (also kept in runs/NAME/row.json)."""
    import torch

    folder = runs / name
    row_file = folder / "row.json"
    if row_file.exists():
        return json.loads(row_file.read_text())
    if name == REFERENCE:
        return reference_row(folder)
    overrides, description = ARMS[name]
    trained = folder / "trained.json"  # written once the arm's training is done: a rerun only evaluates
    if not trained.exists():
        seconds = round(minutes * 60)
        budget = f"00:{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        began = time.perf_counter()
        cpu = tv2tv("fit", *BASE, *overrides, f"--trainer.max_time={budget}",
                    f"--trainer.logger.init_args.save_dir={runs}", f"--trainer.logger.init_args.name={name}")
        trained.write_text(json.dumps({"train_minutes": (time.perf_counter() - began) / 60, "train_cpu_minutes": cpu / 60}))
    spent = json.loads(trained.read_text())
    checkpoint = sorted(folder.glob("version_*/checkpoints/last.ckpt"))[-1]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    parameters = sum(v.numel() for k, v in state["state_dict"].items() if k.startswith("model."))
    report_path = folder / "evaluation.json"
    tv2tv("evaluate", "--checkpoint", str(checkpoint), "--out", str(report_path), *EVALUATION)
    row = {"arm": name, "description": description, "overrides": overrides, "parameters": parameters,
           "steps": state["global_step"], **spent,
           "checkpoint": str(checkpoint), "evaluation": json.loads(report_path.read_text())}
    row_file.write_text(json.dumps(row, indent=1))
    return row


def reference_row(folder: Path) -> dict:
    """The bundled model's row: its own parameters, evaluated like the arms."""
    from tv2tv_world.world_model.loading import load_world_model

    folder.mkdir(parents=True, exist_ok=True)
    report_path = folder / "evaluation.json"
    tv2tv("evaluate", "--checkpoint", "forage", "--out", str(report_path), *EVALUATION)
    row = {"arm": REFERENCE, "description": "the bundled `forage` (about 17,000 steps over several runs, not matched)",
           "overrides": [], "parameters": sum(p.numel() for p in load_world_model("forage").model.parameters()),
           "steps": None, "train_minutes": None, "train_cpu_minutes": None, "checkpoint": "forage",
           "evaluation": json.loads(report_path.read_text())}
    (folder / "row.json").write_text(json.dumps(row, indent=1))
    return row


def table(rows: list[dict], machine: str) -> str:
    """The Markdown table of the arms' rows."""
    def by_h(report: dict, key: str, digits: int) -> str:
        values = report.get(key) or {}
        return " / ".join(f"{values[h]:.{digits}f}" if values.get(h) is not None else "-" for h in ("1", "4", "16"))

    first = rows[0]["evaluation"]
    lines = [f"Arms trained one after another for the same minutes on {machine}, from scratch unless they continue "
             f"the bundled model; held-out windows: "
             f"{first['windows']} of {first['horizon']} decisions from `{first['data']}`, {first['flow_steps']} Euler "
             f"steps, guidance {first['guidance']}. Ceilings on the same windows: tokenizer object F1 "
             f"{by_h(first, 'sprite_f1_tokenizer_by_horizon', 3)} (moving {by_h(first, 'sprite_f1_moving_tokenizer_by_horizon', 3)}), "
             f"the real game with another random draw {by_h(first, 'sprite_f1_real_game_redrawn_by_horizon', 3)}.", "",
             "| arm | parameters | steps | minutes (CPU minutes) | object F1 at 1 / 4 / 16 | moving-object F1 "
             "| PSNR dB | control / counterfactual |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        r = row["evaluation"]
        spent = "-" if row["train_minutes"] is None else f"{row['train_minutes']:.1f} ({row['train_cpu_minutes']:.1f})"
        lines.append(f"| `{row['arm']}`: {row['description']} | {row['parameters'] / 1e6:.1f}M | {row['steps'] or '-'} | "
                     f"{spent} | {by_h(r, 'sprite_f1_by_horizon', 3)} | "
                     f"{by_h(r, 'sprite_f1_moving_by_horizon', 3)} | {by_h(r, 'psnr_by_horizon', 2)} | "
                     f"{r['control_accuracy']:.3f} / {r['counterfactual_control_accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", choices=[REFERENCE, *ARMS], default=[REFERENCE, *ARMS])
    parser.add_argument("--minutes", type=float, default=14.0, help="wall-clock training budget of every arm")
    parser.add_argument("--runs", type=Path, default=Path("runs/arms"))
    parser.add_argument("--out", type=Path, required=True, help="the Markdown table; the JSON goes beside it")
    args = parser.parse_args()
    from tv2tv_world.training.training_record import device_name
    from tv2tv_world.storage.atomic_file import write_json, write_text

    rows = [run_arm(name, args.minutes, args.runs) for name in args.arms]
    write_json(args.out.with_suffix(".json"), rows)
    write_text(args.out, table(rows, f"{device_name('cpu')}, {args.minutes:g} minutes each"))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
