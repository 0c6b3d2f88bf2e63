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
        cultures=config["cultures"] or "null",
        metadata=json.dumps(config["metadata"]),
        outdir=lambda wildcards, output: os.path.dirname(output.images),
    shell:
        "python -m ganstyle ingest --culture {wildcards.culture} --cultures {params.cultures:q}"
        " --metadata {params.metadata:q} --settings {params.settings:q}"
        " --out {params.outdir:q} > {log} 2>&1"


rule metadata_report:
    """What the metadata table gave: rows read, used per culture, dropped per reason; the study's registry."""
    input:
        metadata_inputs,
    output:
        report=report(
            METADATA.path(RESULTS, "report"),
            caption="../report/ingest_metadata_report.rst",
            category="Corpus",
            subcategory="Tables",
        ),
        registry=METADATA.path(RESULTS, "registry"),
    log:
        f"{LOGS}/ingest/metadata_report.log",
    benchmark:
        f"{BENCHMARKS}/ingest/metadata_report.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        # changes when an image file appears or goes, which the table's date does not show
        study=lambda wildcards: STUDY.digest(),
        cultures=config["cultures"] or "null",
        metadata=json.dumps(config["metadata"]),
        settings=json.dumps({"min_images": config["ingest"]["min_images"]}),
    shell:
        "python -m ganstyle metadata-report --cultures {params.cultures:q} --metadata {params.metadata:q} --settings {params.settings:q}"
        " --out-report {output.report:q} --out-registry {output.registry:q} > {log} 2>&1"
