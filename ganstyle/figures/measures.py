"""Names of the similarity stage's measures in figures, read from its registry (``ganstyle.similarity.MEASURES``).

Every figure module asks this one about measures, so that a change of the registry is a change here.
"""

from __future__ import annotations


def drawn_per_measure(name: str) -> bool:
    """Whether a measure gets its own heatmap, dendrogram, MDS map, neighbour and Mantel panels: every
    measure but the untrained controls, which are reported beside the others in the group-recovery
    table and figure."""
    from ganstyle.similarity import MEASURES, SPACES

    return name not in MEASURES or not MEASURES[name].space or SPACES[MEASURES[name].space].role != "control"


def measure_label(name: str) -> str:
    """Readable name of a measure or comparison matrix (``fd_critic`` -> 'Fréchet distance, critic panel'),
    as the similarity stage declares it."""
    from ganstyle.similarity import MEASURES, transfer_measure

    if name == "geographic_km":
        return "geographic distance (km)"
    if name in MEASURES:
        return MEASURES[name].label
    if name.startswith("transfer_"):
        rest = name[len("transfer_") :]
        both = rest.endswith("_sym")
        return transfer_measure(rest[:-4] if both else rest, both).label
    return name.replace("_", " ")


def reference_counterpart(measure: str) -> str:
    """The same metric in the reference space (``kid_joint`` -> ``kid_reference``; a median over
    critics ``kid_median_critic`` -> ``kid_reference``), or the measure itself."""
    from ganstyle.similarity import MEASURES

    space = MEASURES[measure].space if measure in MEASURES else ""
    if not space or not measure.endswith(f"_{space}"):
        return measure
    return measure[: -len(space)].replace("_median_", "_") + "reference"
