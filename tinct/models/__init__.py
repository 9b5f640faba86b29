"""Colorization networks (PyTorch) and the registry of their weights.

Every network takes L in CIELAB units, a tensor of shape (N, 1, H, W) with
values in [0, 100], and returns bin logits (N, Q, H / s, W / s), where Q and
s are the class attributes ``bins`` ('313' or '484') and ``output_stride``.
Networks that accept colour hints take ``hint_ab`` (N, 2, H, W) and
``hint_mask`` (N, 1, H, W) as optional keyword arguments.
"""
