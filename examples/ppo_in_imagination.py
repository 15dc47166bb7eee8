"""Stable-Baselines3's PPO trained only in imagination, then scored in the real game against random.

PPO never sees the real game while it learns: its environment is `tv2tv_world/Imagination-v0`,
the world model dreaming each decision's frames from the action PPO picks, with the model's
reward head as the reward. The policy reads the newest frame (64x64 RGB, SB3's CnnPolicy), the
same observation the real game gives, so it is then played as it is in the real game, seed by
seed against a random player on the same seeds.

    pip install 'tv2tv-world[examples]'      # or: pip install stable-baselines3
    python examples/ppo_in_imagination.py --checkpoint forage --steps 20000 --episodes 30
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.real_game_agent import PolicyAgent
from tv2tv_world.agents.registry import make_policy
from tv2tv_world.envs.imagination import make_real_env
from tv2tv_world.evaluation.agent_comparison import episode_returns, paired_comparison
from tv2tv_world.evaluation.agent_scores import play_episodes
from tv2tv_world.storage.atomic_file import write_json
from tv2tv_world.world_model.loading import load_world_model


class SB3Agent:
    """A trained SB3 model as the project's real-game `Agent`: the newest frame in, an action id out."""

    def __init__(self, model, deterministic: bool = False):
        self.model, self.deterministic = model, deterministic

    def reset(self, env: gym.Env, seed: int) -> None:
        self.model.set_random_seed(seed)

    def act(self, observation: np.ndarray, info: dict) -> int:
        action, _ = self.model.predict(observation, deterministic=self.deterministic)
        return int(action)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="forage", help="a world model: bundled name or checkpoint path")
    parser.add_argument("--steps", type=int, default=20_000, help="imagined decisions PPO learns from")
    parser.add_argument("--horizon", type=int, default=32, help="decisions per imagined episode (drift grows with it)")
    parser.add_argument("--flow-steps", type=int, default=4, help="Euler steps per imagined chunk")
    parser.add_argument("--episodes", type=int, default=30, help="real-game episodes per player (seeds seed..)")
    parser.add_argument("--max-decisions", type=int, default=None, help="cut each real episode after this many")
    parser.add_argument("--seed", type=int, default=1_000_000, help="first real-game seed (never a training seed)")
    parser.add_argument("--out", default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    try:
        from stable_baselines3 import PPO
    except ImportError as err:
        raise SystemExit("this example needs Stable-Baselines3: pip install 'tv2tv-world[examples]'") from err

    loaded = load_world_model(args.checkpoint)
    dream = gym.make("tv2tv_world/Imagination-v0", checkpoint=loaded, horizon=args.horizon, flow_steps=args.flow_steps)
    n_steps = min(256, args.steps)  # imagined decisions per PPO update
    model = PPO("CnnPolicy", dream, n_steps=n_steps, batch_size=min(64, n_steps), n_epochs=4, learning_rate=3e-4,
                ent_coef=0.01, seed=0, device="cpu", verbose=1)
    model.learn(total_timesteps=args.steps)
    dream.close()

    real = make_real_env(loaded)
    scores = {name: play_episodes(agent, real, args.episodes, args.seed, args.max_decisions)
              for name, agent in [("ppo_in_imagination", SB3Agent(model)),
                                  ("random", PolicyAgent(make_policy("random", real, seed=args.seed)))]}
    real.close()
    report = [{"agents": scores}]  # the shape of `tv2tv agent`'s reports
    c = paired_comparison(episode_returns(report, "random"), episode_returns(report, "ppo_in_imagination"),
                          "ppo_in_imagination")
    print(f"real game, {c['episodes']} paired seeds: PPO trained in imagination {c['new_mean']:.2f}, random "
          f"{c['base_mean']:.2f}; PPO - random {c['difference']:+.2f} +- {c['standard_error']:.2f} (standard error), "
          f"PPO won {c['wins']}, lost {c['losses']}, tied {c['ties']}")
    result = {"checkpoint": str(args.checkpoint), "imagined_steps": int(model.num_timesteps), "horizon": args.horizon,
              "flow_steps": args.flow_steps, "scores": scores, "against_random": c}
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
