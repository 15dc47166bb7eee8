"""Forage: the built-in top-down arena game that a 2-core CPU world model can learn."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tv2tv_world.envs.human_window import HumanWindow

WORLD = 64  # game logic runs on a 64x64 unit grid whatever the render size
WALL = 2
PLAYER_SIZE, PLAYER_SPEED = 6, 2
FRUIT_SIZE = 4
HAZARD_SIZE = 6

BACKGROUND = (24, 24, 36)
WALL_COLOUR = (120, 120, 130)
PLAYER_COLOUR = (245, 245, 245)
HAZARD_COLOUR = (200, 60, 220)
FRUIT_COLOURS = {
    "red": (235, 50, 45),
    "green": (60, 205, 70),
    "blue": (50, 120, 245),
    "yellow": (245, 215, 40),
    "orange": (250, 140, 30),
    "cyan": (40, 220, 220),
}

ACTION_TEXTS = ("wait", "move up", "move down", "move left", "move right")
ACTION_DELTAS = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))  # (dx, dy) per action, y grows downwards


@dataclass
class ForageState:
    """Everything that decides Forage's future; positions are top-left corners in world units."""

    player: np.ndarray  # (2,) int64, x y
    fruits: np.ndarray  # (n_fruits, 2) int64, x y; fruit i has colour fruit_names[i]
    hazards: np.ndarray  # (n_hazards, 4) int64, x y vx vy
    steps: int = 0
    done: bool = False
    rng: dict = field(default_factory=dict)  # numpy bit generator state


class ForageEnv(gym.Env):
    """Collect fruits, dodge hazards.

    ## Description
    A walled arena seen from above. The white player square collects fruits of several
    colours (one fruit per colour is on the field at any time); purple hazards fly in straight
    lines at constant speed and bounce off the walls, so their future is fully predictable
    from two frames. The only randomness after reset is where a collected fruit reappears.
    With one fruit of each colour, *which* fruit the player heads for is a real choice, which
    is what the text plan ("go to the red fruit") describes.

    ## Action space
    `Discrete(5)`: 0 wait, 1 move up, 2 move down, 3 move left, 4 move right. The text of
    each action is in `ACTION_TEXTS` (also `env.unwrapped.action_texts`). The player moves
    2 units per step (64 units span the arena).

    ## Observation space
    `Box(0, 255, (size, size, 3), uint8)`: the RGB frame, as `render()` returns it.

    ## Rewards
    +1 for every fruit collected, -1 when the player touches a hazard.

    ## Starting state
    Player in the centre; fruits at random free places; hazards at random places at least
    20 units from the player, each moving diagonally at 1 unit per step in a random direction.

    ## Episode end
    Terminated when the player touches a hazard. Truncated after `max_steps` steps.

    ## Arguments
    - `size`: frame height and width in pixels (default 64; any size >= 16).
    - `n_fruits`: number of fruit colours on the field, 1 to 6 (default 4).
    - `n_hazards`: number of hazards, 0 to 4 (default 2).
    - `max_steps`: steps before truncation (default 512).
    - `render_mode`: `"rgb_array"` or `"human"` (a pygame window).

    The full game state can be saved and restored with `get_state()` / `set_state()`, so a
    planner can use the real game as an oracle. The rules do not change when the arena is
    mirrored or transposed (with the moves mirrored too: `action_deltas`), which is how
    `tv2tv fit-end-head --symmetries` gets up to 8 training states from each one replayed.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 16}
    action_texts = ACTION_TEXTS
    action_deltas = ACTION_DELTAS
    square_symmetric = True  # mirrored or transposed, a state plays as the mirrored game (`square_symmetry`)

    def __init__(
        self,
        size: int = 64,
        n_fruits: int = 4,
        n_hazards: int = 2,
        max_steps: int = 512,
        render_mode: str | None = None,
    ):
        if not isinstance(size, int) or size < 16:
            raise ValueError(f"size must be an int >= 16, got {size!r}")
        if not 1 <= n_fruits <= len(FRUIT_COLOURS):
            raise ValueError(f"n_fruits must be in [1, {len(FRUIT_COLOURS)}], got {n_fruits!r}")
        if not 0 <= n_hazards <= 4:
            raise ValueError(f"n_hazards must be in [0, 4], got {n_hazards!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.size, self.n_fruits, self.n_hazards, self.max_steps = size, n_fruits, n_hazards, max_steps
        self.render_mode = render_mode
        self.fruit_names = tuple(FRUIT_COLOURS)[:n_fruits]
        self.action_space = spaces.Discrete(len(ACTION_TEXTS))
        self.observation_space = spaces.Box(0, 255, (size, size, 3), np.uint8)
        self._state: ForageState | None = None
        self._window: HumanWindow | None = None

    # ---- game state -------------------------------------------------------------------
    def get_state(self) -> ForageState:
        """A deep copy of the full game state, random generator included."""
        self._require_reset()
        state = copy.deepcopy(self._state)
        state.rng = copy.deepcopy(self.np_random.bit_generator.state)
        return state

    def set_state(self, state: ForageState) -> None:
        """Restore a state from `get_state()`; the future then replays exactly."""
        if not isinstance(state, ForageState):
            raise TypeError(f"set_state expects a ForageState from get_state(), got {type(state).__name__}")
        if state.fruits.shape != (self.n_fruits, 2) or state.hazards.shape != (self.n_hazards, 4):
            raise ValueError(
                f"state has {len(state.fruits)} fruits and {len(state.hazards)} hazards; "
                f"this env has {self.n_fruits} and {self.n_hazards}"
            )
        if not state.rng:
            raise ValueError("state has no random generator state; take it from get_state()")
        self._state = copy.deepcopy(state)
        self.np_random.bit_generator.state = copy.deepcopy(state.rng)

    # ---- gymnasium API ----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        player = np.array([(WORLD - PLAYER_SIZE) // 2] * 2, dtype=np.int64)
        hazards = np.zeros((self.n_hazards, 4), dtype=np.int64)
        for i in range(self.n_hazards):
            while True:
                xy = self.np_random.integers(WALL, WORLD - WALL - HAZARD_SIZE + 1, size=2)
                if np.abs(xy - player).max() >= 20:
                    break
            hazards[i, :2] = xy
            hazards[i, 2:] = self.np_random.choice([-1, 1], size=2)
        self._state = ForageState(player=player, fruits=np.zeros((self.n_fruits, 2), np.int64), hazards=hazards)
        for i in range(self.n_fruits):
            self._state.fruits[i] = self._free_fruit_place(others=self._state.fruits[:i])
        return self._frame(), self._info()

    def step(self, action):
        self._require_reset()
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not valid: expected an int in [0, {self.action_space.n})")
        s = self._state
        if s.done:
            raise RuntimeError("step() called after the episode ended; call reset() first")
        s.player = move_player(s.player, int(action))
        s.hazards = move_hazards(s.hazards)

        reward, eaten = 0.0, []
        for i, fruit in enumerate(s.fruits):
            if overlap(s.player, PLAYER_SIZE, fruit, FRUIT_SIZE):
                reward += 1.0
                eaten.append(self.fruit_names[i])
                s.fruits[i] = self._free_fruit_place(others=np.delete(s.fruits, i, axis=0))
        terminated = any(overlap(s.player, PLAYER_SIZE, h[:2], HAZARD_SIZE) for h in s.hazards)
        if terminated:
            reward -= 1.0
        s.steps += 1
        truncated = not terminated and s.steps >= self.max_steps
        s.done = terminated or truncated
        if self.render_mode == "human":
            self.render()
        return self._frame(), reward, terminated, truncated, self._info(eaten=eaten)

    def render(self):
        if self.render_mode == "rgb_array":
            return self._frame()
        if self.render_mode == "human":
            if self._window is None:
                self._window = HumanWindow("tv2tv-world: Forage", self.metadata["render_fps"])
            self._window.show(self._frame())
        return None

    def close(self):
        if self._window is not None:
            self._window.close()
            self._window = None

    # ---- internals --------------------------------------------------------------------
    def _require_reset(self):
        if self._state is None:
            raise RuntimeError("call reset() before step() or get_state()")

    def _info(self, eaten=()) -> dict:
        s = self._state
        return {"steps": s.steps, "fruits_eaten": list(eaten)}

    def _free_fruit_place(self, others: np.ndarray) -> np.ndarray:
        """A random fruit place touching neither the player, a hazard nor another fruit."""
        s = self._state
        for _ in range(1000):
            xy = self.np_random.integers(WALL, WORLD - WALL - FRUIT_SIZE + 1, size=2)
            clear = not overlap(xy, FRUIT_SIZE + 4, s.player - 2, PLAYER_SIZE + 4)
            clear &= not any(overlap(xy, FRUIT_SIZE, h[:2], HAZARD_SIZE) for h in s.hazards)
            clear &= not any(overlap(xy, FRUIT_SIZE + 2, f - 1, FRUIT_SIZE + 2) for f in others)
            if clear:
                return xy
        return xy  # arena crowded beyond belief: accept an overlap rather than loop forever

    def _frame(self) -> np.ndarray:
        s, scale = self._state, self.size / WORLD
        frame = np.empty((self.size, self.size, 3), np.uint8)
        frame[:] = WALL_COLOUR
        _fill(frame, scale, (WALL, WALL), WORLD - 2 * WALL, BACKGROUND)
        for name, xy in zip(self.fruit_names, s.fruits):
            _fill(frame, scale, xy, FRUIT_SIZE, FRUIT_COLOURS[name])
        for h in s.hazards:
            _fill(frame, scale, h[:2], HAZARD_SIZE, HAZARD_COLOUR)
        _fill(frame, scale, s.player, PLAYER_SIZE, PLAYER_COLOUR)
        return frame


def move_player(player: np.ndarray, action: int) -> np.ndarray:
    """One step of player motion, stopped by the walls; (2,) x y -> (2,)."""
    return np.clip(player + PLAYER_SPEED * np.array(ACTION_DELTAS[action]), WALL, WORLD - WALL - PLAYER_SIZE)


def move_hazards(hazards: np.ndarray) -> np.ndarray:
    """One step of hazard motion, bouncing off the walls; (n, 4) x y vx vy -> (n, 4)."""
    hazards = hazards.copy()
    lo, hi = WALL, WORLD - WALL - HAZARD_SIZE
    position = hazards[:, :2] + hazards[:, 2:]
    low, high = position < lo, position > hi
    position = np.where(low, 2 * lo - position, np.where(high, 2 * hi - position, position))
    hazards[:, 2:] *= np.where(low | high, -1, 1)
    hazards[:, :2] = position
    return hazards


def overlap(a, a_size, b, b_size) -> bool:
    """Whether two axis-aligned squares (top-left corner, side) overlap."""
    return bool(a[0] < b[0] + b_size and b[0] < a[0] + a_size and a[1] < b[1] + b_size and b[1] < a[1] + a_size)


def _fill(frame: np.ndarray, scale: float, xy, side: int, colour) -> None:
    """Paint a square given in world units onto a (h, w, 3) frame."""
    x0, y0 = round(xy[0] * scale), round(xy[1] * scale)
    x1, y1 = round((xy[0] + side) * scale), round((xy[1] + side) * scale)
    frame[y0:y1, x0:x1] = colour
