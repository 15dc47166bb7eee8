"""Two agent reports compared seed by seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tv2tv_world.cli.main import main
from tv2tv_world.evaluation.agent_comparison import ReportError, episode_returns, load_agent_report, paired_comparison


def _report(first_seed: int, returns: list[float], decisions: list[int], agent: str = "mpc") -> dict:
    return {"agents": {agent: {"returns": returns, "seeds": [first_seed, first_seed + len(returns) - 1],
                               "decisions": decisions, "mean": float(np.mean(returns))}}}


def test_returns_are_paired_on_the_seeds_both_reports_played():
    base = episode_returns([_report(10, [1.0, 2.0], [5, 6]), _report(12, [3.0, 4.0], [7, 8])], "mpc")  # 10..13
    new = episode_returns([_report(12, [5.0, 3.0, 0.0], [9, 9, 1])], "mpc")  # seeds 12..14: 12 and 13 are shared
    c = paired_comparison(base, new, "mpc")
    assert c["seeds"] == [12, 13] and c["episodes"] == 2
    assert (c["base_mean"], c["new_mean"], c["difference"]) == pytest.approx((3.5, 4.0, 0.5))
    assert c["standard_error"] == pytest.approx(np.std([2.0, -1.0], ddof=1) / np.sqrt(2))
    assert (c["wins"], c["losses"], c["ties"]) == (1, 1, 0)
    assert (c["base_decisions"], c["new_decisions"]) == pytest.approx((7.5, 9.0))


def test_reports_that_cannot_be_compared_are_named(tmp_path):
    with pytest.raises(ReportError, match="share no seed: base played 10..11, new 20..21"):
        paired_comparison(episode_returns([_report(10, [1.0, 2.0], [1, 1])], "mpc"),
                          episode_returns([_report(20, [1.0, 2.0], [1, 1])], "mpc"), "mpc")
    with pytest.raises(ReportError, match="a new report has no agent 'mpc'"):
        episode_returns([_report(10, [1.0], [1], agent="random")], "mpc", "a new")
    with pytest.raises(ReportError, match="seed 11 is in two of the reports"):
        episode_returns([_report(10, [1.0, 2.0], [1, 1]), _report(11, [1.0], [1])], "mpc")
    with pytest.raises(ReportError, match="no such report"):
        load_agent_report(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReportError, match="is not a JSON agent report"):
        load_agent_report(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"psnr_by_horizon": {}}))
    with pytest.raises(ReportError, match="not an agent report"):
        load_agent_report(tmp_path / "other.json")


def test_compare_agents_reads_two_runs_of_tv2tv_agent(tiny_world_model, tmp_path, capsys):
    for name, seed in (("a", 500), ("b", 501)):  # seeds 500..502 and 501..503
        main(["agent", "--agent", "random", "--checkpoint", str(tiny_world_model), "--episodes", "3",
              "--max-decisions", "6", "--seed", str(seed), "--baselines", "--out", str(tmp_path / f"{name}.json")])
    capsys.readouterr()
    main(["compare-agents", "--base", str(tmp_path / "a.json"), "--new", str(tmp_path / "b.json"), "--out",
          str(tmp_path / "c.json")])
    assert "random over 2 shared seeds" in capsys.readouterr().out
    (c,) = json.loads((tmp_path / "c.json").read_text())["agents"]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["agents"]["random"] for n in "ab")
    assert c["seeds"] == [501, 502]
    assert c["base_mean"] == pytest.approx(np.mean(a["returns"][1:])) and c["new_mean"] == pytest.approx(np.mean(b["returns"][:2]))
    # the random agent draws its moves from the episode's seed: the same seed, the same game
    assert c["difference"] == 0.0 and c["ties"] == 2 and c["base_decisions"] == c["new_decisions"]
    with pytest.raises(SystemExit):
        main(["compare-agents", "--base", str(tmp_path / "a.json"), "--new", str(tmp_path / "missing.json")])
    assert "missing.json: no such report" in capsys.readouterr().err
