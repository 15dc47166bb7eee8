"""Action names as short English (from ALE's `get_action_meanings()`), and back from a step's text."""

from __future__ import annotations

_WORDS = {"UP": "up", "DOWN": "down", "LEFT": "left", "RIGHT": "right"}
IDLE_TEXTS = ("wait", "do nothing", "noop")  # the texts of an action that leaves the game alone


def meaning_to_text(meaning: str) -> str:
    """'NOOP' -> 'do nothing', 'UPRIGHTFIRE' -> 'move up right and fire'."""
    name = meaning.upper()
    if name == "NOOP":
        return "do nothing"
    fire = name.endswith("FIRE")
    name = name.removesuffix("FIRE")
    directions = []
    while name:
        word = next((w for w in _WORDS if name.startswith(w)), None)
        if word is None:
            return meaning.lower().replace("_", " ")
        directions.append(_WORDS[word])
        name = name[len(word):]
    move = f"move {' '.join(directions)}" if directions else ""
    return " and ".join(part for part in (move, "fire" if fire else "") if part)


def idle_action(action_texts: tuple[str, ...] | list[str]) -> int:
    """The action that leaves the game alone: "wait" / "do nothing" if the game has one, else action 0."""
    return next((i for i, t in enumerate(action_texts) if t in IDLE_TEXTS), 0)


def action_of_text(text: str, action_texts: tuple[str, ...] | list[str]) -> int | None:
    """The action a step's text names: the whole text or its last sentence ("go to the red fruit. move right")."""
    last = text.rsplit(". ", 1)[-1].strip()
    return list(action_texts).index(last) if last in action_texts else None
