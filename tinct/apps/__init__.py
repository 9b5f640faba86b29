"""Front ends on top of the library: the command line, the web service and Dask batch runs.

Nothing outside :mod:`tinct.apps` imports from it (``tinct/tests/test_layering.py`` checks this); the
front ends reach the methods through :mod:`tinct.pipeline` and the registry.
"""
