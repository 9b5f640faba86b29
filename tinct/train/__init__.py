"""``tinct train``: train tinct's own colorization network (bin classification as Zhang et al. 2016).

* :mod:`tinct.train.data` -- tar shards / folders decoded into memory; on-device augmentation and hints.
* :mod:`tinct.train.losses` -- soft targets, class rebalancing, the smoothness term, MSE baseline.
* :mod:`tinct.train.loop` -- :class:`TrainConfig`, :func:`train`, checkpoints, export of weights.

``python -m tinct.train`` runs the same command without loading the other CLI commands (for bare GPU
machines that have only PyTorch, NumPy and Pillow).
"""

from tinct.train.loop import TrainConfig, export_weights, train

__all__ = ["TrainConfig", "export_weights", "train"]
