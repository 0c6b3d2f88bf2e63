# Stage 4: every culture's held-out images through the critics of each seed (and their untrained
# controls), and through the reference extractor.


rule extract_features:
    """Features and logits of the per-culture critics, the joint critic and both untrained controls (one seed)."""
    input:
        critics=[GAN_RUN.path(RESULTS, "discriminator", culture=culture, seed="{seed}") for culture in CULTURES],
        joint=lambda wildcards: joint_critics(wildcards.seed),
        corpora=all_corpora,
    output:
        [f"{RESULTS}/features/{space}/seed{{seed}}.npz" for space in FEATURE_SPACES],
    log:
        f"{LOGS}/features/critics_seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/features/critics_seed{{seed}}.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        cultures=CULTURES,
        settings=gan_settings("seeds", "sanity_n_boot"),
        joint=settings("joint"),
        # results/features: the folder above the outputs' space folders
        outdir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
    shell:
        "python -m ganstyle extract-features --seed {wildcards.seed} --cultures {params.cultures} --corpora {input.corpora:q}"
        " --critics {input.critics:q} --joint-critics {input.joint:q} --settings {params.settings:q} --joint {params.joint:q}"
        " --out-dir {params.outdir:q} > {log} 2>&1"


rule reference_features:
    """Non-GAN reference features of all held-out images: the baseline space."""
    input:
        corpora=all_corpora,
    output:
        f"{RESULTS}/features/reference.npz",
    log:
        f"{LOGS}/features/reference.log",
    benchmark:
        f"{BENCHMARKS}/features/reference.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        cultures=" ".join(CULTURES),
    shell:
        "python -m ganstyle extract-features --reference --cultures {params.cultures} --corpora {input.corpora:q} --out {output:q} > {log} 2>&1"
