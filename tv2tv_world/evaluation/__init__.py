"""How good the models are: imagination against held-out episodes (objects, PSNR, control), the tokenizer, agents' scores, speed.

Imports everything below the agents: the models, the imagination envs, the real games.
"""
