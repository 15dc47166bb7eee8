"""Can the world model foresee an episode's end? Its termination head against a linear probe of the same features.

    .venv/bin/python scripts/termination_probe.py --checkpoint forage --train data/forage_random --test data/forage_random_heldout

Both folders need latents from the checkpoint's tokenizer (`tv2tv encode`). Every window of
`--window` decisions that holds a termination, and every 7th other window, is run teacher-forced
(real chunks, recorded texts); the termination head reads each step's BOF hidden state. Prints the
ROC AUC of the head's probabilities, and of a class-balanced logistic regression fitted on the
frozen BOF states of the train folder: if the probe reads the end and the head does not, the
features hold it and the head is what lags (`tv2tv refit-termination` then fits the head itself).
"""

from __future__ import annotations

import argparse

import torch

from tv2tv_world.termination_refit import bof_states, fit_logistic
from tv2tv_world.world_model_checkpoint import load_world_model
from tv2tv_world.world_model_evaluation import roc_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--train", required=True, help="dataset folder (with latents) the probe is fitted on")
    parser.add_argument("--test", required=True, help="held-out dataset folder (with latents)")
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    loaded = load_world_model(args.checkpoint)
    train = bof_states(loaded, [args.train], args.window, 1200)
    test = bof_states(loaded, [args.test], args.window, 600)
    weight, bias = fit_logistic(train.states, train.terminated, balanced=True)
    for name, steps in (("train", train), ("test", test)):
        probe = roc_auc(steps.states @ weight + bias, steps.terminated)
        print(f"{name}: {int(steps.terminated.sum())} terminal of {len(steps.terminated)} steps; termination AUC head "
              f"{roc_auc(steps.head, steps.terminated):.3f}, linear probe {probe:.3f}")


if __name__ == "__main__":
    main()
