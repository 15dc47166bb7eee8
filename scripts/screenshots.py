"""Screenshots of `tv2tv play` for the README, taken headless with the bundled model.

    SDL_VIDEODRIVER=dummy .venv/bin/python scripts/screenshots.py [--checkpoint forage] [--out docs]

Writes play.png (keys and a typed text), play_side_by_side.png and play_help.png.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402

from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env  # noqa: E402
from tv2tv_world.play.player import Player  # noqa: E402
from tv2tv_world.play.session import PlaySession  # noqa: E402
from tv2tv_world.play.window import PlayWindow  # noqa: E402
from tv2tv_world.world_model.loading import load_world_model  # noqa: E402


def advance(player: Player) -> None:
    """Tick until one more decision has been shown."""
    target = player.session.steps + 1
    while player.session.steps < target or player.queue:
        player.tick()


def press(key: str) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.key.key_code(key)))


def drive(player: Player, keys: list[str], text: str, free_steps: int) -> None:
    """One decision per key, one with typed `text`, then `free_steps` where the model writes its own text."""
    for key in keys:
        press(key)
        advance(player)
    press("t")
    pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=text))
    press("return")
    advance(player)
    player.free_run = True
    for _ in range(free_steps):
        advance(player)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="forage")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_world_model(args.checkpoint)
    for side_by_side, name in ((False, "play.png"), (True, "play_side_by_side.png")):
        env = ImaginationEnv(loaded, action_mode="text", flow_steps=4, termination_threshold=1.0)
        session = PlaySession(env, make_real_env(loaded) if side_by_side else None, seed=7)
        player = Player(session, PlayWindow(loaded.vae.cfg.frame_size, side_by_side=side_by_side))
        drive(player, ["right", "right", "down", "down", "left"], "go to the red fruit. move up", free_steps=3)
        player.window.save(out / name)
        if not side_by_side:
            player.help = True
            player.tick()
            player.window.save(out / "play_help.png")
        player.window.close()
    print(f"wrote {out}/play.png, {out}/play_side_by_side.png, {out}/play_help.png")


if __name__ == "__main__":
    main()
