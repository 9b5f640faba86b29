"""API routers: ``health``, ``methods``, ``jobs``."""
