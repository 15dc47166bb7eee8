"""`tv2tv bench --quick` on the tiny model: every case runs and reports positive figures (no timing asserts)."""

from __future__ import annotations

import json

import pytest
import torch

from tv2tv_world.cli.main import main
from tv2tv_world.evaluation.bench import run_bench
from tv2tv_world.training.precision import auto_precision


def test_quick_bench_writes_json_and_a_table(tiny_world_model, tmp_path, capsys):
    out = tmp_path / "bench.json"
    main(["bench", "--checkpoint", str(tiny_world_model), "--out", str(out), "--quick"])
    result = json.loads(out.read_text())
    assert result["real_game"]["frames_per_s"] > 0 and all(r["vector_speedup_per_env"] > 0 for r in result["env"].values())
    assert all(r["chunks_per_s"] > 0 and r["peak_rss_mb"] > 0 for r in result["sampler"].values())
    for t in result["training"].values():
        assert t["achieved_flops"] > 0 and 0 < t["fraction_of_peak"]
    # the quick bench times training at the precision `tv2tv fit` chooses on this machine, and says which
    chosen = auto_precision("cpu")
    assert result["precision"] == chosen and list(result["training"]) == ["bf16" if chosen == "bf16-mixed" else "fp32"]
    table = out.with_suffix(".md").read_text()
    assert f"| precision `tv2tv fit` chooses here | {chosen} |" in table and "| training step, " in table
    assert "matmul peak" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_bench_on_a_missing_gpu_is_a_named_error(tiny_world_model, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--checkpoint", str(tiny_world_model), "--out", str(tmp_path / "b.json"), "--device", "cuda"])
    assert "'cuda': this torch has no CUDA device here" in capsys.readouterr().err and not (tmp_path / "b.json").exists()
    with pytest.raises(ValueError, match="device 'cuda': no CUDA GPU"):  # the library call checks it too
        run_bench(tiny_world_model, quick=True, device="cuda")
