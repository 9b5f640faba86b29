"""Batch runs on a Dask distributed cluster: ``tinct batch IN_DIR OUT_DIR --method ...``.

See :mod:`tinct.apps.batch.runner` (client side) and :mod:`tinct.apps.batch.tasks` (what a worker runs).
Dask is imported only when a batch runs.
"""

from tinct.apps.batch.runner import SchedulerError, find_inputs, local_cluster, output_paths, run_batch

__all__ = ["SchedulerError", "find_inputs", "local_cluster", "output_paths", "run_batch"]
