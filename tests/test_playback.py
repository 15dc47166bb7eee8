"""`tv2tv play`, headless: scripted key and text events drive the loop; recording, saving and replay."""

from __future__ import annotations

import numpy as np
import pygame
import pytest

from tv2tv_world.cli.main import main
from tv2tv_world.envs.action_text import idle_action
from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
from tv2tv_world.play.key_map import key_bindings
from tv2tv_world.play.player import FramePacer, Player, ReplayPlayer
from tv2tv_world.play.rollout_file import Rollout, RolloutFileError
from tv2tv_world.play.session import PlaySession
from tv2tv_world.play.video_recorder import VideoRecorder
from tv2tv_world.play.window import PlayWindow
from tv2tv_world.world_model.loading import load_world_model


@pytest.fixture(scope="module")
def loaded(tiny_world_model):
    return load_world_model(tiny_world_model)


def _player(loaded, tmp_path, side_by_side=True, record="play.mp4"):
    env = ImaginationEnv(loaded, action_mode="text", flow_steps=1, termination_threshold=1.0)
    session = PlaySession(env, make_real_env(loaded) if side_by_side else None, seed=5)
    window = PlayWindow(64, scale=2, side_by_side=side_by_side)
    recorder = VideoRecorder(tmp_path / record, session.rollout.fps) if record else None
    return Player(session, window, recorder, max_steps=3)


def _key(name: str, **extra) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.key.key_code(name), **extra))


def _tick_until(player, steps: int) -> None:
    for _ in range(50):
        if player.session.steps >= steps and not player.queue:
            return
        player.tick()
    raise AssertionError(f"the loop did not reach step {steps}")


def test_keys_and_typed_text_drive_the_imagined_game_and_reach_the_hud(loaded, tmp_path):
    player = _player(loaded, tmp_path)
    pygame.event.clear()
    player.tick()  # shows the start frame
    start = player.window.last_screen.frame.copy()
    _key("right")
    _tick_until(player, 1)
    assert player.session.rollout.texts[-1] == "move right" and player.session.log[-1].source == "key"
    assert not np.array_equal(player.window.last_screen.frame, start)  # the frame changed after the action

    _key("t")
    pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text="go to the red fruit"))
    for _ in range(3):
        player.tick()
    assert player.session.steps == 1 and player.window.last_screen.text_box == "go to the red fruit"  # typing pauses
    _key("return")
    _tick_until(player, 2)
    assert player.session.rollout.texts[-1] == "go to the red fruit"
    assert any(line.source == "typed" and line.text == "go to the red fruit" for line in player.window.last_screen.log)
    assert player.session.rollout.actions[-1] == -1  # no game action by that name: the real game idles

    _key("h")
    player.tick()
    assert "t or Enter  type a text for the next step" in player.window.last_screen.help_lines
    while player.tick():
        pass
    assert player.session.steps == 3
    assert player.window.last_screen.real is not None and player.window.last_screen.psnr is not None


def test_recording_has_every_shown_frame_and_replay_reproduces_the_saved_frames(loaded, tmp_path):
    import imageio.v2 as imageio

    player = _player(loaded, tmp_path, record="play.gif")
    pygame.event.clear()
    while player.tick():
        pass
    rollout = player.session.to_rollout()
    assert len(rollout.frames) == 1 + 3 * 4 and rollout.real.shape == rollout.frames.shape
    assert player.recorder.close() == tmp_path / "play.gif"
    assert len(imageio.mimread(tmp_path / "play.gif")) == len(rollout.frames)

    path = rollout.save(tmp_path / "rollout.npz")
    again = Rollout.load(path)
    assert np.array_equal(again.frames, rollout.frames) and again.texts == rollout.texts
    replay = ReplayPlayer(again, PlayWindow(64, scale=2, side_by_side=True))
    replay.speed = replay.SPEEDS.index(1.0)
    shown = []
    while True:
        more = replay.tick()
        shown.append(replay.window.last_screen.frame)
        if not more:
            break
    assert np.array_equal(np.stack(shown), rollout.frames)

    replay.position, replay.paused = 0.0, False
    _key("p")
    _key("right")
    replay.tick()
    assert replay.paused and replay.position == 1.0  # paused: right steps one frame


def test_key_bindings_follow_the_action_words():
    forage = ("wait", "move up", "move down", "move left", "move right")
    assert key_bindings(forage) == {"up": 1, "w": 1, "down": 2, "s": 2, "left": 3, "a": 3, "right": 4, "d": 4}
    pong = ("do nothing", "fire", "move up", "move down", "move up and fire", "move down and fire")
    assert key_bindings(pong)["space"] == 1 and key_bindings(pong)["1"] == 4 and idle_action(pong) == 0


def test_bad_rollout_files_and_no_display_are_named_errors(tmp_path, tiny_world_model, capsys, monkeypatch):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(RolloutFileError, match="corrupt"):
        Rollout.load(tmp_path / "bad.npz")
    with pytest.raises(RolloutFileError, match="no such rollout"):
        Rollout.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="must end in one of"):
        VideoRecorder(tmp_path / "out.avi", 16)
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    with pytest.raises(SystemExit):
        main(["play", "--checkpoint", str(tiny_world_model)])
    assert "no display is available" in capsys.readouterr().err


def test_play_command_records_off_screen(tiny_world_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    main(["play", "--checkpoint", str(tiny_world_model), "--record", str(tmp_path / "p.mp4"), "--steps", "2",
          "--flow-steps", "1", "--side-by-side", "--save", str(tmp_path / "r.npz")])
    import imageio.v2 as imageio

    rollout = Rollout.load(tmp_path / "r.npz")
    assert imageio.get_reader(tmp_path / "p.mp4").count_frames() == len(rollout.frames)
    assert len(rollout.texts) == 2 and all(rollout.texts)  # off-screen play is a free run: the model wrote them


def test_frame_pacer_makes_up_for_a_slow_frame_and_gives_up_beyond_its_slack(monkeypatch):
    import tv2tv_world.play.player as player

    now, sleeps = [0.0], []

    def sleep(seconds):
        sleeps.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr(player.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(player.time, "sleep", sleep)
    pacer = FramePacer(fps=10, slack=0.5)  # a frame every 0.1 s
    pacer.wait()
    assert sleeps == [0.1]  # on time: waits for the next frame's slot
    now[0] += 0.25  # the model's tick: 0.15 s late
    pacer.wait()
    pacer.wait()
    assert sleeps == [0.1]  # the next frames come at once to catch up
    pacer.wait()
    assert sleeps == [0.1, 0.05]  # caught up at 0.4 s: back on the 0.1 s grid
    now[0] += 2.0  # far behind (a reset, a slow machine): start a new schedule, no burst
    pacer.wait()
    pacer.wait()
    assert sleeps == [0.1, 0.05, 0.1]
