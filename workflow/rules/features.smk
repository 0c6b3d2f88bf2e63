# Stage 4: every culture's held-out images through every critic, and through the reference extractor.


rule extract_features:
    """Penultimate features and logits of one culture's critic (one GAN seed) on all held-out images."""
    input:
        critic=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/discriminator.keras",
        corpora=all_corpora,
    output:
        f"{RESULTS}/features/critic_{{culture}}/seed{{seed}}.npz",
    params:
        cultures=" ".join(CULTURES),
    conda:
        "../envs/ganstyle.yaml"
    log:
        f"{LOGS}/features/critic_{{culture}}_seed{{seed}}.log",
    shell:
        "python -m ganstyle extract-features --critic {input.critic:q} --critic-culture {wildcards.culture}"
        " --seed {wildcards.seed} --cultures {params.cultures} --corpora {input.corpora:q}"
        " --out {output:q} > {log} 2>&1"


rule reference_features:
    """Non-GAN reference features of all held-out images: the baseline space."""
    input:
        corpora=all_corpora,
    output:
        f"{RESULTS}/features/reference.npz",
    params:
        cultures=" ".join(CULTURES),
    conda:
        "../envs/ganstyle.yaml"
    log:
        f"{LOGS}/features/reference.log",
    shell:
        "python -m ganstyle extract-features --reference --cultures {params.cultures}"
        " --corpora {input.corpora:q} --out {output:q} > {log} 2>&1"
