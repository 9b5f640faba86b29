"""``tinct serve``: every registered method as a job service with a browser UI.

:func:`tinct.apps.service.app.create_app` builds the FastAPI app from
:class:`tinct.apps.service.settings.Settings`; ``tinct serve`` runs it with uvicorn. Jobs are
persisted in SQLite plus files under the data directory and run in worker processes that die
with the server, under leases that keep a restarted server off jobs a live process holds; the
browser UI in ``static/`` follows ``/api/methods``, so a newly registered method appears there
with its parameter form and nothing else to change. See ``docs/service.md``.

FastAPI and uvicorn are imported only when the app is built.
"""

from tinct.apps.service.settings import Settings


def create_app(settings: Settings | None = None):
    """Build the FastAPI app (see :func:`tinct.apps.service.app.create_app`)."""
    from tinct.apps.service.app import create_app as _create

    return _create(settings)


__all__ = ["Settings", "create_app"]
