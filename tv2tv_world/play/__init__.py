"""Watching and driving the imagined game: the pygame player, its session, recordings, the demo.

Imports the agents and everything below them.
"""
