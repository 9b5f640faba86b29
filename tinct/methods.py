"""Where methods are registered: the modules whose import registers them.

Adding a method = writing its function with ``@tinct.registry.register`` and
adding its module here. Modules must import heavy dependencies (PyTorch, ...)
inside functions so that listing methods stays fast.
"""

METHOD_MODULES: tuple[str, ...] = (
    "tinct.transfer.reinhard",
    "tinct.transfer.gmm",
    "tinct.transfer.mkl",
    "tinct.transfer.sliced",
    "tinct.colorize.cnn",
    "tinct.colorize.scribble",
    "tinct.colorize.patchdb",
    "tinct.transfer.superpixel",
    "tinct.colorize.exemplar",
)
