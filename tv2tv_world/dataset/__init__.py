"""Recorded episodes of a real game: collecting them, their format on disk, their latents file, the data module.

Imports storage and the real games (`envs`, the scripted players of `agents`).
"""
