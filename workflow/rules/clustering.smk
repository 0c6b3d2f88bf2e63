# Stage 6: hierarchical clustering with bootstrap support, consensus matrices, MDS maps.


rule cluster:
    """Average (and, where valid, Ward) linkage of every distance measure; node support; MDS with bootstrap spread."""
    input:
        distances=rules.similarity.output.distances,
    output:
        summary=f"{RESULTS}/clustering/summary.tsv",
        linkage=f"{RESULTS}/clustering/linkage.tsv",
        silhouette=f"{RESULTS}/clustering/silhouette.tsv",
        assignments=f"{RESULTS}/clustering/assignments.tsv",
        consensus=directory(f"{RESULTS}/clustering/consensus"),
        mds=f"{RESULTS}/clustering/mds.tsv",
        mds_bootstrap=f"{RESULTS}/clustering/mds_bootstrap.tsv",
    params:
        settings=settings("clustering"),
    log:
        f"{LOGS}/clustering/cluster.log",
    shell:
        "python -m ganstyle cluster --distances {input.distances:q} --settings {params.settings:q}"
        " --out {RESULTS}/clustering > {log} 2>&1"
