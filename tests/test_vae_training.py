"""Training the tokenizer through `tv2tv fit`: resume, TensorBoard, DDP, safe and checked checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY_VAE_CONFIG as TINY_CONFIG
from conftest import fit_args as _args
from tv2tv_world.cli.fit import run_fit
from tv2tv_world.storage.checkpoint import CheckpointError, load_checkpoint
from tv2tv_world.tokenizer.video_vae import VideoVAE

TESTS = Path(__file__).parent

def _scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_resume_continues_the_step_counter_optimizer_and_loss(trained_vae):
    first = torch.load(trained_vae / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(trained_vae / "version_1" / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["global_step"] == 4 and resumed["global_step"] == 8
    adam_steps = {float(s["step"]) for s in resumed["optimizer_states"][0]["state"].values()}
    assert adam_steps == {8.0}  # Adam's moments carried on from step 4, not restarted
    before = _scalars(trained_vae / "version_0", "train/loss")
    after = _scalars(trained_vae / "version_1", "train/loss")
    assert [s for s, _ in before] == [0, 1, 2, 3]
    assert [s for s, _ in after] == [4, 5, 6, 7]
    assert after[-1][1] < before[0][1]  # still learning where it left off


def test_tensorboard_holds_losses_metrics_and_videos(trained_vae):
    events = EventAccumulator(str(trained_vae / "version_0"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/mse", "train/kl", "val/psnr", "val/ssim"} <= set(tags["scalars"])
    videos = events.Images("train/input_vs_reconstruction")
    assert [v.step for v in videos] == [0, 2]
    assert videos[0].encoded_image_string[:6] == b"GIF89a"
    assert (videos[0].width, videos[0].height) == (128, 64)  # input | reconstruction


def test_checkpoint_loads_as_a_tokenizer_with_its_latent_statistics(trained_vae):
    vae = VideoVAE.from_checkpoint(trained_vae / "version_1" / "checkpoints" / "last.ckpt")
    assert vae.cfg.latent_channels == 4 and not vae.training
    assert not torch.allclose(vae.latent_std, torch.ones(4))  # learned from data, stored in the checkpoint


def test_a_warm_start_begins_from_a_trained_tokenizer_with_a_fresh_schedule(trained_vae, tiny_dataset, tmp_path):
    from tv2tv_world.tokenizer.module import VideoVAEModule

    source = trained_vae / "version_1" / "checkpoints" / "last.ckpt"
    trained = VideoVAE.from_checkpoint(source)
    warm = VideoVAEModule(config=trained.cfg, init_from=str(source))
    for (name, value), same in zip(trained.state_dict().items(), warm.vae.state_dict().values()):
        assert torch.equal(value, same), name  # weights and latent statistics

    run_fit(_args(tiny_dataset, tmp_path, f"--model.init_args.init_from={source}", "--trainer.max_steps=2"))
    run = tmp_path / "vae_tiny" / "version_0"
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    fresh_first = _scalars(trained_vae / "version_0", "train/loss")[0]
    warm_first = _scalars(run, "train/loss")[0]
    assert warm_first[0] == 0 and warm_first[1] < fresh_first[1]  # step 0 again, from where the source had got to

    other = {**trained.cfg.__dict__, "latent_channels": 2 * trained.cfg.latent_channels}
    with pytest.raises(ValueError, match="init_from .* is a tokenizer of .*latent_channels.: 4.*must be equal"):
        VideoVAEModule(config=other, init_from=str(source))


def test_a_frozen_encoder_keeps_its_latents_while_the_decoder_learns(trained_vae, tiny_dataset, tmp_path):
    source = trained_vae / "version_1" / "checkpoints" / "last.ckpt"
    run_fit(_args(tiny_dataset, tmp_path, f"--model.init_args.init_from={source}", "--model.init_args.freeze_encoder=true",
                  "--trainer.max_steps=2"))
    before = VideoVAE.from_checkpoint(source).state_dict()
    after = VideoVAE.from_checkpoint(tmp_path / "vae_tiny" / "version_0" / "checkpoints" / "last.ckpt").state_dict()
    kept = [name for name in before if name.startswith(("encoder.", "latent_"))]
    assert kept and all(torch.equal(before[name], after[name]) for name in kept)
    assert not all(torch.equal(before[name], after[name]) for name in before if name.startswith("decoder."))

    from tv2tv_world.tokenizer.module import VideoVAEModule

    with pytest.raises(ValueError, match="freeze_encoder needs init_from"):
        VideoVAEModule(freeze_encoder=True)


def test_a_setting_a_module_refuses_is_named_without_a_traceback(tiny_dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_fit(_args(tiny_dataset, tmp_path, "--model.init_args.freeze_encoder=true"))
    assert exit_info.value.code == 2
    assert "tv2tv fit: error: freeze_encoder needs init_from" in capsys.readouterr().err
    assert not (tmp_path / "vae_tiny").exists()  # refused before any run folder was written
    with pytest.raises(SystemExit):  # refused by the tokenizer's config, one wrapper deeper
        run_fit(_args(tiny_dataset, tmp_path, "--model.init_args.config.spatial_compression=16"))
    assert "tv2tv fit: error: spatial_compression 16 must equal patch_size" in capsys.readouterr().err


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_in_a_checkpoint_does_not_execute(tmp_path, tiny_dataset):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"tv2tv": {"kind": "video_vae"}, "payload": _RunsCode(marker)}, crafted)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(crafted, "video_vae")
    with pytest.raises(SystemExit) as exit_info:
        run_fit(_args(tiny_dataset, tmp_path / "runs", f"--ckpt_path={crafted}"))
    assert exit_info.value.code == 2
    assert not marker.exists()


def test_wrong_kind_missing_and_corrupt_checkpoints_are_named(tmp_path, trained_vae):
    other = tmp_path / "other.ckpt"
    torch.save({"tv2tv": {"kind": "world_model"}, "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="is a 'world_model' checkpoint, expected 'video_vae'"):
        VideoVAE.from_checkpoint(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        VideoVAE.from_checkpoint(tmp_path / "nope.ckpt")
    good = (trained_vae / "version_0" / "checkpoints" / "last.ckpt").read_bytes()
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(good[: len(good) // 3])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        VideoVAE.from_checkpoint(corrupt)
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(CheckpointError, match="not a tv2tv-world checkpoint"):
        VideoVAE.from_checkpoint(plain)


def _tv2tv(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tv2tv_world.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_unknown_config_key_and_missing_data_are_named(tmp_path, tiny_dataset):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_CONFIG.read_text().replace("lr: 1.0e-3", "lr: 1.0e-3\n    learning_rat: 3"))
    run = _tv2tv("fit", "--config", str(bad), f"--data.init_args.data_dir={tiny_dataset}")
    assert run.returncode != 0 and "learning_rat" in run.stderr
    run = _tv2tv("fit", *_args(tmp_path / "no_data", tmp_path / "runs"))
    assert run.returncode != 0 and "no_data: dataset folder does not exist" in run.stderr


def test_print_config_shows_the_experiment():
    run = _tv2tv("fit", "--config", str(TINY_CONFIG), "--print_config")
    assert run.returncode == 0
    assert "class_path: tv2tv_world.tokenizer.module.VideoVAEModule" in run.stdout and "latent_channels: 4" in run.stdout


def test_ddp_with_two_cpu_processes_trains_and_agrees_on_weights(tmp_path, tiny_dataset):
    probe = tmp_path / "probe.yaml"
    probe.write_text(
        "trainer:\n  callbacks:\n    - class_path: ddp_probe.WeightsProbe\n"
        f"      init_args: {{out_dir: {tmp_path}}}\n"
    )
    run = _tv2tv("fit", *_args(tiny_dataset, tmp_path / "runs"), "--config", str(probe),
                 "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.max_steps=3",
                 env={"PYTHONPATH": str(TESTS)})
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [3, 3]
    torch.testing.assert_close(ranks[0]["weights"], ranks[1]["weights"], rtol=0, atol=0)
    torch.manual_seed(0)  # seed_everything: 0 in the config gives this start
    from tv2tv_world.tokenizer.module import VideoVAEModule

    untrained = torch.cat([p.flatten() for p in VideoVAEModule(config={"latent_channels": 4, "channels": [16, 32]}).parameters()])
    assert not torch.allclose(untrained, ranks[0]["weights"])


def test_evaluate_vae_reports_psnr_over_every_frame(trained_vae, tiny_dataset, tmp_path):
    from tv2tv_world.dataset.format import Manifest
    from tv2tv_world.evaluation.tokenizer import evaluate_vae

    ckpt = trained_vae / "version_1" / "checkpoints" / "last.ckpt"
    report = evaluate_vae(VideoVAE.from_checkpoint(ckpt), tiny_dataset)
    assert report["episodes"] == 6
    assert report["frames"] == sum(e["frames"] for e in Manifest.load(tiny_dataset).episodes)
    assert 5.0 < report["psnr"] < 60.0 and 0.0 < report["ssim"] <= 1.0
    assert report["latent_shape"] == [4, 8, 8] and report["frames_per_latent"] == 4
    regions = report["regions"].values()
    assert sum(r["pixel_share"] for r in regions) == pytest.approx(1.0)
    assert sum(r["error_share"] for r in regions) == pytest.approx(1.0)
    assert all(r["psnr_if_perfect"] > report["psnr"] for r in regions)
    assert 0.0 <= report["sprite_f1"] <= 1.0 and 0.0 <= report["sprite_f1_moving"] <= 1.0
    assert report["object_palette"]["colours"][0] == [24, 24, 36]  # Forage's background
    run = _tv2tv("evaluate-vae", "--checkpoint", str(tmp_path / "missing.ckpt"), "--data", str(tiny_dataset))
    assert run.returncode == 2 and "missing.ckpt: checkpoint file does not exist" in run.stderr


def test_reconstruction_strip_puts_real_frames_over_their_reconstructions(trained_vae, tiny_dataset):
    from tv2tv_world.dataset.format import Manifest, read_episode
    from tv2tv_world.evaluation.tokenizer import reconstruction_strip

    vae = VideoVAE.from_checkpoint(trained_vae / "version_1" / "checkpoints" / "last.ckpt")
    image = reconstruction_strip(vae, tiny_dataset, columns=4, scale=2)
    size = vae.cfg.frame_size
    assert image.shape == (2 * size * 2, 4 * size * 2, 3) and image.dtype == np.uint8
    first = read_episode(tiny_dataset / Manifest.load(tiny_dataset).episodes[0]["file"]).frames
    assert np.array_equal(image[: size * 2 : 2, : size * 2 : 2], first[1])  # top-left: the real frame 1
    assert not np.array_equal(image[size * 2 :: 2, : size * 2 : 2], first[1])  # below it: the tokenizer's copy
