"""A checkpoint's training record: what each sitting cost and where it ran, chained through warm starts and resumes."""

from __future__ import annotations

import pytest
from conftest import TINY_WM_CONFIG, fit_args

from tv2tv_world.cli.fit import run_fit
from tv2tv_world.storage.bundle import write_bundle
from tv2tv_world.storage.checkpoint import load_checkpoint
from tv2tv_world.training.training_record import device_name, record_of, record_of_path, summary


def sitting(seconds, machine="cpu A", before=None):
    return {"seconds": seconds, "steps": 10, "machine": machine, "precision": "32-true", "before": before}


def test_summary_lists_the_sittings_oldest_first_and_adds_them_up_only_when_all_are_known():
    chain = sitting(3600.0, "gpu B", sitting(1800.0))
    assert [s["seconds"] for s in summary(chain)["sittings"]] == [1800.0, 3600.0]
    assert summary(chain)["hours"] == 1.5 and summary(chain)["machines"] == ["cpu A", "gpu B"]
    unknown = sitting(3600.0, before=record_of({}, unknown_source="old_bundle"))
    assert summary(unknown)["hours"] is None and summary(unknown)["hours_recorded"] == 1.0
    assert summary(unknown)["sittings"][0]["source"] == "old_bundle"
    assert summary(None) == {"sittings": [], "hours": None, "hours_recorded": 0, "machines": []}


def test_a_checkpoint_from_before_records_is_read_from_lightnings_timer_and_its_warm_start(tmp_path):
    old = {"callbacks": {"Timer": {"time_elapsed": {"train": 7200.0, "validate": 3.0}}}, "global_step": 500,
           "hyper_parameters": {"init_from": str(tmp_path / "gone.ckpt")}}
    record = record_of(old)
    assert record["seconds"] == 7200.0 and record["steps"] == 500 and record["machine"] is None
    assert record["before"]["source"] == str(tmp_path / "gone.ckpt") and record["before"]["seconds"] is None
    assert record_of({}) is None


def test_an_old_checkpoint_warm_started_from_a_bundled_name_does_not_read_todays_bundle():
    old = {"callbacks": {"Timer": {"time_elapsed": {"train": 100.0}}}, "global_step": 5,
           "hyper_parameters": {"init_from": "forage"}}
    assert record_of_path("forage")["seconds"] is not None  # the bundle the name loads today: another model
    assert record_of(old)["before"] == record_of({}, unknown_source="forage")


def test_fit_records_its_time_and_machine_a_warm_start_chains_and_a_resume_adds_up(
        tiny_world_model, encoded, tiny_dataset, tmp_path):
    first = load_checkpoint(tiny_world_model, "world_model")["tv2tv"]["training"]
    assert first["steps"] == 3 and first["seconds"] > 0 and first["before"] is None
    assert first["machine"] == device_name("cpu") and first["precision"]

    vae, latents = encoded
    args = fit_args(tiny_dataset, tmp_path, f"--model.init_args.vae_checkpoint={vae}",
                    f"--data.init_args.latents={latents}", f"--model.init_args.init_from={tiny_world_model}",
                    config=TINY_WM_CONFIG)
    run_fit(args)
    warm = tmp_path / "world_model_tiny" / "version_0" / "checkpoints" / "last.ckpt"
    record = load_checkpoint(warm, "world_model")["tv2tv"]["training"]
    assert record["before"] == first and record["steps"] == 3

    run_fit([*args, "--trainer.max_steps=6", f"--ckpt_path={warm}"])  # one validation more
    resumed = load_checkpoint(tmp_path / "world_model_tiny" / "version_1" / "checkpoints" / "last.ckpt",
                              "world_model")["tv2tv"]["training"]
    assert resumed["steps"] == 6 and resumed["seconds"] > record["seconds"] and resumed["before"] == first
    assert summary(resumed)["hours"] == pytest.approx((first["seconds"] + resumed["seconds"]) / 3600, abs=0.01)


def test_a_bundle_carries_the_record_it_is_given_and_a_warm_start_reads_it_back(tiny_world_model, tmp_path):
    record = record_of_path(tiny_world_model)
    path = write_bundle(tiny_world_model, tmp_path / "tiny.pt", training=sitting(60.0, before=record))
    assert record_of_path(path) == sitting(60.0, before=record)
