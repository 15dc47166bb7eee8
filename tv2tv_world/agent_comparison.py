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


def episode_returns(report: dict, agent: str) -> dict[int, tuple[float, int]]:
    """seed -> (return, decisions) of `agent` in `report`."""
    result = report["agents"][agent]
    first = result["seeds"][0]
    decisions = result.get("decisions", [0] * len(result["returns"]))
    return {first + i: (float(r), int(d)) for i, (r, d) in enumerate(zip(result["returns"], decisions))}


def paired_comparison(base: dict, new: dict, agent: str) -> dict:
    """`agent`'s returns in `new` against `base` on the seeds both played.

    Returns the seeds compared, both means, the mean per-seed difference (new - base) with its
    standard error, how many seeds new won, lost or tied, and both mean episode lengths (decisions).
    """
    for name, report in (("base", base), ("new", new)):
        if agent not in report["agents"]:
            raise ReportError(f"the {name} report has no agent {agent!r} (it has {sorted(report['agents'])})")
    a, b = episode_returns(base, agent), episode_returns(new, agent)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ReportError(f"the reports share no seed: base played {min(a)}..{max(a)}, new {min(b)}..{max(b)}")
    base_returns, new_returns = (np.array([x[s][0] for s in seeds]) for x in (a, b))
    difference = new_returns - base_returns
    error = float(difference.std(ddof=1) / np.sqrt(len(seeds))) if len(seeds) > 1 else float("nan")
    return {
        "agent": agent, "episodes": len(seeds), "seeds": seeds,
        "base_mean": float(base_returns.mean()), "new_mean": float(new_returns.mean()),
        "difference": float(difference.mean()), "standard_error": error,
        "wins": int((difference > 0).sum()), "losses": int((difference < 0).sum()), "ties": int((difference == 0).sum()),
        "base_decisions": float(np.mean([a[s][1] for s in seeds])), "new_decisions": float(np.mean([b[s][1] for s in seeds])),
    }


def comparison_line(c: dict) -> str:
    """One readable line of a `paired_comparison`."""
    return (f"{c['agent']} over {c['episodes']} shared seeds: base {c['base_mean']:.2f}, new {c['new_mean']:.2f}, "
            f"new - base {c['difference']:+.2f} ± {c['standard_error']:.2f} (standard error); new won {c['wins']}, "
            f"lost {c['losses']}, tied {c['ties']}; decisions per episode {c['base_decisions']:.1f} -> {c['new_decisions']:.1f}")
