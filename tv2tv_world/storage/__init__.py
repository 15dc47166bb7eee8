"""Files on disk: atomic writes, checkpoints read without unpickling code, bundled models by name.

Imports nothing else of the project.
"""
