# Stage 3: transfer between cultures: one translator per joint-GAN seed serves every pair.
# How far must an image move to pass as another culture's?


rule train_translator:
    """Invert the joint generator of one seed (an encoder), translate every held-out image into every culture, measure each direction."""
    input:
        generator=JOINT_RUN.path(RESULTS, "generator", seed="{seed}"),
        corpora=all_corpora,
        critics=[GAN_RUN.path(RESULTS, "discriminator", culture=culture, seed=FIRST_GAN_SEED) for culture in CULTURES],
    output:
        **{kind: TRANSLATOR_RUN.path(RESULTS, kind, seed="{seed}") for kind in TRANSLATOR_RUN.names},
    log:
        f"{LOGS}/transfer/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/transfer/seed{{seed}}.tsv"
    # the joint GAN's chain (translator -> transfer distances -> similarity) is the longest: ahead of the per-culture GANs
    priority: 25
    conda:
        "../envs/ganstyle.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=settings("transfer"),
        cultures=CULTURES,
        # not an output: Snakemake must not delete checkpoints of a failed or killed job
        checkpoints=f"{RESULTS}/checkpoints/transfer/seed{{seed}}",
        out=lambda wildcards, output: os.path.dirname(output.metrics),
    shell:
        "python -m ganstyle train-translator --generator {input.generator:q} --cultures {params.cultures} --corpora {input.corpora:q}"
        " --critics {input.critics:q} --seed {wildcards.seed} --out {params.out:q} --checkpoints {params.checkpoints:q}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule transfer_distances:
    """Every direction's transfer measures, averaged over the translators' seeds, in one long table."""
    input:
        metrics=[TRANSLATOR_RUN.path(RESULTS, "metrics", seed=seed) for seed in GAN_SEEDS],
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
