# Stage 7: agreement with known groups, PERMANOVA/PERMDISP, Mantel tests, seed stability.


rule stats:
    """Group recovery (ARI, within-vs-across AUC) of every measure and its controls, PERMANOVA/PERMDISP, Mantel tests, seed stability."""
    input:
        distances=rules.similarity.output.distances,
        per_seed=rules.similarity.output.per_seed,
        image_features=rules.similarity.output.image_features,
        assignments=rules.cluster.output.assignments,
        summary=rules.cluster.output.summary,
        measures=rules.similarity.output.measures,
        registry=REGISTRY_FILE,
        external=external_matrix_files(),
    output:
        ari_nmi=report(
            STATS.path(RESULTS, "ari_nmi"),
            caption="../report/stats_ari_nmi.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
        permanova=report(
            STATS.path(RESULTS, "permanova"),
            caption="../report/stats_permanova.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
        permdisp=report(
            STATS.path(RESULTS, "permdisp"),
            caption="../report/stats_permdisp.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
        mantel=report(
            STATS.path(RESULTS, "mantel"),
            caption="../report/stats_mantel_table.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
        seed_stability=report(
            STATS.path(RESULTS, "seed_stability"),
            caption="../report/stats_seed_stability.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
        group_recovery=report(
            STATS.path(RESULTS, "group_recovery"),
            caption="../report/stats_group_recovery.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
        summary=report(
            STATS.path(RESULTS, "summary"),
            caption="../report/stats_summary.rst",
            category="Statistical tests",
            subcategory="Tables",
        ),
    log:
        f"{LOGS}/stats/stats.log",
    benchmark:
        f"{BENCHMARKS}/stats/stats.tsv"
    # the end of the longest chain (similarity -> cluster -> stats): ahead of the figures
    priority: 10
    conda:
        "../envs/ganstyle.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
        settings=settings("stats"),
        metadata="null",  # REGISTRY_FILE already holds the metadata table's cultures
        ci=config["similarity"]["ci"],
    shell:
        "python -m ganstyle stats --distances {input.distances:q} --per-seed {input.per_seed:q}"
        " --image-features {input.image_features:q} --assignments {input.assignments:q}"
        " --cluster-summary {input.summary:q} --measures {input.measures:q} --ci {params.ci} --cultures-file {input.registry:q} --metadata {params.metadata:q}"
        " --settings {params.settings:q} --out {params.outdir:q} > {log} 2>&1"
