# Stage 5: culture x culture similarity matrices with bootstrap intervals and split-half noise floors.


def transfer_distance_input():
    """Transfer distances are an input only when transfer pairs are configured."""
    return [f"{RESULTS}/transfer/transfer_distances.tsv"] if config["transfer"]["pairs"] else []


rule similarity:
    """Critic AUC, FD/KID and linear-probe distances (critic panel and reference baseline), transfer distances."""
    input:
        critics=critic_feature_files(),
        reference=rules.reference_features.output[0],
        transfer=transfer_distance_input(),
    output:
        table=f"{RESULTS}/similarity/similarity.tsv",
        matrices=directory(f"{RESULTS}/similarity/matrices"),
        distances=f"{RESULTS}/similarity/distances.npz",
        per_seed=f"{RESULTS}/similarity/per_seed.tsv",
        floors=f"{RESULTS}/similarity/floors.tsv",
        spaces=f"{RESULTS}/similarity/spaces.tsv",
        measures=f"{RESULTS}/similarity/measures.tsv",
        image_features=f"{RESULTS}/similarity/image_features.npz",
    params:
        cultures=" ".join(CULTURES),
        settings=settings("similarity"),
    log:
        f"{LOGS}/similarity/similarity.log",
    shell:
        "python -m ganstyle similarity --cultures {params.cultures} --critic-features {input.critics:q}"
        " --reference {input.reference:q} --transfer {input.transfer:q} --settings {params.settings:q}"
        " --out {RESULTS}/similarity > {log} 2>&1"
