# Stage 1: from image folders to clean, fixed-size, de-duplicated training sets.


rule ingest:
    """Decode, normalise, reject and hash every image of one culture."""
    output:
        images=f"{RESULTS}/ingest/{{culture}}/images.npz",
        manifest=f"{RESULTS}/ingest/{{culture}}/manifest.tsv",
        rejects=f"{RESULTS}/ingest/{{culture}}/rejects.tsv",
    log:
        f"{LOGS}/ingest/{{culture}}.log",
    benchmark:
        f"{BENCHMARKS}/ingest/{{culture}}.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        fingerprint=source_fingerprint,
        settings=settings("ingest"),
        cultures=config["cultures"],
        metadata=json.dumps(config["metadata"]),
        outdir=lambda wildcards, output: os.path.dirname(output.images),
    shell:
        "python -m ganstyle ingest --culture {wildcards.culture} --cultures {params.cultures:q}"
        " --metadata {params.metadata:q} --settings {params.settings:q}"
        " --out {params.outdir:q} > {log} 2>&1"


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
    conda:
        "../envs/ganstyle.yaml"
    shell:
        "python -m ganstyle leakage-rows --leakage {input:q} --culture {wildcards.culture} --out {output:q} > {log} 2>&1"


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
