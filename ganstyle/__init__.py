"""ganstyle: measure stylistic differences between cultures from their images.

Per-culture GANs are trained on image corpora; their discriminators become
"critics" whose features measure cultural distance.  Each stage of the
Snakemake workflow is a sub-command of ``python -m ganstyle``.
"""

__version__ = "0.1.0"
