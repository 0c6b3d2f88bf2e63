# Stage 2: one GAN per culture and seed; its discriminator is the culture's critic.


rule train_gan:
    """Train one culture's GAN for every seed (one process, one traced step); resumes from results/checkpoints/gan/{culture}/ if a job was killed."""
    input:
        corpus=corpus_of("culture"),
    output:
        **{kind: [GAN_RUN.path(RESULTS, kind, culture="{culture}", seed=seed) for seed in GAN_SEEDS] for kind in GAN_RUN.names},
    log:
        f"{LOGS}/gan/{{culture}}.log",
    benchmark:
        f"{BENCHMARKS}/gan/{{culture}}.tsv"
    # critics gate the features and the transfer pairs; figures can wait
    priority: 20
    conda:
        "../envs/ganstyle.yaml"
    # one thread per job: on a CPU machine several cultures then train side by side,
    # which uses cores better than one multi-threaded job (profiles may raise it)
    threads: 1
    resources:
        gpu=1,
    params:
        settings=gan_settings("seeds", "sanity_n_boot"),
        seeds=GAN_SEEDS,
        # not an output: Snakemake must not delete checkpoints of a failed or killed job
        checkpoints=f"{RESULTS}/checkpoints/gan/{{culture}}",
        out=f"{RESULTS}/gan/{{culture}}",
    shell:
        "python -m ganstyle train-gan --corpus {input.corpus:q} --culture {wildcards.culture} --seeds {params.seeds}"
        " --out {params.out:q} --checkpoints {params.checkpoints:q}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule gan_sanity:
    """KID of every culture's generator (every seed) against every culture's held-out images."""
    input:
        samples=[GAN_RUN.path(RESULTS, "samples", culture=culture, seed=seed) for seed in GAN_SEEDS for culture in CULTURES],
        corpora=all_corpora,
    output:
        long=report(
            f"{RESULTS}/gan/sanity_kid.tsv",
            caption="../report/training_sanity.rst",
            category="Training",
            subcategory="Sanity checks",
        ),
        matrix=f"{RESULTS}/gan/sanity_kid_matrix.tsv",
    log:
        f"{LOGS}/gan/sanity.log",
    benchmark:
        f"{BENCHMARKS}/gan/sanity.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        settings=json.dumps({"sanity_n_boot": config["gan"]["sanity_n_boot"]}),
        cultures=CULTURES,
        seeds=GAN_SEEDS,
    shell:
        "python -m ganstyle gan-sanity --cultures {params.cultures} --seeds {params.seeds} --samples {input.samples:q}"
        " --corpus {input.corpora:q} --out-long {output.long:q} --out-matrix {output.matrix:q}"
        " --settings {params.settings:q} > {log} 2>&1"
