# Stage 2b: the joint critic, one class-conditional GAN over all cultures (per GAN seed).


rule train_joint:
    """Train the joint critic of one seed on every culture's train split; exports the critic at its last snapshots."""
    input:
        corpora=all_corpora,
    output:
        **{kind: JOINT_RUN.path(RESULTS, kind, seed="{seed}") for kind in JOINT_RUN.names},
        critics=joint_critic_files("{seed}"),
    log:
        f"{LOGS}/joint/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/joint/seed{{seed}}.tsv"
    # the longest training jobs start first: every feature job waits for them
    priority: 30
    conda:
        "../envs/ganstyle.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=gan_settings("seeds", "sanity_n_boot"),
        joint=settings("joint"),
        cultures=CULTURES,
        # not an output: Snakemake must not delete checkpoints of a failed or killed job
        checkpoints=f"{RESULTS}/checkpoints/joint/seed{{seed}}",
        out=f"{RESULTS}/joint/seed{{seed}}",
    shell:
        "python -m ganstyle train-joint --cultures {params.cultures} --corpora {input.corpora:q} --seed {wildcards.seed}"
        " --out {params.out:q} --checkpoints {params.checkpoints:q}"
        " --settings {params.settings:q} --joint {params.joint:q} --threads {threads} > {log} 2>&1"
