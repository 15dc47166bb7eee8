"""Can the world model foresee an episode's end? Its termination head against a linear probe of the same features.

    .venv/bin/python scripts/termination_probe.py --checkpoint forage --train data/forage_random --test data/forage_random_heldout

Both folders need latents from the checkpoint's tokenizer (`tv2tv encode`). Every window of
`--window` decisions that holds a termination, and every 7th other window, is run teacher-forced
(real chunks, recorded texts); the termination head reads each step's BOF hidden state. Prints the
ROC AUC of the head's probabilities, and of a class-balanced logistic regression fitted on the
frozen BOF states of the train folder: if the probe reads the end and the head does not, the
features hold it and the head is what lags.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from tv2tv_world.dataset.datamodule import EpisodeDataModule, collate_windows
from tv2tv_world.world_model import step_text
from tv2tv_world.world_model_checkpoint import LoadedWorldModel, load_world_model
from tv2tv_world.world_model_evaluation import roc_auc


@torch.no_grad()
def bof_states(loaded: LoadedWorldModel, folder: str, window: int, limit: int, batch_size: int = 16):
    """(n, d) BOF hidden states, (n,) head probabilities, (n,) bool terminated, for the steps of chosen windows."""
    data = EpisodeDataModule(folder, window=window, val_fraction=0.0, latents=f"{folder}/latents.npz")
    data.setup("fit")
    windows = data.train_set
    terminal = windows.terminal()
    chosen = (np.flatnonzero(terminal).tolist() + np.flatnonzero(~terminal)[::7].tolist())[:limit]
    captured = []
    hook = loaded.model.termination_head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
    states, labels = [], []
    try:
        for first in range(0, len(chosen), batch_size):
            batch = collate_windows([windows[i] for i in chosen[first : first + batch_size]])
            texts = [[step_text(a, i) for a, i in zip(acts, ints)] for acts, ints in zip(batch["action_texts"], batch["intents"])]
            captured.clear()
            loaded.model.loss(batch["latents"], texts, batch["rewards"], batch["terminated"])
            states.append(captured[0].flatten(0, 1))  # (b * n, d)
            labels.append(batch["terminated"].flatten())
    finally:
        hook.remove()
    states = torch.cat(states)
    return states, torch.sigmoid(loaded.model.termination_head(states).squeeze(-1)), torch.cat(labels)


def fit_probe(states: torch.Tensor, labels: torch.Tensor, steps: int = 500):
    """Class-balanced L2 logistic regression on standardised states; returns a scoring function."""
    mean, std = states.mean(0), states.std(0) + 1e-5
    w = torch.zeros(states.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=1e-2)
    balance = (len(labels) - labels.sum()) / labels.sum()
    for _ in range(steps):
        logits = (states - mean) / std @ w + b
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=balance) + 1e-3 * w.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: ((x - mean) / std @ w + b).detach()


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
    loaded.model.eval()
    train, test = bof_states(loaded, args.train, args.window, 1200), bof_states(loaded, args.test, args.window, 600)
    probe = fit_probe(train[0], train[2])
    for name, (states, head, labels) in (("train", train), ("test", test)):
        print(f"{name}: {int(labels.sum())} terminal of {len(labels)} steps; termination AUC head "
              f"{roc_auc(head, labels):.3f}, linear probe {roc_auc(probe(states), labels):.3f}")


if __name__ == "__main__":
    main()
