# Stage 2: one GAN per culture and seed; its discriminator is the culture's critic.


rule train_gan:
    """Train one culture's GAN; resumes from results/checkpoints/gan/{culture}/seed{seed}/ if a job was killed."""
    input:
        corpus=corpus_of("culture"),
    output:
        generator=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/generator.keras",
        discriminator=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/discriminator.keras",
        samples_png=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/samples.png",
        samples=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/samples.npz",
        history=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/history.tsv",
        metrics=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/metrics.json",
    params:
        settings=gan_settings("seeds", "sanity_n_boot"),
        # not an output: Snakemake must not delete checkpoints of a failed or killed job
        checkpoints=f"{RESULTS}/checkpoints/gan/{{culture}}/seed{{seed}}",
        out=f"{RESULTS}/gan/{{culture}}/seed{{seed}}",
    # two trainings side by side: on the 2-core demo machine two 1-thread jobs
    # train ~20% more steps per second in total than one 2-thread job
    # one thread per job: on a CPU machine several cultures then train side by side,
    # which uses cores better than one multi-threaded job (profiles may raise it)
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/ganstyle.yaml"
    log:
        f"{LOGS}/gan/{{culture}}_seed{{seed}}.log",
    shell:
        "python -m ganstyle train-gan --corpus {input.corpus:q} --culture {wildcards.culture} --seed {wildcards.seed}"
        " --out {params.out:q} --checkpoints {params.checkpoints:q}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule gan_sanity:
    """KID of every culture's generator (first seed) against every culture's held-out images."""
    input:
        samples=expand(f"{RESULTS}/gan/{{culture}}/seed{GAN_SEEDS[0]}/samples.npz", culture=CULTURES),
        corpora=all_corpora,
    output:
        long=f"{RESULTS}/gan/sanity_kid.tsv",
        matrix=f"{RESULTS}/gan/sanity_kid_matrix.tsv",
    params:
        settings=json.dumps({"sanity_n_boot": config["gan"]["sanity_n_boot"], "seeds": GAN_SEEDS[:1]}),
        cultures=CULTURES,
    conda:
        "../envs/ganstyle.yaml"
    log:
        f"{LOGS}/gan/sanity.log",
    shell:
        "python -m ganstyle gan-sanity --cultures {params.cultures} --samples {input.samples:q}"
        " --corpus {input.corpora:q} --out-long {output.long:q} --out-matrix {output.matrix:q}"
        " --settings {params.settings:q} > {log} 2>&1"
