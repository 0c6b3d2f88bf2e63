"""The workflow's stages: one module per rule file in ``workflow/rules/`` (``<stage>.py`` <-> ``<stage>.smk``).

Each module does the I/O of its stage around the science in :mod:`ganstyle.models`,
:mod:`ganstyle.metrics` and :mod:`ganstyle.figures`, and exposes ``main(argv, stage) -> int``,
which ``python -m ganstyle <stage>`` calls (``ganstyle.cli``).
"""
