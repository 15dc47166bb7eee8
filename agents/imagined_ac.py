"""An actor-critic that learns only in imagination (as DIAMOND and Dreamer do), then plays the real game.

Training: batches of imagined rollouts start from recorded latents of the training data,
the policy picks each decision, the world model's heads give reward and the probability
that the game goes on, and each end the model foresees costs `end_penalty` times its
probability, as the planners count it. An actor-critic learns from those rollouts: GAE
advantages and PPO's clipped objective over a few epochs per batch (imagining costs far
more than learning). No real-game step is taken while learning; with `real_every`, real
games only watch it (their return goes to TensorBoard as `real/return`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import Categorical
from torch.utils.tensorboard import SummaryWriter

from tv2tv_world.agents.actor_critic import ActorCritic
from tv2tv_world.agents.imagined_ac_config import ImaginedACConfig
from tv2tv_world.agents.imagined_returns import penalised_reward
from tv2tv_world.agents.real_game_agent import latest_frames
from tv2tv_world.envs.imagination import anchor_chunk, make_real_env
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.evaluation.agent_scores import play_episodes
from tv2tv_world.world_model.loading import LoadedWorldModel


REAL_CHECK_SEED = 20_000  # real games that only watch training (never learnt from) use seeds from here


def gae(rewards: torch.Tensor, values: torch.Tensor, continues: torch.Tensor, last_value: torch.Tensor,
        discount: float, lam: float) -> torch.Tensor:
    """Generalised advantage estimates; rewards, values, continues (T, b), last_value (b,) -> (T, b)."""
    advantages, running = torch.zeros_like(rewards), torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + discount * continues[t] * next_value - values[t]
        running = delta + discount * lam * continues[t] * running
        advantages[t], next_value = running, values[t]
    return advantages


def clipped_policy_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                        clip: float) -> torch.Tensor:
    """PPO's clipped surrogate, all (n,): a sample stops pulling once its probability ratio left [1 - clip, 1 + clip]
    in the direction its advantage favours; at ratio 1 its gradient is the plain policy gradient's."""
    ratio = (log_prob - old_log_prob).exp()
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()


@dataclass
class ImaginedBatch:
    """One batch of imagined rollouts: T decisions of b games."""

    states: torch.Tensor  # (T b, c, h, w) latents the policy saw
    actions: torch.Tensor  # (T b,)
    rewards: torch.Tensor  # (T, b) predicted reward less the end penalty
    continues: torch.Tensor  # (T, b) probability that the game went on
    last: torch.Tensor  # (b, c, h, w) latents after the last decision


def imagine(env: ImaginationVectorEnv, net: ActorCritic, starts: np.ndarray, rng: np.random.Generator,
            config: ImaginedACConfig) -> ImaginedBatch:
    """Roll the policy out for `config.horizon` decisions from random `starts` (N, c, h, w)."""
    observation, _ = env.reset(seed=int(rng.integers(2**31)),
                               options={"latents": starts[rng.integers(len(starts), size=env.num_envs)]})
    states, actions, rewards, continues = [], [], [], []
    for _ in range(config.horizon):
        latents = torch.from_numpy(observation)
        with torch.no_grad():
            action = Categorical(logits=net(latents)[0]).sample()
        observation, reward, _, _, info = env.step(action.numpy())
        end = torch.as_tensor(info["termination_probability"], dtype=torch.float32)
        states.append(latents)
        actions.append(action)
        rewards.append(penalised_reward(torch.as_tensor(reward, dtype=torch.float32), end, config.end_penalty))
        continues.append(1.0 - end)
    return ImaginedBatch(torch.cat(states), torch.cat(actions), torch.stack(rewards), torch.stack(continues),
                         torch.from_numpy(observation))


def learn(net: ActorCritic, optimizer: torch.optim.Optimizer, batch: ImaginedBatch, config: ImaginedACConfig) -> dict:
    """`config.epochs` PPO epochs on one imagined batch (advantages by GAE, once); the last epoch's losses."""
    horizon, b = batch.rewards.shape
    with torch.no_grad():
        logits, values = net(batch.states)
        old_log_prob = Categorical(logits=logits).log_prob(batch.actions)
        values = values.view(horizon, b)
        advantages = gae(batch.rewards, values, batch.continues, net(batch.last)[1], config.discount, config.gae_lambda)
        targets = (advantages + values).flatten()
        advantages = advantages.flatten()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    for _ in range(config.epochs):
        logits, values = net(batch.states)
        dist = Categorical(logits=logits)
        policy_loss = clipped_policy_loss(dist.log_prob(batch.actions), old_log_prob, advantages, config.clip)
        value_loss = 0.5 * (values - targets).pow(2).mean()
        entropy = dist.entropy().mean()
        optimizer.zero_grad()
        (policy_loss + value_loss - config.entropy * entropy).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
    return {"loss/policy": policy_loss.item(), "loss/value": value_loss.item(), "policy/entropy": entropy.item(),
            "imagined/return": float(batch.rewards.sum(0).mean())}


def train_imagined_ac(loaded: LoadedWorldModel, starts: np.ndarray, config: ImaginedACConfig,
                      log_dir: str | Path | None = None, progress: bool = True) -> ActorCritic:
    """Learn a policy on imagined rollouts from `starts`, (N, c, h, w) recorded chunk latents."""
    env = ImaginationVectorEnv(config.num_envs, loaded, observation="latent", termination_threshold=1.0,
                               flow_steps=config.flow_steps, guidance=config.guidance, horizon=10**9)
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    net = ActorCritic(env.single_observation_space.shape, int(env.single_action_space.n))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    writer = SummaryWriter(str(log_dir)) if log_dir is not None else None
    real_env = make_real_env(loaded) if writer is not None and config.real_every else None
    iterations = range(config.iterations)
    if progress:
        from tqdm import tqdm

        iterations = tqdm(iterations, desc="imagined actor-critic", unit="it")
    for it in iterations:
        logs = learn(net, optimizer, imagine(env, net, starts, rng, config), config)
        if writer is not None:
            for tag, value in logs.items():
                writer.add_scalar(tag, value, it)
            if config.real_every and (it + 1) % config.real_every == 0:
                real = play_episodes(ImaginedACAgent(net, loaded), real_env, config.real_episodes, REAL_CHECK_SEED)
                writer.add_scalar("real/return", real["mean"], it)
    if writer is not None:
        writer.close()
    if real_env is not None:
        real_env.close()
    env.close()
    return net.eval()


class ImaginedACAgent:
    """Plays the real game with a policy learnt in imagination: encode the newest chunk, sample an action."""

    def __init__(self, net: ActorCritic, loaded: LoadedWorldModel):
        self.net, self.vae = net, loaded.vae
        self.rng = torch.Generator()

    def reset(self, env: gym.Env, seed: int) -> None:
        self.rng.manual_seed(seed)

    @torch.no_grad()
    def act(self, observation: np.ndarray, info: dict) -> int:
        cfg = self.vae.cfg
        chunk = anchor_chunk(latest_frames(observation, info), cfg.frame_size, cfg.temporal_compression)
        latents = self.vae.encode(chunk.to(next(self.vae.parameters()).device)).cpu()  # the policy runs on the CPU
        probabilities = torch.softmax(self.net(latents)[0], dim=-1)
        return int(torch.multinomial(probabilities, 1, generator=self.rng))
