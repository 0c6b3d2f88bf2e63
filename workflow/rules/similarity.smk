# Stage 5: culture x culture similarity matrices with bootstrap intervals and split-half noise floors.


rule similarity:
    """Distances of every measure in every critic space, its controls and the reference baseline (transfer distances when all pairs ran)."""
    input:
        critics=critic_feature_files(),
        reference=rules.reference_features.output[0],
        transfer=transfer_distance_input(),
    output:
        table=report(
            SIMILARITY.path(RESULTS, "table"),
            caption="../report/similarity_table.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        matrices=directory(SIMILARITY.path(RESULTS, "matrices")),
        distances=SIMILARITY.path(RESULTS, "distances"),
        per_seed=SIMILARITY.path(RESULTS, "per_seed"),
        floors=report(
            SIMILARITY.path(RESULTS, "floors"),
            caption="../report/similarity_floors.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        spaces=report(
            SIMILARITY.path(RESULTS, "spaces"),
            caption="../report/similarity_spaces.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        measures=report(
            SIMILARITY.path(RESULTS, "measures"),
            caption="../report/similarity_measures.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        image_features=SIMILARITY.path(RESULTS, "image_features"),
    log:
        f"{LOGS}/similarity/similarity.log",
    benchmark:
        f"{BENCHMARKS}/similarity/similarity.tsv"
    # the end of the longest chain (similarity -> cluster -> stats): ahead of the figures
    priority: 10
    conda:
        "../envs/ganstyle.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.distances),
        cultures=" ".join(CULTURES),
        settings=settings("similarity"),
    shell:
        "python -m ganstyle similarity --cultures {params.cultures} --critic-features {input.critics:q}"
        " --reference {input.reference:q} --transfer {input.transfer:q} --settings {params.settings:q}"
        " --out {params.outdir:q} > {log} 2>&1"
