"""Pure metric functions (numpy in, numbers out) shared by the GAN and similarity stages.

- :mod:`ganstyle.metrics.reference`: the fixed, versioned non-GAN feature extractor.
- :mod:`ganstyle.metrics.distances`: Fréchet distance, KID, bootstrap intervals,
  split-half noise floors, nearest-neighbour distances and memorisation.
- :mod:`ganstyle.metrics.classification`: ROC AUC.
- :mod:`ganstyle.metrics.geo`: great-circle distances.
- :mod:`ganstyle.metrics.transfer`: the transfer measures of translated images.
- :mod:`ganstyle.metrics.multiplicity`: Benjamini-Hochberg q-values over the tests of a table.

Submodules are imported explicitly (``from ganstyle.metrics import distances``)
so that importing one does not import the others' dependencies.
"""
