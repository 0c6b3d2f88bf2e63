"""The figure library: publication figures, each as PDF + PNG with the data it plots as a TSV beside it.

One module per kind of figure, each holding its families' ``*_data`` (the table to plot, written
as the TSV), ``plot_*`` (draws exactly that table) and ``draw_*`` (reads the inputs, writes the
files) functions and one ``Family`` record per family (``family.py``):

- ``images``: corpus, training, translations
- ``quality``: judge
- ``matrices``: heatmaps, critic-auc, dendrograms
- ``exemplars``: typical, bridges (the images behind the numbers)
- ``maps``: mds, neighbours
- ``statistics``: mantel, summary, group-recovery, seed-stability
- ``shared``: culture labels and colours, readers of the earlier stages' files
- ``style``: fonts, sizes, the group palette, saving

``FAMILIES`` lists every record; the command line and the workflow's figure rules, report entries
and targets are derived from it; the stage ``figures`` (``ganstyle.stages.figures``) is its command line.
Adding a figure: docs/architecture.md.
"""

from __future__ import annotations

from ganstyle.figures.exemplars import BRIDGES, INTERPOLATIONS, TYPICAL
from ganstyle.figures.images import CORPUS, TRAINING, TRANSLATIONS
from ganstyle.figures.maps import MDS, NEIGHBOURS
from ganstyle.figures.matrices import CRITIC_AUC, DENDROGRAMS, HEATMAPS
from ganstyle.figures.quality import JUDGE_FIGURE
from ganstyle.figures.statistics import GROUP_RECOVERY, MANTEL, SEED_STABILITY, SUMMARY
from ganstyle.metrics.measures import drawn_per_measure, measure_label

# in the order of `python -m ganstyle figures --help`
FAMILIES = (
    CORPUS, TRAINING, JUDGE_FIGURE, TRANSLATIONS, HEATMAPS, CRITIC_AUC, DENDROGRAMS, MDS, NEIGHBOURS, MANTEL, SUMMARY, GROUP_RECOVERY, SEED_STABILITY,
    TYPICAL, BRIDGES, INTERPOLATIONS,
)  # fmt: skip

__all__ = ["FAMILIES", "drawn_per_measure", "measure_label"]
