"""What every `tv2tv fit` run shares: the learning-rate schedule, precision, metrics on stdout, videos in TensorBoard,
the record of what training cost and where it ran.

Imports only `storage` of the project.
"""
