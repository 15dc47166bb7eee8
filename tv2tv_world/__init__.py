"""tv2tv-world: a TV2TV-style world model for games (interleaved text plans and video).

Importing the package registers the real games with Gymnasium, e.g.
`gymnasium.make("tv2tv_world/Forage-v0")`.
"""

from tv2tv_world.envs.registration import register_envs

register_envs()

__version__ = "0.1.0"
