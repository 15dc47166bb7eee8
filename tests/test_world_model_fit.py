"""`tv2tv fit` of a tiny world model on a tiny tokenizer, end to end."""

from __future__ import annotations

from pathlib import Path

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import TINY_WM_CONFIG, fit_args
from tv2tv_world.cli.fit import run_fit
from tv2tv_world.cli.main import main
from tv2tv_world.dataset.format import DatasetError, Manifest, read_episode
from tv2tv_world.dataset.latent_file import load_latents
from tv2tv_world.storage.checkpoint import CheckpointError, load_checkpoint
from tv2tv_world.tokenizer.latents import encode_dataset, vae_fingerprint
from tv2tv_world.tokenizer.module import to_unit
from tv2tv_world.tokenizer.video_vae import VideoVAE
from tv2tv_world.world_model.loading import load_world_model



def test_encoded_latents_are_the_tokenizer_means_of_every_chunk(encoded, tiny_dataset):
    vae_path, latents_path = encoded
    vae = VideoVAE.from_checkpoint(vae_path)
    manifest = Manifest.load(tiny_dataset)
    latents, fingerprint = load_latents(latents_path, [e["file"] for e in manifest.episodes])
    assert fingerprint == vae_fingerprint(vae) and len(latents) == len(manifest.episodes)
    episode = read_episode(tiny_dataset / manifest.episodes[0]["file"])
    assert latents[0].shape == (1 + episode.decisions, 4, 8, 8) and latents[0].dtype == np.float16
    with torch.no_grad():
        expected = vae.encode(vae.chunk(to_unit(torch.from_numpy(episode.frames)).permute(0, 3, 1, 2)[None]))[0]
    torch.testing.assert_close(torch.from_numpy(latents[0]).float(), expected, atol=2e-2, rtol=1e-2)
    with pytest.raises(DatasetError, match="re-run `tv2tv encode`"):
        load_latents(latents_path, ["another.npz"])


def test_world_model_fits_and_its_checkpoint_knows_its_game(encoded, tiny_world_model):
    vae, _ = encoded
    run = tiny_world_model.parent.parent
    ckpt = load_checkpoint(tiny_world_model, "world_model")
    meta = ckpt["tv2tv"]
    assert ckpt["global_step"] == 3
    assert meta["game"]["env_id"] == "tv2tv_world/Forage-v0" and meta["game"]["action_repeat"] == 4
    assert meta["game"]["action_texts"][1] == "move up"
    assert meta["mot_config"]["latent_channels"] == 4 and meta["mot_config"]["patch_size"] == 2
    assert meta["tokenizer"]["kind"] == "byte"
    vae_weights = load_checkpoint(vae, "video_vae")["state_dict"]
    for name, value in vae_weights.items():  # the tokenizer rides along, frozen
        torch.testing.assert_close(ckpt["state_dict"][name], value)
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    video = events.Images("val/real_vs_imagined")[0]
    assert video.width == 2 * 64 and video.height == 64
    assert np.isfinite([e.value for e in events.Scalars("val/imagined_psnr")]).all()


def test_world_model_refuses_latents_of_another_tokenizer(encoded, trained_vae, tiny_dataset, tmp_path):
    _, latents = encoded
    other_vae = trained_vae / "version_0" / "checkpoints" / "last.ckpt"  # 4 steps: other weights
    with pytest.raises(ValueError, match="re-run `tv2tv encode` with vae_checkpoint"):
        run_fit(fit_args(tiny_dataset, tmp_path, f"--model.init_args.vae_checkpoint={other_vae}",
                         f"--data.init_args.latents={latents}", config=TINY_WM_CONFIG))


def test_world_model_refuses_a_tokenizer_of_the_wrong_kind_or_an_incomplete_one(tmp_path):
    from tv2tv_world.world_model.module import WorldModelModule

    other = tmp_path / "other.ckpt"
    torch.save({"tv2tv": {"kind": "imagined_ac", "format": 1}, "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="expected a tokenizer or a world model"):
        WorldModelModule(vae_checkpoint=str(other))
    torch.save({"tv2tv": {"kind": "world_model", "format": 1}, "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="tokenizer is incomplete"):
        WorldModelModule(vae_checkpoint=str(other))


def test_warm_start_copies_a_world_models_weights_and_refuses_what_cannot_fit(tiny_world_model, trained_vae):
    """`init_from`: a new run starts from trained weights (fresh optimizer); its tokenizer can come from the same file."""
    from dataclasses import asdict

    from tv2tv_world.world_model.module import WorldModelModule

    trained = load_world_model(tiny_world_model)
    mot = asdict(trained.model.transformer.cfg)
    module = WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, init_from=str(tiny_world_model))
    ours, theirs = module.model.state_dict(), trained.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert all(torch.equal(a, b) for a, b in zip(module.vae.state_dict().values(), trained.vae.state_dict().values()))
    assert not torch.equal(WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot).model.state_dict()
                           ["transformer.video_in.0.weight"], theirs["transformer.video_in.0.weight"])
    with pytest.raises(ValueError, match=r"does not fit this run's model \(mot sizes"):
        WorldModelModule(vae_checkpoint=str(tiny_world_model), mot={**mot, "dim": 2 * mot["dim"]},
                         init_from=str(tiny_world_model))
    # a refiner the new run adds is left at its zero start; everything else is copied
    refined = WorldModelModule(vae_checkpoint=str(tiny_world_model), mot={**mot, "refiner_channels": 8},
                               init_from=str(tiny_world_model)).model.state_dict()
    assert all(torch.equal(refined[k], theirs[k]) for k in theirs)
    assert not refined["refiner.out.2.weight"].any()
    other_tokenizer = trained_vae / "version_0" / "checkpoints" / "last.ckpt"  # 4 steps: other weights
    with pytest.raises(ValueError, match="was trained on tokenizer .*init_other_tokenizer"):
        WorldModelModule(vae_checkpoint=str(other_tokenizer), mot=mot, init_from=str(tiny_world_model))
    # another game's world model: its transformer is copied as a starting point, the tokenizer is this run's
    crossed = WorldModelModule(vae_checkpoint=str(other_tokenizer), mot=mot, init_from=str(tiny_world_model),
                               init_other_tokenizer=True)
    assert all(torch.equal(crossed.model.state_dict()[k], theirs[k]) for k in theirs)
    assert vae_fingerprint(crossed.vae) != vae_fingerprint(trained.vae)


def test_evaluate_writes_a_report_with_every_metric(tiny_world_model, tiny_dataset, random_forage, tmp_path):
    out = tmp_path / "eval" / "report.json"
    main(["evaluate", "--checkpoint", str(tiny_world_model), "--data", str(tiny_dataset),
          "--out", str(out), "--horizon", "4", "--windows", "6", "--flow-steps", "2", "--probe-steps", "5",
          "--probe-data", str(random_forage)])
    report = json.loads(out.read_text())
    assert report["probe_data"] == [str(random_forage)]
    # Forage replays its recordings: the real game played every window's counterfactual commands
    assert 0.0 <= report["counterfactual_control_real_game"] <= 1.0
    assert 0.0 <= report["counterfactual_control_on_real_steps"] <= 1.0
    assert 0.0 < report["counterfactual_real_game_steps"] <= 1.0 and "real_game_note" not in report
    assert set(report["psnr_real_game_redrawn_by_horizon"]) == {"1", "4"} and len(report["psnr_real_game_redrawn_curve"]) == 4
    assert all(0 < v <= 100 for v in report["psnr_real_game_redrawn_curve"])
    assert set(report["psnr_real_game_redrawn_raw_by_horizon"]) == {"1", "4"}
    assert report["windows"] == 6 and report["horizon"] == 4
    assert set(report["psnr_by_horizon"]) == {"1", "4"} and len(report["psnr_curve"]) == 4
    assert report["psnr_by_horizon"]["4"] == report["psnr_curve"][3] and 0 < report["psnr_curve"][0] < 60
    assert 0 <= report["ssim_by_horizon"]["1"] <= 1 and report["text_perplexity"] >= 1
    for key in ("control_accuracy", "counterfactual_control_accuracy", "probe_real_accuracy", "reward_accuracy",
                "reward_accuracy_real_chunks", "termination_f1"):
        assert 0.0 <= report[key] <= 1.0, key
    for key in ("control_by_horizon", "counterfactual_control_by_horizon"):
        assert set(report[key]) == {"1", "4"} and all(0.0 <= v <= 1.0 for v in report[key].values()), key
    for key in ("reward_auc", "reward_auc_real_chunks", "termination_auc", "termination_auc_real_chunks"):  # None: no event of that kind
        assert key in report and (report[key] is None or 0.0 <= report[key] <= 1.0), key
    for key in ("sprite_f1_by_horizon", "sprite_f1_moving_by_horizon", "sprite_f1_tokenizer_by_horizon",
                "sprite_f1_moving_tokenizer_by_horizon", "sprite_f1_real_game_redrawn_by_horizon",
                "sprite_f1_copy_last_by_horizon", "sprite_f1_moving_copy_last_by_horizon"):
        assert set(report[key]) == {"1", "4"} and all(0.0 <= v <= 1.0 for v in report[key].values()), key
    # Forage's palette from the data: the background first; the player and the hazards are the moving colours
    palette = report["object_palette"]
    assert palette["colours"][0] == [24, 24, 36]
    assert sorted(tuple(palette["colours"][i]) for i in palette["moving"]) == [(200, 60, 220), (245, 245, 245)]
    markdown = out.with_suffix(".md").read_text()
    assert "| object F1 |" in markdown and "| moving-object F1, tokenizer (ceiling) |" in markdown
    assert "| moving-object F1, the last real frame held (floor) |" in markdown
    # rows real / imagined for 3 windows, columns horizons 1, 2, 4 (64 + 2 pixels each, scaled 3x)
    assert Image.open(tmp_path / "eval" / "report_frames.png").size == (3 * 3 * 66, 3 * 6 * 66)
    assert "| PSNR dB |" in markdown and "| counterfactual control |" in markdown
    assert "| the real game's counterfactual control |" in markdown and f"`{random_forage}`" in markdown
    assert "| PSNR dB of the real game with another random draw (a perfect sampler) |" in markdown
    assert Image.open(tmp_path / "eval" / "report_psnr.png").size == (640, 400)
    probe = torch.load(tmp_path / "eval" / "report_probe.pt", weights_only=True)
    assert probe["shape"]["actions"] == 5


def test_evaluate_says_when_the_real_game_does_not_replay_its_windows(tiny_world_model, tiny_dataset, tmp_path):
    import shutil

    data = Path(shutil.copytree(tiny_dataset, tmp_path / "data"))
    manifest = json.loads((data / "manifest.json").read_text())
    for entry in manifest["episodes"]:
        entry["seed"] += 1000  # another game than the one recorded
    (data / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "report.json"
    main(["evaluate", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(out),
          "--horizon", "4", "--windows", "2", "--flow-steps", "1", "--probe-steps", "2"])
    report = json.loads(out.read_text())
    assert report["counterfactual_control_real_game"] is None and report["counterfactual_control_on_real_steps"] is None
    assert report["psnr_real_game_redrawn_by_horizon"] is None
    assert "does not replay" in report["real_game_note"] and 0.0 <= report["counterfactual_control_accuracy"] <= 1.0
    assert "The real game did not replay the windows" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("field, value, message", [
    ("env_id", "tv2tv_world/PixelGame-v0", "holds tv2tv_world/PixelGame-v0 episodes; the model was trained on"),
    ("frame_size", [96, 96], "holds frames of (96, 96) px; the model's tokenizer reads 64 x 64"),
    ("action_repeat", 2, "holds 2 frames per decision; the model's chunks have 4"),
    ("horizon", 40, "no held-out episode has 40 decisions; lower --horizon"),
])
def test_evaluate_names_data_that_does_not_fit_the_model_and_writes_nothing(
        tiny_world_model, tiny_dataset, tmp_path, capsys, field, value, message):
    import shutil

    data = Path(shutil.copytree(tiny_dataset, tmp_path / "data"))
    horizon = value if field == "horizon" else 4
    if field != "horizon":
        manifest = json.loads((data / "manifest.json").read_text())
        manifest[field] = value
        (data / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "eval" / "r.json"
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(out),
              "--horizon", str(horizon), "--windows", "2", "--flow-steps", "1", "--probe-steps", "2"])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_evaluate_refuses_to_train_its_probe_on_the_episodes_it_scores(tiny_world_model, tiny_dataset, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(tiny_world_model), "--data", str(tiny_dataset), "--out",
              str(tmp_path / "r.json"), "--horizon", "4", "--windows", "2", "--probe-data", str(tiny_dataset)])
    assert "is the evaluated folder; the probe must not train on the episodes it is scored on" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_head_lr_scale_gives_the_reward_and_termination_heads_their_own_rate(tiny_world_model):
    from dataclasses import asdict

    from tv2tv_world.world_model.module import WorldModelModule

    mot = asdict(load_world_model(tiny_world_model).model.transformer.cfg)
    plain = WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, lr=1e-3)
    assert len(plain.param_groups()) == 1
    module = WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, lr=1e-3, head_lr_scale=20.0)
    trunk, heads = module.param_groups()
    assert heads["lr"] == pytest.approx(0.02) and "lr" not in trunk
    assert {id(p) for p in heads["params"]} == {id(p) for p in [*module.model.reward_head.parameters(),
                                                                 *module.model.termination_head.parameters()]}
    assert len(trunk["params"]) + len(heads["params"]) == len(list(module.model.parameters()))
    with pytest.raises(ValueError, match="head_lr_scale must be > 0"):
        WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, head_lr_scale=0.0)


def test_text_lr_scale_holds_the_text_tower_apart_from_the_video_tower(tiny_world_model):
    from dataclasses import asdict

    from tv2tv_world.world_model.mot import ModalityPair
    from tv2tv_world.world_model.module import WorldModelModule

    mot = asdict(load_world_model(tiny_world_model).model.transformer.cfg)
    module = WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, lr=1e-3, text_lr_scale=0.1,
                              head_lr_scale=20.0)
    trunk, heads, text = module.param_groups()
    assert text["lr"] == pytest.approx(1e-4) and heads["lr"] == pytest.approx(0.02)
    transformer = module.model.transformer
    pairs = [m for m in transformer.modules() if isinstance(m, ModalityPair)]
    assert len(pairs) == 5 * transformer.cfg.depth + 1  # norm1, qkv, proj, norm2, mlp per block; norm_out
    text_ids, trunk_ids = {id(p) for p in text["params"]}, {id(p) for p in trunk["params"]}
    assert {id(p) for pair in pairs for p in pair[0].parameters()} < text_ids
    assert id(transformer.token_embedding.weight) in text_ids and id(transformer.text_out.weight) in text_ids
    assert {id(p) for pair in pairs for p in pair[1].parameters()} < trunk_ids  # the video halves
    assert id(transformer.video_out[0].weight) in trunk_ids and not text_ids & trunk_ids
    assert len(trunk_ids) + len(heads["params"]) + len(text_ids) == len(list(module.model.parameters()))
    with pytest.raises(ValueError, match="text_lr_scale must be > 0"):
        WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, text_lr_scale=-1.0)


def test_crop_keeps_the_last_steps_of_every_window_with_the_chunk_before_as_anchor(tiny_world_model):
    from dataclasses import asdict

    from tv2tv_world.world_model.module import WorldModelModule

    mot = asdict(load_world_model(tiny_world_model).model.transformer.cfg)
    b, n = 2, 6
    batch = {"latents": torch.arange(b * (1 + n)).reshape(b, 1 + n).float(), "actions": torch.arange(b * n).reshape(b, n),
             "rewards": torch.zeros(b, n), "terminated": torch.zeros(b, n, dtype=torch.bool),
             "truncated": torch.zeros(b, n, dtype=torch.bool),
             "action_texts": [[f"a{i}" for i in range(n)]] * b, "intents": [[""] * n] * b}
    assert WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot).crop(batch) is batch
    module = WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, min_train_steps=2)
    lengths = set()
    for seed in range(30):
        torch.manual_seed(seed)
        cropped = module.crop(batch)
        keep = cropped["actions"].shape[1]
        lengths.add(keep)
        assert torch.equal(cropped["latents"], batch["latents"][:, n - keep :])  # anchor = the chunk before
        assert torch.equal(cropped["actions"], batch["actions"][:, n - keep :])
        assert cropped["action_texts"][0] == [f"a{i}" for i in range(n - keep, n)]
    assert lengths == set(range(2, n + 1))
    with pytest.raises(ValueError, match="min_train_steps must be >= 1"):
        WorldModelModule(vae_checkpoint=str(tiny_world_model), mot=mot, min_train_steps=0)


def test_auc_is_the_chance_that_a_positive_outranks_a_negative():
    from tv2tv_world.evaluation.imagination import roc_auc

    scores = torch.tensor([0.9, 0.2, 0.5, 0.5, 0.1])
    positive = torch.tensor([True, False, True, False, False])
    # 0.9 outranks all 3 negatives, 0.5 outranks 2 and ties 1: (5 + 0.5) / 6 pairs
    assert roc_auc(scores, positive) == pytest.approx(5.5 / 6)
    assert roc_auc(-scores, positive) == pytest.approx(0.5 / 6)
    assert roc_auc(scores, torch.zeros(5, dtype=torch.bool)) is None


def test_loading_a_tokenizer_as_a_world_model_is_a_named_error(trained_vae):
    with pytest.raises(CheckpointError, match="expected 'world_model'"):
        load_world_model(trained_vae / "version_1" / "checkpoints" / "last.ckpt")


def test_prompt_only_baseline_fits_and_imagines_from_a_prompt(encoded, tiny_dataset, tmp_path):
    """The T2V-style ablation: all the window's action texts as one prompt, no per-step text."""
    vae, latents = encoded
    run_fit(fit_args(tiny_dataset, tmp_path, f"--model.init_args.vae_checkpoint={vae}",
                     f"--data.init_args.latents={latents}", "--model.init_args.text_mode=prompt", config=TINY_WM_CONFIG))
    run = tmp_path / "world_model_tiny" / "version_0"
    assert load_checkpoint(run / "checkpoints" / "last.ckpt", "world_model")["tv2tv"]["text_mode"] == "prompt"
    assert load_world_model(run / "checkpoints" / "last.ckpt").text_mode == "prompt"
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    assert np.isfinite([e.value for e in events.Scalars("val/imagined_psnr")]).all()


def test_control_by_horizon_reads_hits_in_window_then_horizon_order():
    from tv2tv_world.evaluation.imagination import _by_horizon

    first_only = torch.tensor([True] + [False] * 15)  # one window: hit at horizon 1 only
    batches = [torch.cat([first_only, first_only]), first_only.clone()]  # 3 windows in 2 batches
    batches[1][3] = True  # the third window also hits at horizon 4
    assert _by_horizon(batches, horizon=16) == pytest.approx({"1": 1.0, "4": 1 / 3, "16": 0.0})
