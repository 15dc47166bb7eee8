"""Two agent reports compared seed by seed: returns vary far more between games than between agents."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class ReportError(ValueError):
    """An agent report that cannot be read or compared, named with the reason."""


def load_agent_report(path: str | Path) -> dict:
    """A `tv2tv agent --out` JSON report, checked for what a comparison reads."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report (write one with `tv2tv agent --out {path}`)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{path} is not a JSON agent report: {error}") from None
    agents = report.get("agents") if isinstance(report, dict) else None
    if not isinstance(agents, dict) or not all({"returns", "seeds"} <= set(r) for r in agents.values()):
        raise ReportError(f"{path} is not an agent report from `tv2tv agent` (no agents with returns and seeds)")
    return report


Games = dict[int, tuple[float, int]]  # seed -> (return, decisions) of one agent


def episode_returns(reports: list[dict], agent: str, side: str = "the") -> Games:
    """seed -> (return, decisions) of `agent` over one or more reports (say two halves of the seeds run side
    by side); a seed in two of them is refused, an agent missing from one too."""
    games: Games = {}
    for report in reports:
        if agent not in report["agents"]:
            raise ReportError(f"{side} report has no agent {agent!r} (it has {sorted(report['agents'])})")
        result = report["agents"][agent]
        decisions = result.get("decisions", [0] * len(result["returns"]))
        for i, (r, d) in enumerate(zip(result["returns"], decisions)):
            seed = result["seeds"][0] + i
            if seed in games:
                raise ReportError(f"seed {seed} is in two of {side} reports; pool reports of different seeds")
            games[seed] = (float(r), int(d))
    return games


def paired_comparison(base: Games, new: Games, agent: str) -> dict:
    """`new` games of `agent` against `base` ones, on the seeds both played.

    Returns the seeds compared, both means, the mean per-seed difference (new - base) with its
    standard error, how many seeds new won, lost or tied, and both mean episode lengths (decisions).
    """
    seeds = sorted(set(base) & set(new))
    if not seeds:
        raise ReportError(f"the reports share no seed: base played {min(base)}..{max(base)}, new {min(new)}..{max(new)}")
    base_returns, new_returns = (np.array([games[s][0] for s in seeds]) for games in (base, new))
    difference = new_returns - base_returns
    error = float(difference.std(ddof=1) / np.sqrt(len(seeds))) if len(seeds) > 1 else float("nan")
    return {
        "agent": agent, "episodes": len(seeds), "seeds": seeds,
        "base_mean": float(base_returns.mean()), "new_mean": float(new_returns.mean()),
        "difference": float(difference.mean()), "standard_error": error,
        "wins": int((difference > 0).sum()), "losses": int((difference < 0).sum()), "ties": int((difference == 0).sum()),
        "base_decisions": float(np.mean([base[s][1] for s in seeds])),
        "new_decisions": float(np.mean([new[s][1] for s in seeds])),
    }


def comparison_line(c: dict) -> str:
    """One readable line of a `paired_comparison`."""
    return (f"{c['agent']} over {c['episodes']} shared seeds: base {c['base_mean']:.2f}, new {c['new_mean']:.2f}, "
            f"new - base {c['difference']:+.2f} ± {c['standard_error']:.2f} (standard error); new won {c['wins']}, "
            f"lost {c['losses']}, tied {c['ties']}; decisions per episode {c['base_decisions']:.1f} -> {c['new_decisions']:.1f}")
