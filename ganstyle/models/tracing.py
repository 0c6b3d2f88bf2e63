"""``graph_function``: ``tf.function`` without AutoGraph, the one way ganstyle traces its models.

AutoGraph rewrites the source of every function a trace touches (the training step, the
networks' ``call``, the losses, DiffAugment) into graph control flow before tracing it.  Our
code has no tensor-dependent Python ``if`` or ``for`` (loops are ``tf.while_loop``, branches
``tf.cond``), so that rewrite changes nothing, yet it cost each training process about 1 s
(the rewrite is cached within a process, so every Snakemake job pays it once).  Without AutoGraph
a Python ``if`` or ``for`` on a tensor raises at trace time instead of being converted, so a new
one cannot slip in unnoticed.
"""

from __future__ import annotations


def graph_function(function=None, **options):
    """``tf.function(function, autograph=False, **options)``; also usable as ``@graph_function(...)``."""
    import tensorflow as tf

    if function is None:
        return lambda f: tf.function(f, autograph=False, **options)
    return tf.function(function, autograph=False, **options)
