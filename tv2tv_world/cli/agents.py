"""`tv2tv agent` and `train-ac`: agents that plan or learn in imagination, scored in the real game."""

from __future__ import annotations

import argparse
from pathlib import Path

from tv2tv_world.cli.runtime import add_device, add_sampling, add_threads, check_game, torch_threads
from tv2tv_world.dataset.format import DatasetError


def _agent(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    from torch.utils.tensorboard import SummaryWriter

    from tv2tv_world.agents.cem_planner import PlannerConfig
    from tv2tv_world.agents.make_agent import AgentSettings, make_agent
    from tv2tv_world.agents.plan_audit import PlanAudit
    from tv2tv_world.dataset.agent_recording import AgentRecording
    from tv2tv_world.envs.imagination import make_real_env
    from tv2tv_world.evaluation.agent_scores import play_episodes, write_agent_report
    from tv2tv_world.evaluation.optional_number import optional_number
    from tv2tv_world.world_model.loading import load_world_model

    if args.audit and args.agent != "mpc":
        raise SystemExit("--audit checks the plans that `mpc` scores in imagination; use it with --agent mpc")
    torch_threads(args.threads)
    loaded = load_world_model(args.checkpoint, args.device)
    check_game(loaded, args.env)
    planner = PlannerConfig(horizon=args.horizon, candidates=args.candidates, iterations=args.iterations,
                            elites=min(args.elites, args.candidates), select=args.select)
    settings = AgentSettings(planner=planner, flow_steps=args.flow_steps, guidance=args.guidance, policy=args.policy,
                             audit=args.audit, end_penalty=args.end_penalty, noise_draws=args.noise_draws)
    names = [args.agent] + [b for b in args.baselines if b != args.agent]
    out = Path(args.out)
    writer = SummaryWriter(str(out.with_suffix("")) + "_tb")
    report = {"env_id": loaded.game["env_id"], "checkpoint": str(args.checkpoint), "seed": args.seed,
              "episodes": args.episodes, "max_decisions": args.max_decisions, "planner": asdict(planner),
              "flow_steps": args.flow_steps, "guidance": args.guidance, "end_penalty": args.end_penalty,
              "noise_draws": args.noise_draws, "agents": {}, "complete": False}

    def episode_done(name: str, so_far: dict) -> None:  # the report on disk always holds every finished episode
        report["agents"][name] = so_far
        write_agent_report(report, out)
        print(f"{name:12s} episode {so_far['episodes']}/{args.episodes} (seed {so_far['seeds'][1]}): return "
              f"{so_far['returns'][-1]:g} in {so_far['decisions'][-1]} decisions", flush=True)

    for name in names:
        env = make_real_env(loaded)
        agent = make_agent(name, loaded, env, settings)
        recording = (AgentRecording(args.record, env, loaded.game, name, args.seed, args.episodes)
                     if args.record and name == args.agent else None)
        report["agents"][name] = result = play_episodes(agent, env, args.episodes, args.seed, args.max_decisions,
                                                        writer, tag=name, recording=recording,
                                                        on_episode=lambda so_far, name=name: episode_done(name, so_far))
        print(f"{name:12s} return {result['mean']:7.2f} ± {result['std']:.2f} over {args.episodes} episodes "
              f"({result['seconds']:.0f} s, {result['seconds_per_decision']:.3f} s per decision)", flush=True)
        if isinstance(getattr(agent, "returns", None), PlanAudit):
            result["plan_audit"] = audit = agent.returns.summary()
            r = audit["return_correlation"]
            print(f"{'':12s} plan audit: imagined vs real return r = {optional_number(r)}, regret "
                  f"{audit['regret']:.3f} (random plan {audit['random_regret']:.3f})", flush=True)
            for key in ("return_correlation", "regret", "random_regret"):
                if audit[key] is not None:
                    writer.add_scalar(f"{name}/audit/{key}", audit[key])
        env.close()
    writer.close()
    report["complete"] = True
    paths = write_agent_report(report, out)
    print("wrote " + ", ".join(str(p) for p in paths))


def _train_ac(args: argparse.Namespace) -> None:
    from dataclasses import asdict

    import numpy as np

    from tv2tv_world.agents.actor_critic import save_actor_critic
    from tv2tv_world.agents.imagined_ac import train_imagined_ac
    from tv2tv_world.agents.imagined_ac_config import ImaginedACConfig
    from tv2tv_world.dataset.format import Manifest
    from tv2tv_world.dataset.latent_file import LATENTS_FILE, load_latents
    from tv2tv_world.tokenizer.latents import vae_fingerprint
    from tv2tv_world.world_model.loading import load_world_model

    torch_threads(args.threads)
    loaded = load_world_model(args.checkpoint)
    starts = []
    for data in args.data:
        manifest = Manifest.load(data)
        latents, fingerprint = load_latents(Path(data) / LATENTS_FILE, [e["file"] for e in manifest.episodes])
        if fingerprint != vae_fingerprint(loaded.vae):
            raise DatasetError(f"{data}/{LATENTS_FILE} was encoded by another tokenizer than {args.checkpoint}'s; "
                               f"re-run `tv2tv encode --checkpoint {args.checkpoint} --data {data}`")
        starts += latents
    config = ImaginedACConfig(iterations=args.iterations, num_envs=args.num_envs, horizon=args.horizon,
                              end_penalty=args.end_penalty, flow_steps=args.flow_steps, guidance=args.guidance,
                              epochs=args.epochs, entropy=args.entropy, seed=args.seed, real_every=args.real_every,
                              real_episodes=args.real_episodes)
    net = train_imagined_ac(loaded, np.concatenate(starts).astype(np.float32), config,
                            log_dir=Path(args.out).with_suffix("").as_posix() + "_tb", progress=not args.quiet)
    path = save_actor_critic(net, args.out, {"world_model": str(args.checkpoint), "vae_fingerprint": fingerprint,
                                             "data": list(args.data), "config": asdict(config)})
    print(f"policy written to {path}")


def _compare_agents(args: argparse.Namespace) -> None:
    from tv2tv_world.evaluation.agent_comparison import comparison_line, episode_returns, load_agent_report, paired_comparison
    from tv2tv_world.storage.atomic_file import write_json

    base, new = [load_agent_report(p) for p in args.base], [load_agent_report(p) for p in args.new]
    agents = args.agent or [name for name in new[0]["agents"] if all(name in r["agents"] for r in base + new)]
    if not agents:
        raise SystemExit("the base and new reports have no agent in common")
    comparisons = [paired_comparison(episode_returns(base, name, "a base"), episode_returns(new, name, "a new"), name)
                   for name in agents]
    for c in comparisons:
        print(comparison_line(c))
    if args.out:
        print(f"wrote {write_json(args.out, {'base': args.base, 'new': args.new, 'agents': comparisons})}")


def _add_agent(commands) -> None:
    from tv2tv_world.agents.cem_planner import SELECTIONS
    from tv2tv_world.agents.real_game_agent import AGENT_NAMES

    agent = commands.add_parser(
        "agent", help="run an agent in the real game, next to the random agent and the oracle planner",
        description="Play EPISODES real games (seeds SEED..) with each agent; print and save mean and std of return "
                    "(OUT.json, OUT.md, TensorBoard in OUT_tb).",
    )
    agent.add_argument("--agent", choices=AGENT_NAMES, required=True)
    agent.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    agent.add_argument("--env", default=None, help="the real game id (default: the checkpoint's game; must match it)")
    agent.add_argument("--episodes", type=int, default=10)
    agent.add_argument("--seed", type=int, default=10_000, help="episode i uses seed SEED+i (default: 10000, unseen in data)")
    agent.add_argument("--max-decisions", type=int, default=None, help="cut episodes after this many decisions")
    agent.add_argument("--baselines", nargs="*", default=["random", "oracle"], choices=AGENT_NAMES,
                       help="agents run alongside on the same seeds (default: random oracle)")
    agent.add_argument("--out", default="reports/agents.json", help="report path (default: reports/agents.json)")
    agent.add_argument("--horizon", type=int, default=4, help="planning horizon in decisions (default: 4)")
    agent.add_argument("--candidates", type=int, default=32, help="plans per iteration = imagined envs (default: 32)")
    agent.add_argument("--iterations", type=int, default=1, help="CEM iterations; 1 = random shooting (default: 1)")
    agent.add_argument("--elites", type=int, default=8, help="CEM elites (default: 8)")
    agent.add_argument("--select", choices=SELECTIONS, default="plan",
                       help="plan: play the best-scoring plan; first_action: the first action whose plans score best "
                            "on average (default: plan)")
    agent.add_argument("--noise-draws", type=int, default=1,
                       help="mpc: imaginations per plan, their scores averaged (default: 1)")
    add_sampling(agent, flow_steps=4)
    agent.add_argument("--policy", default=None, help="imagined_ac: policy file from tv2tv train-ac")
    agent.add_argument("--end-penalty", type=float, default=1.0,
                       help="mpc, text_prior: return a plan loses per episode end the model foresees, times its "
                            "probability (default: 1)")
    agent.add_argument("--audit", action="store_true",
                       help="mpc: also score every candidate plan in a copy of the real game and report how well "
                            "imagination ranked them (games that save their state; slower)")
    agent.add_argument("--record", default=None, metavar="DIR",
                       help="write the agent's real episodes (not the baselines') to DIR as a dataset, the format "
                            "tv2tv collect writes: to branch, encode and train on the states it visits")
    add_device(agent, "where the world model imagines")
    add_threads(agent)
    agent.set_defaults(run=_agent)


def _add_train_ac(commands) -> None:
    from tv2tv_world.agents.imagined_ac_config import ImaginedACConfig

    train_ac = commands.add_parser(
        "train-ac", help="train an actor-critic only in imagination (starts from a dataset's recorded latents)",
        description="Advantage actor-critic on imagined rollouts of the world model; writes the policy file OUT "
                    "and TensorBoard logs in OUT_tb.",
    )
    train_ac.add_argument("--checkpoint", required=True, help="a world-model checkpoint from tv2tv fit")
    train_ac.add_argument("--data", required=True, nargs="+",
                          help="dataset folders with latents.npz (tv2tv encode); their chunks are the imagined starts")
    train_ac.add_argument("--out", required=True, help="policy file to write, e.g. runs/imagined_ac.pt")
    train_ac.add_argument("--iterations", type=int, default=ImaginedACConfig.iterations,
                          help=f"imagined batches learnt from (default: {ImaginedACConfig.iterations})")
    train_ac.add_argument("--num-envs", type=int, default=ImaginedACConfig.num_envs,
                          help=f"imagined games per batch (default: {ImaginedACConfig.num_envs})")
    train_ac.add_argument("--horizon", type=int, default=ImaginedACConfig.horizon,
                          help=f"decisions per imagined rollout (default: {ImaginedACConfig.horizon})")
    train_ac.add_argument("--end-penalty", type=float, default=ImaginedACConfig.end_penalty,
                          help="reward lost per episode end the model foresees, times its probability "
                               f"(default: {ImaginedACConfig.end_penalty:g})")
    train_ac.add_argument("--epochs", type=int, default=ImaginedACConfig.epochs,
                          help=f"PPO epochs per imagined batch (default: {ImaginedACConfig.epochs})")
    train_ac.add_argument("--entropy", type=float, default=ImaginedACConfig.entropy,
                          help=f"entropy bonus (default: {ImaginedACConfig.entropy:g})")
    add_sampling(train_ac, flow_steps=ImaginedACConfig.flow_steps)
    train_ac.add_argument("--seed", type=int, default=0)
    train_ac.add_argument("--real-every", type=int, default=ImaginedACConfig.real_every,
                          help="every N iterations play --real-episodes real games (seeds 20000..) and log their "
                               "return as real/return; nothing is learnt from them (default: 0, never)")
    train_ac.add_argument("--real-episodes", type=int, default=ImaginedACConfig.real_episodes)
    add_threads(train_ac)
    train_ac.add_argument("--quiet", action="store_true", help="no progress bar")
    train_ac.set_defaults(run=_train_ac)


def _add_compare_agents(commands) -> None:
    compare = commands.add_parser(
        "compare-agents", help="two `tv2tv agent` reports, seed by seed",
        description="Compare two `tv2tv agent` reports on the seeds both played: per agent, the mean per-seed "
                    "difference of return (new - base) with its standard error, and wins / losses / ties. Games "
                    "differ far more than agents do, so a paired difference tells two agents or two world models "
                    "apart on fewer episodes than two means and their spreads.")
    compare.add_argument("--base", nargs="+", required=True,
                         help="the reference: JSON reports from `tv2tv agent --out` (several: pooled, e.g. halves of the seeds)")
    compare.add_argument("--new", nargs="+", required=True, help="the reports to compare against them")
    compare.add_argument("--agent", nargs="+", default=None, help="agents to compare (default: all in both)")
    compare.add_argument("--out", default=None, help="also write the comparison as JSON here")
    compare.set_defaults(run=_compare_agents)


# this family's verbs: `tv2tv_world.cli.main` lists them in the order a user meets them
VERBS = {
    "agent": _add_agent,
    "train-ac": _add_train_ac,
    "compare-agents": _add_compare_agents,
}
