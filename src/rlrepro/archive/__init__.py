"""The archive of completed runs that ships with the package (``archive/`` at the repository root).

:mod:`~rlrepro.archive.store` reads, verifies, extends and restores it; :mod:`~rlrepro.archive.replay`
re-runs the first steps of archived runs and requires bit-identical metric rows. Torch-free (replay
imports a kind's training module only when it replays a run of that kind).
"""
