"""Batch runs on a Dask distributed cluster: ``tinct batch IN_DIR OUT_DIR --method ...``.

See :mod:`tinct.batch.runner` (client side) and :mod:`tinct.batch.tasks` (what a worker runs).
Dask is imported only when a batch runs.
"""

from tinct.batch.runner import SchedulerError, find_inputs, local_cluster, output_paths, run_batch

__all__ = ["SchedulerError", "find_inputs", "local_cluster", "output_paths", "run_batch"]
