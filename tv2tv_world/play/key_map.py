"""Keyboard keys for a game's actions, found from the words of its action texts."""

from __future__ import annotations

from tv2tv_world.envs.action_text import IDLE_TEXTS

# (key names as pygame spells them, the words an action text must hold)
_BINDINGS = (
    (("up", "w"), {"up"}),
    (("down", "s"), {"down"}),
    (("left", "a"), {"left"}),
    (("right", "d"), {"right"}),
    (("space",), {"fire"}),
)


def key_bindings(action_texts: tuple[str, ...] | list[str]) -> dict[str, int]:
    """{pygame key name: action id}. Arrow keys and WASD move, space fires; an action whose words
    match a binding exactly ("move up", "fire") gets it, and every action left over gets a digit key."""
    bindings: dict[str, int] = {}
    for action, text in enumerate(action_texts):
        words = set(text.lower().replace(" and ", " ").split()) - {"move"}
        for keys, wanted in _BINDINGS:
            if words == wanted:
                bindings.update({key: action for key in keys})
    digit = 1
    for action, text in enumerate(action_texts):
        if action not in bindings.values() and text not in IDLE_TEXTS and digit <= 9:
            bindings[str(digit)] = action
            digit += 1
    return bindings

