# Stage 7: agreement with known groups, PERMANOVA/PERMDISP, Mantel tests, seed stability.


def external_matrix_files():
    return [entry["path"] for entry in config["stats"]["external_matrices"]]


rule stats:
    """ARI/NMI against registry groups, PERMANOVA/PERMDISP, Mantel tests (measures, geography, user matrices)."""
    input:
        distances=rules.similarity.output.distances,
        per_seed=rules.similarity.output.per_seed,
        image_features=rules.similarity.output.image_features,
        assignments=rules.cluster.output.assignments,
        summary=rules.cluster.output.summary,
        registry=config["cultures"],
        external=external_matrix_files(),
    output:
        ari_nmi=f"{RESULTS}/stats/ari_nmi.tsv",
        permanova=f"{RESULTS}/stats/permanova.tsv",
        permdisp=f"{RESULTS}/stats/permdisp.tsv",
        mantel=f"{RESULTS}/stats/mantel.tsv",
        seed_stability=f"{RESULTS}/stats/seed_stability.tsv",
        summary=f"{RESULTS}/stats/summary.tsv",
    params:
        settings=settings("stats"),
        metadata=json.dumps(config["metadata"]),
    log:
        f"{LOGS}/stats/stats.log",
    shell:
        "python -m ganstyle stats --distances {input.distances:q} --per-seed {input.per_seed:q}"
        " --image-features {input.image_features:q} --assignments {input.assignments:q}"
        " --cluster-summary {input.summary:q} --cultures-file {input.registry:q} --metadata {params.metadata:q}"
        " --settings {params.settings:q} --out {RESULTS}/stats > {log} 2>&1"


def analysis_targets():
    """Every table of the features, similarity, clustering and stats stages (for rule all)."""
    return [
        *critic_feature_files(),
        rules.reference_features.output[0],
        *rules.similarity.output,
        *rules.cluster.output,
        *rules.stats.output,
    ]
