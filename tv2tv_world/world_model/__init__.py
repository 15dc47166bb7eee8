"""The TV2TV world model: the MoT, the interleaved stream, the flow loss, the sampler with its KV cache, loading.

Imports storage, dataset, training and the tokenizer.
"""
