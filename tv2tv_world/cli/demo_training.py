"""`tv2tv demo --train`: the whole pipeline, small: collect, tokenizer, encode, world model, evaluate.

Every stage is the same code as the full-size commands (`tv2tv collect`, `tv2tv fit`, `tv2tv
encode`, `tv2tv evaluate`) with the small configs in `configs/demo/`; each shows its own
progress bar. Returns the trained world model's checkpoint, which the demo then plays.
"""

from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "demo"  # the repository's configs/demo
GAME = "tv2tv_world/Forage-v0"


def _last_checkpoint(runs: Path, name: str) -> Path:
    versions = sorted((runs / name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions:
        raise FileNotFoundError(f"{runs / name}: the training run wrote no checkpoint")
    return versions[-1] / "checkpoints" / "last.ckpt"


def run_demo_training(folder: str | Path, episodes: int = 40, heldout: int = 6, env_kwargs: dict | None = None,
                      vae_config: Path = CONFIGS / "vae.yaml", world_model_config: Path = CONFIGS / "world_model.yaml") -> Path:
    """Train everything under `folder`; the world-model checkpoint."""
    from tv2tv_world.cli.fit import run_fit
    from tv2tv_world.dataset.collect import collect
    from tv2tv_world.evaluation.imagination import evaluate_world_model
    from tv2tv_world.evaluation.report import write_report
    from tv2tv_world.tokenizer.latents import encode_dataset
    from tv2tv_world.tokenizer.video_vae import VideoVAE
    from tv2tv_world.world_model.loading import load_world_model

    folder = Path(folder)
    data, held, runs = folder / "data", folder / "heldout", folder / "runs"
    env_kwargs = {"max_steps": 128} if env_kwargs is None else env_kwargs
    print(f"[1/5] collecting {episodes} training and {heldout} held-out episodes of {GAME}", flush=True)
    collect(GAME, "scripted", episodes, data, env_kwargs=env_kwargs)
    collect(GAME, "scripted", heldout, held, seed=100_000, env_kwargs=env_kwargs)
    common = [f"--data.init_args.data_dir={data}", f"--trainer.logger.init_args.save_dir={runs}"]
    print("[2/5] training the video tokenizer", flush=True)
    run_fit(["--config", str(vae_config), *common, "--trainer.logger.init_args.name=demo_vae"])
    vae = _last_checkpoint(runs, "demo_vae")
    print("[3/5] encoding the data with it", flush=True)
    latents = encode_dataset(VideoVAE.from_checkpoint(vae), data)
    print("[4/5] training the world model", flush=True)
    run_fit(["--config", str(world_model_config), *common, "--trainer.logger.init_args.name=demo_world_model",
             f"--model.init_args.vae_checkpoint={vae}", f"--data.init_args.latents={latents}"])
    world_model = _last_checkpoint(runs, "demo_world_model")
    print("[5/5] evaluating it on the held-out episodes", flush=True)
    report, probe, picture = evaluate_world_model(load_world_model(world_model), held, horizon=4, max_windows=32,
                                                  flow_steps=4, probe_steps=200)
    paths = write_report(report, probe, folder / "evaluation.json", picture)
    print(f"evaluation: PSNR by horizon {report['psnr_by_horizon']}, control accuracy {report['control_accuracy']:.2f} "
          f"({paths['markdown']})", flush=True)
    return world_model
