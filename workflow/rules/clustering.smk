# Stage 6: hierarchical clustering with bootstrap support, consensus matrices, MDS maps.


rule cluster:
    """Average (and, where valid, Ward) linkage of every distance measure; node support; MDS with bootstrap spread."""
    input:
        distances=rules.similarity.output.distances,
    output:
        summary=report(
            f"{RESULTS}/clustering/summary.tsv",
            caption="../report/clustering_summary.rst",
            category="Clustering",
            subcategory="Tables",
        ),
        linkage=report(
            f"{RESULTS}/clustering/linkage.tsv",
            caption="../report/clustering_linkage.rst",
            category="Clustering",
            subcategory="Tables",
        ),
        silhouette=f"{RESULTS}/clustering/silhouette.tsv",
        assignments=f"{RESULTS}/clustering/assignments.tsv",
        consensus=directory(f"{RESULTS}/clustering/consensus"),
        mds=report(
            f"{RESULTS}/clustering/mds.tsv",
            caption="../report/clustering_mds_table.rst",
            category="Clustering",
            subcategory="Tables",
        ),
        mds_bootstrap=f"{RESULTS}/clustering/mds_bootstrap.tsv",
    log:
        f"{LOGS}/clustering/cluster.log",
    benchmark:
        f"{BENCHMARKS}/clustering/cluster.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
        settings=settings("clustering"),
    shell:
        "python -m ganstyle cluster --distances {input.distances:q} --settings {params.settings:q} --out {params.outdir:q} > {log} 2>&1"
