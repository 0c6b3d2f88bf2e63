# Stage 1c: each culture's final training set.


rule corpus:
    """Final training set of one culture: leaked images dropped, train/held-out split by hash."""
    input:
        images=rules.ingest.output.images,
        manifest=rules.ingest.output.manifest,
        rejects=rules.ingest.output.rejects,
        leakage=leaked_rows_file,
    output:
        images=f"{RESULTS}/corpus/{{culture}}/images.npz",
        manifest=report(
            f"{RESULTS}/corpus/{{culture}}/manifest.tsv",
            caption="../report/corpus_manifest.rst",
            category="Corpus",
            subcategory="Kept images",
            labels={"culture": "{culture}"},
        ),
        rejects=report(
            f"{RESULTS}/corpus/{{culture}}/rejects.tsv",
            caption="../report/corpus_rejects.rst",
            category="Corpus",
            subcategory="Rejected files",
            labels={"culture": "{culture}"},
        ),
    log:
        f"{LOGS}/corpus/{{culture}}.log",
    benchmark:
        f"{BENCHMARKS}/corpus/{{culture}}.tsv"
    # seconds each, and every corpus gates the joint GAN, the longest chain: all of them first
    priority: 40
    conda:
        "../envs/ganstyle.yaml"
    params:
        settings=settings("ingest"),
        ingested=lambda wildcards, input: os.path.dirname(input.images),
        outdir=lambda wildcards, output: os.path.dirname(output.images),
    shell:
        "python -m ganstyle corpus --culture {wildcards.culture} --settings {params.settings:q}"
        " --leakage {input.leakage:q} --ingested {params.ingested:q}"
        " --out {params.outdir:q} > {log} 2>&1"
