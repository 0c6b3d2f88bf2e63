# Stage 2c: the judge, a culture classifier of real images (not a GAN), and what it says of generated
# and translated images: is a sample of culture c recognisably c?


rule train_judge:
    """Train the judge on every culture's train split; its accuracy on held-out real images."""
    input:
        corpora=all_corpora,
    output:
        **{kind: JUDGE.path(RESULTS, kind) for kind in JUDGE_TRAINING},
    log:
        f"{LOGS}/judge/train.log",
    benchmark:
        f"{BENCHMARKS}/judge/train.tsv"
    # it needs only the corpora: ahead of the per-culture GANs, so that it is done when they are and
    # both translators (which wait for every GAN) can then run side by side
    priority: 21
    conda:
        "../envs/ganstyle.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        settings=settings("judge"),
        cultures=CULTURES,
        out=lambda wildcards, output: os.path.dirname(output.model),
    shell:
        "python -m ganstyle train-judge --cultures {params.cultures} --corpora {input.corpora:q} --out {params.out:q}"
        " --settings {params.settings:q} --threads {threads} --no-progress > {log} 2>&1"


rule judge_score:
    """The judge on each culture's GAN samples, the joint generator's samples per class, or translated held-out images."""
    input:
        judged=judge_score_images,
        corpora=judge_score_corpora,
        model=JUDGE.path(RESULTS, "model"),
        real=JUDGE.path(RESULTS, "real"),
    output:
        f"{RESULTS}/judge/{{kind}}.tsv",
    log:
        f"{LOGS}/judge/{{kind}}.log",
    benchmark:
        f"{BENCHMARKS}/judge/{{kind}}.tsv"
    wildcard_constraints:
        kind="|".join(JUDGE_SCORE_KINDS),
    conda:
        "../envs/ganstyle.yaml"
    params:
        cultures=CULTURES,
        seeds=GAN_SEEDS,
    shell:
        "python -m ganstyle judge-score --kind {wildcards.kind} --judge {input.model:q} --real {input.real:q} --cultures {params.cultures}"
        " --seeds {params.seeds} --inputs {input.judged:q} --corpora {input.corpora:q} --out {output:q} > {log} 2>&1"
