"""Service internals: the job store (SQLite + files), the worker pool and job execution."""
