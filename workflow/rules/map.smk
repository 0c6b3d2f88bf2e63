# Stage 9b: the interactive image map, results/map/index.html: every held-out image as a thumbnail
# at a 2-D layout of one feature space (config map.space), with its typicality and nearest neighbours.

from ganstyle.io.files import MAP


rule image_map:
    """The image map: a folder that opens from file:// without a server (the report links to it)."""
    input:
        features=space_features(map_space(), "map.space"),
        corpora=all_corpora,
        typicality=rules.typicality.output[0],
        registry=REGISTRY_FILE,
    output:
        report(
            directory(f"{RESULTS}/{MAP.folder}"),
            htmlindex=MAP["index"],
            caption="../report/images_map.rst",
            category="Images",
            subcategory="Image map",
        ),
    log:
        f"{LOGS}/map/map.log",
    benchmark:
        f"{BENCHMARKS}/map/map.tsv"
    conda:
        "../envs/ganstyle.yaml"
    threads: 1
    params:
        settings=settings("map"),
        metadata="null",  # REGISTRY_FILE already holds the metadata table's cultures
        n_components=config["similarity"]["n_components"],
    shell:
        "python -m ganstyle map --features {input.features:q} --corpora {input.corpora:q} --typicality {input.typicality:q}"
        " --cultures-file {input.registry:q} --metadata {params.metadata:q} --n-components {params.n_components}"
        " --settings {params.settings:q} --threads {threads} --out {output:q} > {log} 2>&1"
