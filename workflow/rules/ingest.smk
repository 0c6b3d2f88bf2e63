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
