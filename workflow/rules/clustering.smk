# Stage 6: hierarchical clustering with bootstrap support, consensus matrices, MDS maps.


rule cluster:
    """Average (and, where valid, Ward) linkage of every distance measure; node support; MDS with bootstrap spread."""
    input:
        distances=rules.similarity.output.distances,
    output:
        summary=report(
            CLUSTERING.path(RESULTS, "summary"),
            caption="../report/clustering_summary.rst",
            category="Clustering",
            subcategory="Tables",
        ),
        linkage=report(
            CLUSTERING.path(RESULTS, "linkage"),
            caption="../report/clustering_linkage.rst",
            category="Clustering",
            subcategory="Tables",
        ),
        silhouette=CLUSTERING.path(RESULTS, "silhouette"),
        assignments=CLUSTERING.path(RESULTS, "assignments"),
        consensus=directory(CLUSTERING.path(RESULTS, "consensus")),
        mds=report(
            CLUSTERING.path(RESULTS, "mds"),
            caption="../report/clustering_mds_table.rst",
            category="Clustering",
            subcategory="Tables",
        ),
        mds_bootstrap=CLUSTERING.path(RESULTS, "mds_bootstrap"),
    log:
        f"{LOGS}/clustering/cluster.log",
    benchmark:
        f"{BENCHMARKS}/clustering/cluster.tsv"
    # the end of the longest chain (similarity -> cluster -> stats): ahead of the figures
    priority: 10
    conda:
        "../envs/ganstyle.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
        settings=settings("clustering"),
    shell:
        "python -m ganstyle cluster --distances {input.distances:q} --settings {params.settings:q} --out {params.outdir:q} > {log} 2>&1"
