# Stage 3: CycleGAN between pairs of cultures: how far must an image move to pass as the other?


rule train_transfer:
    """Train the CycleGAN of one pair (a < b); resumes from results/checkpoints/transfer/{a}__{b}/ if a job was killed."""
    input:
        corpus_a=corpus_of("a"),
        corpus_b=corpus_of("b"),
        critic_a=GAN_RUN.path(RESULTS, "discriminator", culture="{a}", seed=FIRST_GAN_SEED),
        critic_b=GAN_RUN.path(RESULTS, "discriminator", culture="{b}", seed=FIRST_GAN_SEED),
    output:
        G_ab=TRANSFER_RUN.path(RESULTS, "generator_ab", pair="{a}__{b}"),
        G_ba=TRANSFER_RUN.path(RESULTS, "generator_ba", pair="{a}__{b}"),
        grid=report(
            TRANSFER_RUN.path(RESULTS, "grid", pair="{a}__{b}"),
            category="Transfer",
            subcategory="Translation grids",
            labels={"pair": "{a}__{b}"},
        ),
        metrics=TRANSFER_RUN.path(RESULTS, "metrics", pair="{a}__{b}"),
        examples=TRANSFER_RUN.path(RESULTS, "examples", pair="{a}__{b}"),
        history=TRANSFER_RUN.path(RESULTS, "history", pair="{a}__{b}"),
    log:
        f"{LOGS}/transfer/{{a}}__{{b}}.log",
    benchmark:
        f"{BENCHMARKS}/transfer/{{a}}__{{b}}.tsv"
    wildcard_constraints:
        a=_CULTURE_PATTERN,
        b=_CULTURE_PATTERN,
    # after the critics it needs, before the figures
    priority: 10
    conda:
        "../envs/ganstyle.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=settings("transfer"),
        # not an output: Snakemake must not delete checkpoints of a failed or killed job
        checkpoints=f"{RESULTS}/checkpoints/transfer/{{a}}__{{b}}",
        out=f"{RESULTS}/transfer/{{a}}__{{b}}",
        label_a=lambda wildcards: REGISTRY.loc[wildcards.a, "label"],
        label_b=lambda wildcards: REGISTRY.loc[wildcards.b, "label"],
    shell:
        "python -m ganstyle train-transfer --culture-a {wildcards.a} --culture-b {wildcards.b}"
        " --corpus-a {input.corpus_a:q} --corpus-b {input.corpus_b:q}"
        " --critic-a {input.critic_a:q} --critic-b {input.critic_b:q}"
        " --label-a {params.label_a:q} --label-b {params.label_b:q}"
        " --out {params.out:q} --checkpoints {params.checkpoints:q}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule transfer_distances:
    """All trained pairs' transfer measures in one long table (source, target, measure, value, ci_low, ci_high)."""
    input:
        metrics=[TRANSFER_RUN.path(RESULTS, "metrics", pair=pair_name(a, b)) for a, b in TRANSFER_PAIRS],
    output:
        f"{RESULTS}/transfer/transfer_distances.tsv",
    log:
        f"{LOGS}/transfer/transfer_distances.log",
    benchmark:
        f"{BENCHMARKS}/transfer/transfer_distances.tsv"
    conda:
        "../envs/ganstyle.yaml"
    shell:
        "python -m ganstyle transfer-distances --metrics {input.metrics:q} --out {output:q} > {log} 2>&1"
