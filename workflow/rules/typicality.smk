# Stage 9a: how typical of each culture every held-out image is, by every culture's critic
# (the critics of config typicality.space), for the image figures and the image map.

from ganstyle.io.files import IMAGES


rule typicality:
    """Every held-out image's logit under every culture's critic, averaged over snapshots and seeds."""
    input:
        features=space_features(config["typicality"]["space"], "typicality.space"),
        corpora=all_corpora,
    output:
        IMAGES.path(RESULTS, "typicality"),
    log:
        f"{LOGS}/typicality/typicality.log",
    benchmark:
        f"{BENCHMARKS}/typicality/typicality.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        # the corpora's manifests name each image's source file
        manifests=lambda wildcards, input: [os.path.join(os.path.dirname(path), "manifest.tsv") for path in input.corpora],
        settings=settings("typicality"),
    shell:
        "python -m ganstyle typicality --features {input.features:q} --manifests {params.manifests:q} --settings {params.settings:q} --out {output:q} > {log} 2>&1"
