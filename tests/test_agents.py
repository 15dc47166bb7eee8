"""Agents: the CEM planner, plan scoring in imagination and in the real game, the text prior, the
actor-critic learnt in imagination, and `tv2tv agent` / `tv2tv train-ac`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tv2tv_world.agents.actor_critic import load_actor_critic, save_actor_critic
from tv2tv_world.agents.cem_planner import CEMPlanner, PlannerConfig
from tv2tv_world.agents.imagined_ac import ImaginedACConfig, gae, train_imagined_ac
from tv2tv_world.agents.imagined_returns import ImaginedReturns
from tv2tv_world.agents.make_agent import AgentSettings, make_agent
from tv2tv_world.cli.main import main
from tv2tv_world.envs.action_text import action_of_text
from tv2tv_world.envs.imagination import make_real_env
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.evaluation.agent_scores import play_episodes
from tv2tv_world.storage.checkpoint import CheckpointError
from tv2tv_world.world_model.loading import load_world_model

SMALL_PLANNER = PlannerConfig(horizon=3, candidates=6, iterations=2, elites=2)


@pytest.fixture(scope="module")
def loaded(tiny_world_model):
    return load_world_model(tiny_world_model)


def test_cem_refits_towards_the_best_plans():
    target = np.array([2, 0, 3, 1])

    def returns(plans):  # how many steps match the target
        return (plans == target).sum(axis=1).astype(float)

    random_shooting = CEMPlanner(4, PlannerConfig(horizon=4, candidates=16, iterations=1, elites=4), seed=0)
    cem = CEMPlanner(4, PlannerConfig(horizon=4, candidates=16, iterations=6, elites=4), seed=0)
    assert returns(cem.plan(returns)[None])[0] == 4
    assert returns(cem.plan(returns)[None])[0] == 4  # the shifted previous plan is a candidate
    scores = [returns(CEMPlanner(4, random_shooting.config, seed=s).plan(returns)[None])[0] for s in range(10)]
    assert np.mean(scores) < 4  # one round of 16 random plans rarely finds all four steps
    with pytest.raises(ValueError, match="elites"):
        PlannerConfig(candidates=4, elites=8)


def test_first_action_selection_prefers_the_move_most_plans_favour_over_one_lucky_plan():
    # action 0: one plan scores 10, the rest -5; action 1: every plan scores 2
    plans = np.array([[0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2]])
    scores = np.array([10.0, -5.0, -5.0, 2.0, 2.0, 2.5])

    def returns(candidates):
        return np.array([scores[np.flatnonzero((plans == c).all(axis=1))[0]] for c in candidates])

    def planner(select):
        planner = CEMPlanner(4, PlannerConfig(horizon=2, candidates=6, iterations=1, elites=2, select=select), seed=0)
        planner._sample = lambda probabilities: plans.copy()  # score exactly these plans
        return planner

    assert planner("plan").plan(returns).tolist() == [0, 1]  # the single best score
    assert planner("first_action").plan(returns).tolist() == [1, 2]  # the best plan of the best first move
    with pytest.raises(ValueError, match="select must be one of"):
        PlannerConfig(select="best")


def test_gae_matches_a_hand_computation():
    rewards = torch.tensor([[1.0], [0.0]])
    values = torch.tensor([[0.5], [0.2]])
    continues = torch.tensor([[1.0], [0.5]])
    advantages = gae(rewards, values, continues, torch.tensor([1.0]), discount=0.9, lam=0.8)
    delta1 = 0.0 + 0.9 * 0.5 * 1.0 - 0.2
    delta0 = 1.0 + 0.9 * 1.0 * 0.2 - 0.5
    assert torch.allclose(advantages[:, 0], torch.tensor([delta0 + 0.9 * 0.8 * delta1, delta1]))


def test_vector_env_starts_from_given_frames_or_latents(loaded):
    envs = ImaginationVectorEnv(3, loaded, flow_steps=2)
    chunk = make_real_env(loaded).reset(seed=4)[0]
    observations, _ = envs.reset(seed=0, options={"frames": chunk})
    assert all(np.array_equal(o, chunk) for o in observations)
    starts = [make_real_env(loaded).reset(seed=s)[0] for s in range(3)]
    observations, _ = envs.reset(seed=0, options={"frames": starts})
    assert all(np.array_equal(o, s) for o, s in zip(observations, starts))
    latent_envs = ImaginationVectorEnv(3, loaded, flow_steps=2, observation="latent")
    z = np.random.default_rng(0).normal(size=(3, *latent_envs.single_observation_space.shape)).astype(np.float32)
    assert np.array_equal(latent_envs.reset(seed=0, options={"latents": z})[0], z)
    with pytest.raises(ValueError, match="start latents must have shape"):
        latent_envs.reset(options={"latents": z[:2]})
    with pytest.raises(ValueError, match="one of 'frames' or 'latents'"):
        envs.reset(options={"start": chunk})
    with pytest.raises(ValueError, match="2 start frames for 3 envs"):
        envs.reset(options={"frames": starts[:2]})


def test_imagined_returns_are_seeded_and_depend_on_the_actions(loaded):
    env = ImaginationVectorEnv(4, loaded, flow_steps=2, observation="latent", termination_threshold=1.0, shared_noise=True)
    returns = ImaginedReturns(env)
    frame = make_real_env(loaded).reset(seed=0)[0]
    returns.start(None, frame, seed=3)
    plans = np.array([[0, 0, 0], [1, 1, 1], [4, 3, 2], [0, 0, 0]])
    first, again = returns(plans), returns(plans)
    assert first.shape == (4,) and np.array_equal(first, again)
    assert first[0] == pytest.approx(first[3])  # same actions, shared noise: same return
    assert len(set(np.round(first[:3], 6))) > 1
    with pytest.raises(ValueError, match="observation='latent'"):
        ImaginedReturns(ImaginationVectorEnv(2, loaded, flow_steps=2))


def test_imagined_value_discounts_counts_rewards_while_alive_and_charges_foreseen_ends():
    from tv2tv_world.agents.imagined_returns import ImaginedValue

    value = ImaginedValue(2, discount=0.5, end_penalty=2.0)
    value.add(np.array([1.0, 0.0]), np.array([0.0, 0.5]))
    value.add(np.array([1.0, 1.0]), np.array([0.0, 0.0]))
    # game 0: 1 + 0.5 * 1; game 1: (0 - 2 * 0.5) + 0.5 * 0.5 (alive) * 1
    np.testing.assert_allclose(value.total, [1.5, -1.0 + 0.25])
    np.testing.assert_allclose(value.alive, [1.0, 0.5])


def test_noise_draws_average_the_scores_of_differently_seeded_imaginations(loaded):
    env = ImaginationVectorEnv(3, loaded, flow_steps=1, observation="latent", termination_threshold=1.0, shared_noise=True)
    frame = make_real_env(loaded).reset(seed=0)[0]
    plans = np.array([[0, 1], [2, 3], [4, 4]])

    def scores(seed, draws):
        returns = ImaginedReturns(env, noise_draws=draws)
        returns.start(None, frame, seed=seed)
        return returns(plans)

    one, other = scores(3, 1), scores(4, 1)
    assert not np.allclose(one, other)  # the noise matters
    np.testing.assert_allclose(scores(3, 2), (one + other) / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="noise_draws"):
        ImaginedReturns(env, noise_draws=0)


def test_end_penalty_lowers_imagined_returns_by_the_foreseen_ends(loaded):
    env = ImaginationVectorEnv(3, loaded, flow_steps=1, observation="latent", termination_threshold=1.0, shared_noise=True)
    frame = make_real_env(loaded).reset(seed=0)[0]
    plans = np.array([[0, 1], [2, 3], [4, 4]])
    scores = {}
    for penalty in (0.0, 1.0):
        returns = ImaginedReturns(env, end_penalty=penalty)
        returns.start(None, frame, seed=3)
        scores[penalty] = returns(plans)
    assert np.all(scores[1.0] < scores[0.0])  # every step has some end probability


def test_oracle_planner_beats_random_in_the_real_game(loaded):
    env = make_real_env(loaded)
    settings = AgentSettings(planner=PlannerConfig(horizon=4, candidates=32, iterations=2, elites=4))
    oracle = play_episodes(make_agent("oracle", loaded, env, settings), env, episodes=4, seed=100)
    random = play_episodes(make_agent("random", loaded, env, settings), env, episodes=4, seed=100)
    assert oracle["mean"] > random["mean"], (oracle["returns"], random["returns"])
    assert len(oracle["returns"]) == 4 and oracle["decisions"][0] >= 1


@pytest.mark.parametrize("name", ["mpc", "text_prior"])
def test_planners_in_imagination_play_valid_actions(loaded, name):
    env = make_real_env(loaded)
    agent = make_agent(name, loaded, env, AgentSettings(planner=SMALL_PLANNER))
    agent.reset(env, seed=0)
    observation, info = env.reset(seed=0)
    for _ in range(2):
        action = agent.act(observation, info)
        assert env.action_space.contains(action)
        observation, _, _, _, info = env.step(action)
    if name == "text_prior":
        assert len(agent.last_plans) == SMALL_PLANNER.candidates and len(agent.last_plans[0]) == SMALL_PLANNER.horizon


def test_action_of_text_reads_the_last_sentence():
    texts = ("wait", "move up", "move right")
    assert action_of_text("go to the red fruit. move right", texts) == 2
    assert action_of_text("move up", texts) == 1
    assert action_of_text("fly away", texts) is None


def test_clipped_policy_loss_is_the_policy_gradient_inside_the_clip_and_flat_beyond_it():
    from tv2tv_world.agents.imagined_ac import clipped_policy_loss

    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    old = torch.zeros(4)
    shift = torch.tensor([0.0, 0.0, 0.5, -0.5], requires_grad=True)  # ratios 1, 1, e^0.5, e^-0.5
    clipped_policy_loss(old + shift, old, advantages, clip=0.2).backward()
    # at ratio 1: d/dlogp of -A * ratio / n; beyond 1 + clip with A > 0 (or 1 - clip with A < 0): no pull
    torch.testing.assert_close(shift.grad, torch.tensor([-0.25, 0.25, 0.0, 0.0]))
    shift.grad = None
    clipped_policy_loss(old - shift, old, advantages, clip=0.2).backward()  # ratios e^-0.5 with A > 0: still pulled up
    assert shift.grad[2] > 0 and shift.grad[3] < 0


def test_actor_critic_learns_in_imagination_saves_loads_and_plays(loaded, tmp_path):
    cfg = loaded.vae.cfg
    starts = np.random.default_rng(0).normal(size=(10, cfg.latent_channels, cfg.latent_size, cfg.latent_size))
    starts = starts.astype(np.float32)
    before = ImaginedACConfig(iterations=0, num_envs=3, horizon=2, flow_steps=1)
    net = train_imagined_ac(loaded, starts, ImaginedACConfig(iterations=2, num_envs=3, horizon=2, flow_steps=1),
                            log_dir=tmp_path / "tb", progress=False)
    untrained = train_imagined_ac(loaded, starts, before, progress=False)
    assert any(not torch.equal(a, b) for a, b in zip(net.state_dict().values(), untrained.state_dict().values()))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))

    from tv2tv_world.tokenizer.latents import vae_fingerprint

    path = save_actor_critic(net, tmp_path / "ac.pt", {"vae_fingerprint": vae_fingerprint(loaded.vae)})
    again, meta = load_actor_critic(path)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    env = make_real_env(loaded)
    agent = make_agent("imagined_ac", loaded, env, AgentSettings(policy=path))
    result = play_episodes(agent, env, episodes=1, seed=0, max_decisions=3)
    assert result["decisions"][0] <= 3

    other = save_actor_critic(net, tmp_path / "other.pt", {"vae_fingerprint": "0" * 16})
    with pytest.raises(CheckpointError, match="another world model"):
        make_agent("imagined_ac", loaded, env, AgentSettings(policy=other))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_actor_critic(tmp_path / "missing.pt")


def test_agent_command_writes_a_report_next_to_baselines(tiny_world_model, tmp_path, capsys):
    out = tmp_path / "agents.json"
    main(["agent", "--agent", "mpc", "--checkpoint", str(tiny_world_model), "--episodes", "2", "--max-decisions", "2",
          "--candidates", "4", "--horizon", "2", "--elites", "2", "--flow-steps", "1", "--out", str(out), "--audit",
          "--select", "first_action", "--noise-draws", "2"])
    report = json.loads(out.read_text())
    assert report["planner"]["select"] == "first_action" and report["noise_draws"] == 2
    assert list(report["agents"]) == ["mpc", "random", "oracle"]
    assert all(len(r["returns"]) == 2 and max(r["decisions"]) <= 2 for r in report["agents"].values())
    assert report["agents"]["mpc"]["plan_audit"]["plans"] == 4 * sum(report["agents"]["mpc"]["decisions"])
    assert "plan_audit" not in report["agents"]["oracle"]
    markdown = out.with_suffix(".md").read_text()
    assert "| mpc |" in markdown and "## Plan audit" in markdown
    printed = capsys.readouterr().out
    assert "mpc" in printed and "plan audit" in printed
    assert "mpc          episode 2/2 (seed 10001)" in printed and "oracle       episode 1/2 (seed 10000)" in printed
    assert report["complete"] and "Partial" not in markdown
    assert list((tmp_path / "agents_tb").glob("events.out.tfevents.*"))


def test_a_stopped_agent_run_leaves_a_report_of_the_episodes_it_finished(tiny_world_model, tmp_path, monkeypatch):
    import tv2tv_world.agents.make_agent as agents

    def make_stopping_agent(name, loaded, env, settings):  # the oracle is stopped as its second episode starts
        agent = make_agent(name, loaded, env, settings)
        if name == "oracle":
            reset = agent.reset
            agent.reset = lambda env, seed: (_ for _ in ()).throw(KeyboardInterrupt) if seed == 11 else reset(env, seed)
        return agent

    monkeypatch.setattr(agents, "make_agent", make_stopping_agent)
    out = tmp_path / "agents.json"
    with pytest.raises(KeyboardInterrupt):
        main(["agent", "--agent", "random", "--checkpoint", str(tiny_world_model), "--episodes", "3", "--seed", "10",
              "--max-decisions", "2", "--baselines", "oracle", "--out", str(out)])
    report = json.loads(out.read_text())
    assert not report["complete"] and "**Partial**" in out.with_suffix(".md").read_text()
    assert report["agents"]["random"]["episodes"] == 3 and report["agents"]["random"]["seeds"] == [10, 12]
    oracle = report["agents"]["oracle"]
    assert oracle["episodes"] == 1 and oracle["seeds"] == [10, 10] and len(oracle["returns"]) == 1


def test_agent_command_records_the_agents_episodes_as_a_dataset_that_replays_and_branches(tiny_world_model, tmp_path,
                                                                                        capsys):
    from tv2tv_world.dataset.branches import branch_dataset, replayable_game
    from tv2tv_world.dataset.format import Manifest, read_episode

    data = tmp_path / "played"
    main(["agent", "--agent", "random", "--checkpoint", str(tiny_world_model), "--episodes", "3", "--max-decisions", "5",
          "--seed", "500", "--baselines", "--out", str(tmp_path / "a.json"), "--record", str(data)])
    report = json.loads((tmp_path / "a.json").read_text())["agents"]["random"]
    manifest = Manifest.load(data)
    assert manifest.policy == "random" and [e["seed"] for e in manifest.episodes] == [500, 501, 502]
    assert [e["decisions"] for e in manifest.episodes] == report["decisions"]
    assert [e["return"] for e in manifest.episodes] == pytest.approx(report["returns"])
    game = replayable_game(data, manifest)
    for entry in manifest.episodes:  # every frame, reward and end is the real game's, replayed from the seed
        episode = read_episode(data / entry["file"])
        frames = [game.reset(seed=entry["seed"])[0]]
        for t, action in enumerate(episode.actions):
            _, reward, terminated, _, info = game.step(int(action))
            frames.extend(info["frames"])
            assert reward == pytest.approx(episode.rewards[t]) and terminated == episode.terminated[t]
        np.testing.assert_array_equal(np.stack(frames), episode.frames)
        assert episode.terminated[-1] or (episode.truncated[-1] and entry["decisions"] == 5)  # cut: a time limit
    branches = branch_dataset(data, tmp_path / "branches", window=2, progress=False)
    assert len(branches.episodes) > 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["agent", "--agent", "random", "--checkpoint", str(tiny_world_model), "--episodes", "1", "--baselines",
              "--out", str(tmp_path / "b.json"), "--record", str(data)])
    assert "already holds a dataset" in capsys.readouterr().err


def test_agent_command_refuses_a_world_model_of_another_game(tiny_world_model, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["agent", "--agent", "mpc", "--checkpoint", str(tiny_world_model), "--env", "tv2tv_world/Breakout-v0",
              "--out", str(tmp_path / "a.json")])
    assert "is a world model of tv2tv_world/Forage-v0, not tv2tv_world/Breakout-v0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["agent", "--agent", "mpc", "--checkpoint", str(tiny_world_model), "--device", "gpu"])
    assert "argument --device: 'gpu' is not a torch device" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["encode", "--checkpoint", str(tiny_world_model), "--data", str(tmp_path), "--device", "cuda"])
        assert "'cuda': this torch has no CUDA device here" in capsys.readouterr().err


def test_train_ac_command_writes_a_policy(tiny_world_model, encoded, tiny_dataset, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    shutil.copy(encoded[1], data / "latents.npz")
    main(["train-ac", "--checkpoint", str(tiny_world_model), "--data", str(data), str(data),
          "--out", str(tmp_path / "ac.pt"), "--iterations", "2", "--num-envs", "2", "--horizon", "2",
          "--flow-steps", "1", "--end-penalty", "2", "--real-every", "1", "--real-episodes", "1", "--quiet"])
    net, meta = load_actor_critic(tmp_path / "ac.pt")
    assert meta["config"]["iterations"] == 2 and meta["world_model"] == str(tiny_world_model)
    assert meta["config"]["end_penalty"] == 2.0 and meta["data"] == [str(data)] * 2

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "ac_tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("real/return")] == [0, 1]  # real games watched each iteration


def test_encode_takes_a_world_models_tokenizer_so_train_ac_accepts_its_latents(tiny_world_model, tiny_dataset, tmp_path):
    import shutil

    from tv2tv_world.dataset.latent_file import LATENTS_FILE, load_latents
    from tv2tv_world.tokenizer.latents import vae_fingerprint
    from tv2tv_world.world_model.loading import load_world_model

    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / LATENTS_FILE).unlink(missing_ok=True)
    main(["encode", "--checkpoint", str(tiny_world_model), "--data", str(data), "--quiet"])
    files = [e["file"] for e in json.loads((data / "manifest.json").read_text())["episodes"]]
    _, fingerprint = load_latents(data / LATENTS_FILE, files)
    assert fingerprint == vae_fingerprint(load_world_model(tiny_world_model).vae)
    main(["train-ac", "--checkpoint", str(tiny_world_model), "--data", str(data), "--out", str(tmp_path / "ac.pt"),
          "--iterations", "1", "--num-envs", "2", "--horizon", "2", "--flow-steps", "1", "--quiet"])
    assert (tmp_path / "ac.pt").is_file()


def test_plan_audit_scores_the_same_plans_in_the_real_game_without_changing_the_play(loaded):
    from tv2tv_world.agents.plan_audit import PlanAudit

    def play(audit: bool):
        env = make_real_env(loaded)
        agent = make_agent("mpc", loaded, env, AgentSettings(planner=SMALL_PLANNER, flow_steps=1, audit=audit))
        agent.reset(env, seed=0)
        observation, info = env.reset(seed=0)
        actions = []
        for _ in range(3):
            actions.append(agent.act(observation, info))
            observation, _, _, _, info = env.step(actions[-1])
        return actions, agent.returns

    actions, _ = play(False)
    audited_actions, audit = play(True)
    assert audited_actions == actions and isinstance(audit, PlanAudit)
    summary = audit.summary()
    assert summary["batches"] == 3 * SMALL_PLANNER.iterations and summary["plans"] == summary["batches"] * 6
    assert summary["regret"] == pytest.approx(np.mean([r.max() - r[np.argmax(i)] for i, r in audit.batches]))
    assert 0.0 <= summary["regret"] <= max(r.max() - r.min() for _, r in audit.batches)
    assert sum(o["plans"] for o in summary["imagined_by_outcome"].values()) == summary["plans"]
    # the real column is the real game's own score of the same plans; the planner gets the imagined one
    oracle = make_agent("oracle", loaded, make_real_env(loaded), AgentSettings(planner=SMALL_PLANNER)).returns
    env = make_real_env(loaded)
    frame = env.reset(seed=0)[0]
    oracle.start(env, frame, seed=0)
    audit.start(env, frame, seed=1)
    plans = np.random.default_rng(0).integers(0, 5, (SMALL_PLANNER.candidates, SMALL_PLANNER.horizon))
    scored = audit(plans)
    assert np.array_equal(audit.batches[-1][1], oracle(plans))
    assert np.array_equal(scored, audit.imagined(plans))


def test_audit_is_refused_for_agents_that_score_no_plans(tiny_world_model, tmp_path):
    with pytest.raises(SystemExit, match="use it with --agent mpc"):
        main(["agent", "--agent", "random", "--checkpoint", str(tiny_world_model), "--audit", "--out", str(tmp_path / "a.json")])
