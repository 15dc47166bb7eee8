"""A callback for the DDP test: each rank saves its final weights (tests/ is on PYTHONPATH there)."""

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class WeightsProbe(Callback):
    """Writes `rank{r}.pt`: the flattened parameters and the step count when training ends."""

    def __init__(self, out_dir: str):
        self.out_dir = Path(out_dir)

    def on_train_end(self, trainer, pl_module) -> None:
        flat = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        torch.save({"weights": flat, "step": trainer.global_step, "world_size": trainer.world_size},
                   self.out_dir / f"rank{trainer.global_rank}.pt")
