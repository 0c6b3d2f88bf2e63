"""Shared test setup: one BLAS thread per process; every test starts and ends at the float32 Keras
policy, so a stage run at mixed precision cannot leak its global policy into the next test; the
planted analysis results that the similarity, stats and figures tests share; the order in which
pytest-xdist hands out files."""

import os
import sys

import pytest

# One BLAS / OpenMP thread per process.  pytest-xdist runs one worker per core, and the end-to-end
# test's Snakemake runs as many jobs as cores beside them: OpenBLAS's default of one thread per core
# then puts its spinning threads on cores that are already busy.  Set here, before numpy is loaded in
# the workers (they and their child processes inherit the controller's environment); measured on 2
# cores: 608 -> 587 s of user CPU for the suite, 358 -> 333 s wall.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# The files whose tests take longest (their module fixtures run whole workflows or draw every figure;
# `pytest --durations`).  Handed out first, so that the workers finish together instead of one of them
# starting the end-to-end run when the other has nothing left to do.
LONGEST_FILES = (
    "tests/test_workflow.py",
    "tests/figures/test_figures.py",
    "tests/stages/test_gan.py",
    "tests/models/test_gan.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, longest files first (xdist's own order is by the number of tests in a file)."""
    from xdist.scheduler import LoadFileScheduling

    class LongestFilesFirst(LoadFileScheduling):
        # _assign_work_unit pops the queue's first file; pytest-xdist is pinned in pyproject.toml
        def _assign_work_unit(self, node):
            waiting = [scope for scope in LONGEST_FILES if scope in self.workqueue]
            if waiting:
                self.workqueue.move_to_end(waiting[0], last=False)
            super()._assign_work_unit(node)

    return LongestFilesFirst(config, log) if config.getvalue("dist") == "loadfile" else None


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """Planted results of the similarity, cluster and stats stages, built once (tests/planted_results.py); read only."""
    from planted_results import plant

    return plant(tmp_path_factory.mktemp("planted"))
