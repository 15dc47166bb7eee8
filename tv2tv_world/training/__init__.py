"""What every `tv2tv fit` run shares: the learning-rate schedule, precision, metrics on stdout, videos in TensorBoard.

Imports nothing else of the project.
"""
