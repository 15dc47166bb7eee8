"""The video tokenizer (a VAE from chunks of frames to latents): model, training module, loading, encoding datasets.

Imports storage, dataset and training.
"""
