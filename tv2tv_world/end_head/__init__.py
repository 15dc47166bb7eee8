"""Which action ends the game: every action tried in the real game, and the latent end head fitted to that.

Imports the evaluation and everything below it.
"""
