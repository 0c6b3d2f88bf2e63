# Stage 4: every culture's held-out images through every critic, and through the reference extractor.

def heldout_corpora():
    """Every culture's corpus, in registry order (the extract-features CLI keeps only held-out images)."""
    return expand(f"{RESULTS}/corpus/{{culture}}/images.npz", culture=CULTURES)


def critic_feature_files():
    """Every culture's critic features, for every GAN seed."""
    return expand(f"{RESULTS}/features/critic_{{culture}}/seed{{seed}}.npz", culture=CULTURES, seed=config["gan"]["seeds"])


rule extract_features:
    """Penultimate features and logits of one culture's critic (one GAN seed) on all held-out images."""
    input:
        critic=f"{RESULTS}/gan/{{culture}}/seed{{seed}}/discriminator.keras",
        corpora=heldout_corpora(),
    output:
        f"{RESULTS}/features/critic_{{culture}}/seed{{seed}}.npz",
    params:
        cultures=" ".join(CULTURES),
    log:
        f"{LOGS}/features/critic_{{culture}}_seed{{seed}}.log",
    shell:
        "python -m ganstyle extract-features --critic {input.critic:q} --critic-culture {wildcards.culture}"
        " --seed {wildcards.seed} --cultures {params.cultures} --corpora {input.corpora:q}"
        " --out {output:q} > {log} 2>&1"


rule reference_features:
    """Non-GAN reference features of all held-out images: the baseline space."""
    input:
        corpora=heldout_corpora(),
    output:
        f"{RESULTS}/features/reference.npz",
    params:
        cultures=" ".join(CULTURES),
    log:
        f"{LOGS}/features/reference.log",
    shell:
        "python -m ganstyle extract-features --reference --cultures {params.cultures}"
        " --corpora {input.corpora:q} --out {output:q} > {log} 2>&1"
