"""The check a bundle ships with: numbers a fresh evaluation of the bundled model must reproduce.

`tv2tv bundle` records them beside the weights; tests/test_bundle.py collects the same held-out
episodes again and compares. Shipping and loading the weights themselves is `bundle`'s.
"""

from __future__ import annotations

from pathlib import Path

from tv2tv_world.dataset.collect import collect
from tv2tv_world.end_head.fit import end_examples, head_ranking
from tv2tv_world.evaluation.imagination import evaluate_world_model
from tv2tv_world.storage.checkpoint import CheckpointError
from tv2tv_world.world_model.loading import load_world_model
from tv2tv_world.world_model.sampler import SamplerConfig

# The quick check that ships with a bundle: a fresh `tv2tv evaluate` on these freshly collected
# held-out episodes must reproduce the recorded numbers (tests/test_bundle.py).
CHECK_DATA = {"policy": "scripted", "episodes": 4, "seed": 90_000, "env_kwargs": {"max_steps": 96}}
CHECK_EVALUATION = {"horizon": 4, "max_windows": 16, "flow_steps": 4, "guidance": SamplerConfig.guidance,
                    "probe_steps": 150, "seed": 0}
CHECKED_METRICS = ("psnr_by_horizon", "ssim_by_horizon", "control_accuracy", "counterfactual_control_accuracy",
                   "text_perplexity", "reward_accuracy")


def check_evaluation(checkpoint: str | Path, folder: str | Path) -> dict:
    """Collect the check episodes into `folder` and evaluate `checkpoint` on them; the report."""
    loaded = load_world_model(checkpoint)
    _collect_check(loaded, CHECK_DATA, folder)
    report, _, _ = evaluate_world_model(loaded, folder, **CHECK_EVALUATION)
    return {key: report[key] for key in CHECKED_METRICS}


# An end-head bundle's check: how its head ranks every move (every pair of moves, for a two-decision head) in these
# freshly collected random-player games; `head_ranking`'s report.
END_HEAD_CHECK_DATA = {"policy": "random", "episodes": 10, "seed": 90_000, "env_kwargs": {"max_steps": 160}}


def check_end_head(checkpoint: str | Path, folder: str | Path) -> dict:
    """Collect the end-head check episodes into `folder` and rank their moves with `checkpoint`'s end head."""
    loaded = load_world_model(checkpoint)
    if loaded.end_head is None:
        raise CheckpointError(f"{checkpoint}: carries no latent end head (tv2tv fit-end-head)")
    _collect_check(loaded, END_HEAD_CHECK_DATA, folder)
    examples = end_examples(loaded, [folder], limit=10**6, pairs=loaded.end_head.cfg.decisions == 2)
    return head_ranking(loaded.end_head, examples)


def _collect_check(loaded, data: dict, folder: str | Path) -> None:
    """Record `data`'s check episodes of the model's game (its action repeat and arguments) into `folder`."""
    collect(loaded.game["env_id"], data["policy"], data["episodes"], folder, seed=data["seed"],
            action_repeat=int(loaded.game["action_repeat"]), env_kwargs={**loaded.game["env_kwargs"], **data["env_kwargs"]},
            progress=False)
