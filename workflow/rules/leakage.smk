# Stage 1b: images that two cultures share (a checkpoint: see common.smk for why).


checkpoint leakage:
    """Images that occur in more than one culture (exact or near duplicates)."""
    input:
        manifests=expand(f"{RESULTS}/ingest/{{culture}}/manifest.tsv", culture=CULTURES),
    output:
        report(
            f"{RESULTS}/corpus/leakage.tsv",
            caption="../report/corpus_leakage.rst",
            category="Corpus",
            subcategory="Tables",
        ),
    log:
        f"{LOGS}/ingest/leakage.log",
    benchmark:
        f"{BENCHMARKS}/ingest/leakage.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        settings=settings("ingest"),
    shell:
        "python -m ganstyle leakage --settings {params.settings:q} --out {output} {input.manifests} > {log} 2>&1"


rule leakage_rows:
    """One culture's rows of the leakage table, in a file named by their digest (see common.smk)."""
    input:
        ancient(f"{RESULTS}/corpus/leakage.tsv"),
    output:
        f"{RESULTS}/corpus/leakage/{{culture}}-{{digest}}.tsv",
    log:
        f"{LOGS}/corpus/{{culture}}-{{digest}}.leakage.log",
    benchmark:
        f"{BENCHMARKS}/corpus/{{culture}}-{{digest}}.leakage.tsv"
    # seconds each, and every corpus gates the joint GAN, the longest chain: all of them first
    priority: 40
    conda:
        "../envs/ganstyle.yaml"
    shell:
        "python -m ganstyle leakage-rows --leakage {input:q} --culture {wildcards.culture} --out {output:q} > {log} 2>&1"
