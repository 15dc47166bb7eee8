"""Writing an evaluation: JSON for machines, Markdown for people, a PNG of PSNR over horizon, the probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tv2tv_world.evaluation.action_probe import ActionProbe
from tv2tv_world.evaluation.line_plot import line_plot
from tv2tv_world.evaluation.optional_number import optional_number
from tv2tv_world.storage.atomic_file import atomic_path, write_json, write_text


def report_paths(out: str | Path) -> dict[str, Path]:
    """REPORT.json -> the JSON, Markdown, plot and probe files written next to it."""
    out = Path(out)
    stem = out.with_suffix("")
    return {"json": out, "markdown": stem.with_suffix(".md"), "plot": Path(f"{stem}_psnr.png"),
            "probe": Path(f"{stem}_probe.pt"), "frames": Path(f"{stem}_frames.png")}


def write_report(report: dict, probe: ActionProbe, out: str | Path, picture: np.ndarray | None = None) -> dict[str, Path]:
    """Write every file of the report atomically (`picture`, (H, W, 3) uint8 real vs imagined frames, as a PNG
    scaled 3x, when given); returns the paths written."""
    paths = report_paths(out)
    write_json(paths["json"], report)  # makes the folder
    if picture is None:
        del paths["frames"]
    else:
        with atomic_path(paths["frames"]) as temp:
            Image.fromarray(np.repeat(np.repeat(picture, 3, axis=0), 3, axis=1)).save(temp, format="PNG")
    write_text(paths["markdown"], markdown_summary(report))
    with atomic_path(paths["plot"]) as temp:
        curves = {"imagined vs real": report["psnr_curve"], "tokenizer ceiling": [report["tokenizer_psnr"]] * report["horizon"]}
        if report.get("psnr_real_game_redrawn_curve"):
            curves["the real game, another random draw"] = report["psnr_real_game_redrawn_curve"]
        line_plot(temp, curves,
                  "horizon (chunks)", "PSNR dB", f"{Path(report['checkpoint']).name}: PSNR over horizon")
    with atomic_path(paths["probe"]) as temp:
        torch.save({"shape": probe.shape, "state_dict": probe.state_dict()}, temp)
    return paths


def markdown_summary(report: dict) -> str:
    horizons = list(report["psnr_by_horizon"])
    rows = [
        f"# World-model evaluation: `{report['checkpoint']}`",
        "",
        f"Held-out data `{report['data']}`: {report['windows']} windows of {report['horizon']} chunks, "
        f"text mode `{report['text_mode']}`, {report['flow_steps']} Euler steps, guidance {report['guidance']}, "
        f"{report['seconds']:.0f} s.",
        "",
        "| horizon (chunks) | " + " | ".join(horizons) + " |",
        "| --- | " + " | ".join("---" for _ in horizons) + " |",
        "| PSNR dB | " + " | ".join(f"{report['psnr_by_horizon'][h]:.2f}" for h in horizons) + " |",
        *(["| PSNR dB of the real game with another random draw (a perfect sampler) | "
           + " | ".join(f"{report['psnr_real_game_redrawn_by_horizon'][h]:.2f}" for h in horizons) + " |"]
          if report.get("psnr_real_game_redrawn_by_horizon") else []),
        *[f"| {name} | " + " | ".join(optional_number(report[key].get(h)) for h in horizons) + " |"
          for name, key in (("object F1", "sprite_f1_by_horizon"),
                            ("object F1, tokenizer (ceiling)", "sprite_f1_tokenizer_by_horizon"),
                            ("object F1, the real game with another random draw", "sprite_f1_real_game_redrawn_by_horizon"),
                            ("object F1, the last real frame held (floor)", "sprite_f1_copy_last_by_horizon"),
                            ("moving-object F1", "sprite_f1_moving_by_horizon"),
                            ("moving-object F1, tokenizer (ceiling)", "sprite_f1_moving_tokenizer_by_horizon"),
                            ("moving-object F1, the last real frame held (floor)", "sprite_f1_moving_copy_last_by_horizon"))
          if report.get(key)],  # absent in older reports
        "| SSIM | " + " | ".join(f"{report['ssim_by_horizon'][h]:.3f}" for h in horizons) + " |",
        *[f"| {name} | " + " | ".join(optional_number(report[key].get(h)) for h in horizons) + " |"
          for name, key in (("control", "control_by_horizon"), ("counterfactual control", "counterfactual_control_by_horizon"),
                            ("the real game's counterfactual control", "counterfactual_control_real_game_by_horizon"))
          if report.get(key)],  # the real game's: absent in older reports, None where the game does not replay
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for key in ("tokenizer_psnr", "control_accuracy", "counterfactual_control_accuracy", "counterfactual_control_real_game",
                "counterfactual_control_on_real_steps", "counterfactual_real_game_steps", "probe_real_accuracy",
                "reward_accuracy", "reward_accuracy_real_chunks", "reward_auc", "reward_auc_real_chunks",
                "termination_f1", "termination_auc", "termination_auc_real_chunks", "text_perplexity"):
        value = report.get(key)  # AUCs: None where the windows hold no event of that kind (older reports: absent)
        rows.append(f"| {key} | {optional_number(value)} |")
    if report.get("probe_data"):
        rows.append(f"\nThe action probe also learnt from {', '.join(f'`{d}`' for d in report['probe_data'])}.")
    if report.get("real_game_note"):
        rows.append(f"\nThe real game did not replay the windows: {report['real_game_note']}.")
    return "\n".join(rows) + "\n"
