# Stage 5: culture x culture similarity matrices with bootstrap intervals and split-half noise floors.


rule similarity:
    """Distances of every measure in every critic space, its controls and the reference baseline (transfer distances when all pairs ran)."""
    input:
        critics=critic_feature_files(),
        reference=rules.reference_features.output[0],
        transfer=transfer_distance_input(),
    output:
        table=report(
            f"{RESULTS}/similarity/similarity.tsv",
            caption="../report/similarity_table.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        matrices=directory(f"{RESULTS}/similarity/matrices"),
        distances=f"{RESULTS}/similarity/distances.npz",
        per_seed=f"{RESULTS}/similarity/per_seed.tsv",
        floors=report(
            f"{RESULTS}/similarity/floors.tsv",
            caption="../report/similarity_floors.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        spaces=report(
            f"{RESULTS}/similarity/spaces.tsv",
            caption="../report/similarity_spaces.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        measures=report(
            f"{RESULTS}/similarity/measures.tsv",
            caption="../report/similarity_measures.rst",
            category="Similarity",
            subcategory="Tables",
        ),
        image_features=f"{RESULTS}/similarity/image_features.npz",
    log:
        f"{LOGS}/similarity/similarity.log",
    benchmark:
        f"{BENCHMARKS}/similarity/similarity.tsv"
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
