"""The interactive loops of `tv2tv play`: live imagination driven by keys and typed text, and replay of a saved rollout.

Both are driven by `tick()`, one displayed frame per call, reading pygame's event queue, so a
test can post key and text events and tick the loop headless (`SDL_VIDEODRIVER=dummy`).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from tv2tv_world.envs.action_text import idle_action
from tv2tv_world.play.key_map import key_bindings
from tv2tv_world.play.rollout_file import Rollout
from tv2tv_world.play.session import LogLine, PlaySession
from tv2tv_world.play.video_recorder import VideoRecorder
from tv2tv_world.play.window import PlayWindow, Screen

COMMON_HELP = ["h  help on/off", "t or Enter  type a text for the next step", "p  pause / resume",
               "n  one step (when paused)", "r  reset to a new real start", "f  free run: the model writes its text",
               "Esc or q  quit"]


class FpsMeter:
    """Frames per second over the last second of ticks."""

    def __init__(self):
        self.times: deque[float] = deque(maxlen=120)

    def tick(self) -> float:
        self.times.append(time.perf_counter())
        while len(self.times) > 2 and self.times[-1] - self.times[0] > 1.0:
            self.times.popleft()
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


class FramePacer:
    """Holds a loop to `fps` on average: frame k is due at start + k / fps.

    A frame that took long (the tick that runs the model) is made up by showing the next ones
    without waiting, up to `slack` seconds behind; beyond that the schedule restarts, so a
    machine too slow for real time runs as fast as it can instead of bursting later.
    """

    def __init__(self, fps: float, slack: float = 0.5):
        self.period, self.slack = 1.0 / fps, slack
        self.due = time.perf_counter()

    def wait(self) -> None:
        self.due += self.period
        now = time.perf_counter()
        if self.due > now:
            time.sleep(self.due - now)
        elif now - self.due > self.slack:
            self.due = now


class Player:
    """Live play: each tick shows the next frame of the current decision; when none is left, the next decision
    is taken from (in this order) typed text, the last movement key pressed, a key held down, the
    model itself in free run, or the game's idle action."""

    def __init__(self, session: PlaySession, window: PlayWindow, recorder: VideoRecorder | None = None,
                 free_run: bool = False, max_steps: int | None = None):
        import pygame

        self.pg, self.session, self.window, self.recorder = pygame, session, window, recorder
        self.bindings = key_bindings(session.action_texts)
        self.idle = idle_action(session.action_texts)
        self.free_run, self.max_steps = free_run, max_steps
        self.paused = self.help = self.quit = False
        self.single_step = False
        self.typing: str | None = None
        self.pending_text: str | None = None
        self.pending_action: int | None = None
        self.queue: deque[tuple[np.ndarray, np.ndarray | None, float | None]] = deque()
        self._enqueue([session.frame])  # the start frame is shown (and recorded) first
        self.shown = self.queue[0]
        self.fps = 0.0
        self._meter = FpsMeter()
        pygame.key.start_text_input()

    @property
    def help_lines(self) -> list[str]:
        keys = {}
        for key, action in self.bindings.items():
            keys.setdefault(action, []).append(key)
        moves = [f"{' / '.join(k)}  {self.session.action_texts[a]}" for a, k in keys.items()]
        return moves + [f"no key  {self.session.action_texts[self.idle]}"] + COMMON_HELP

    def run(self) -> float:
        """Play until quit (or max_steps); the frames per second achieved over the whole run."""
        pacer, began, shown = FramePacer(self.session.rollout.fps), time.perf_counter(), len(self.session.frames)
        while self.tick():
            pacer.wait()
        return (len(self.session.frames) - shown) / max(time.perf_counter() - began, 1e-9)

    def tick(self) -> bool:
        """Handle events, take a decision if due, show one frame; False once the player quits or max_steps is done."""
        for event in self.pg.event.get():
            self.handle(event)
        finished = self.max_steps is not None and self.session.steps >= self.max_steps
        if not self.queue and not finished and self.typing is None and (not self.paused or self.single_step):
            self.single_step = False
            self._decide()
        shown_new = bool(self.queue)
        if self.queue:
            self.shown = self.queue.popleft()
        self.fps = self._meter.tick() if shown_new else self.fps
        self._draw()
        if shown_new and self.recorder is not None:
            self.recorder.add(self.window.pixels())
        return not self.quit and not (finished and not self.queue)

    def handle(self, event) -> None:
        pg = self.pg
        if event.type == pg.QUIT:
            self.quit = True
        elif event.type == pg.TEXTINPUT and self.typing is not None:
            self.typing += event.text
        elif event.type == pg.KEYDOWN and self.typing is not None:
            if event.key == pg.K_RETURN:
                self.pending_text, self.typing = self.typing.strip() or None, None
            elif event.key == pg.K_ESCAPE:
                self.typing = None
            elif event.key == pg.K_BACKSPACE:
                self.typing = self.typing[:-1]
        elif event.type == pg.KEYDOWN:
            name = pg.key.name(event.key)
            if name in ("escape", "q"):
                self.quit = True
            elif name in ("t", "return"):
                self.typing = ""
            elif name == "h":
                self.help = not self.help
            elif name == "p":
                self.paused = not self.paused
            elif name == "n":
                self.single_step = True
            elif name == "f":
                self.free_run = not self.free_run
            elif name == "r":
                self.queue.clear()
                self._enqueue(self.session.reset())
            elif name in self.bindings:
                self.pending_action = self.bindings[name]

    # ---- internals --------------------------------------------------------------------------
    def _decide(self) -> None:
        text, action = self.pending_text, self.pending_action
        if text is None and action is None:
            held = self.pg.key.get_pressed()
            action = next((a for k, a in self.bindings.items() if held[self.pg.key.key_code(k)]), None)
        if text is None and action is None and not self.free_run:
            action = self.idle
        self.pending_text = self.pending_action = None
        self._enqueue(self.session.step(text=text, action=action))

    def _enqueue(self, frames: list[np.ndarray]) -> None:
        """Queue the newest len(frames) frames of both worlds with their PSNR."""
        s, n = self.session, len(frames)
        real = s.real_frames[-n:] if s.real is not None else [None] * n
        scores = s.psnr[-n:] if s.real is not None else [None] * n
        self.queue.extend(zip(frames, real, scores))

    def _draw(self) -> None:
        mode = "free run" if self.free_run else "keys"
        state = "paused (n: step)" if self.paused else f"{self.fps:4.1f} fps"
        status = f"step {self.session.steps}   {state}   {mode}   h: help"
        frame, real, score = self.shown
        self.window.draw(Screen(frame=frame, real=real, psnr=score, log=self.session.log, status=status,
                                text_box=self.typing, help_lines=self.help_lines if self.help else None))


class ReplayPlayer:
    """Plays a saved rollout: left/right seek one second (one frame when paused), up/down or +/- change
    speed, p or space pause, Home restart, Esc or q quit."""

    SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

    def __init__(self, rollout: Rollout, window: PlayWindow, recorder: VideoRecorder | None = None):
        import pygame

        self.pg, self.rollout, self.window, self.recorder = pygame, rollout, window, recorder
        self.position, self.speed = 0.0, 2
        self.paused = self.quit = self.help = False
        log = rollout.meta.get("log", [])
        self.log = [LogLine(int(s), str(src), str(t), float(r)) for s, src, t, r in log]
        self.psnr = rollout.meta.get("psnr")

    def run(self) -> None:
        pacer = FramePacer(self.rollout.fps)
        while self.tick():
            pacer.wait()

    def tick(self) -> bool:
        """Show the frame at the current position, then move on by the speed; False at the end or on quit."""
        for event in self.pg.event.get():
            self.handle(event)
        index = min(int(self.position), len(self.rollout.frames) - 1)
        step = self.rollout.frame_steps[index]
        real = self.rollout.real[index] if self.rollout.real is not None else None
        score = self.psnr[index] if self.psnr and real is not None and index < len(self.psnr) else None
        status = (f"replay  frame {index + 1}/{len(self.rollout.frames)}  step {step}  "
                  f"x{self.SPEEDS[self.speed]:g}{'  paused' if self.paused else ''}   h: help")
        lines = ["left / right  seek", "up / down  speed", "p or space  pause", "Home  restart", "Esc or q  quit"]
        self.window.draw(Screen(frame=self.rollout.frames[index], real=real, psnr=score,
                                log=[line for line in self.log if line.step <= step], status=status,
                                help_lines=lines if self.help else None))
        if self.recorder is not None and not self.paused:
            self.recorder.add(self.window.pixels())
        if not self.paused:
            self.position += self.SPEEDS[self.speed]
        return not self.quit and self.position < len(self.rollout.frames)

    def handle(self, event) -> None:
        pg = self.pg
        if event.type == pg.QUIT:
            self.quit = True
        elif event.type == pg.KEYDOWN:
            name = pg.key.name(event.key)
            jump = 1 if self.paused else self.rollout.fps
            if name in ("escape", "q"):
                self.quit = True
            elif name in ("p", "space"):
                self.paused = not self.paused
            elif name == "h":
                self.help = not self.help
            elif name == "right":
                self.position = min(self.position + jump, len(self.rollout.frames) - 1)
            elif name == "left":
                self.position = max(self.position - jump, 0)
            elif name in ("up", "+", "=", "[+]"):
                self.speed = min(self.speed + 1, len(self.SPEEDS) - 1)
            elif name in ("down", "-", "[-]"):
                self.speed = max(self.speed - 1, 0)
            elif name == "home":
                self.position = 0.0
