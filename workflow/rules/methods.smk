# The methods text: written from the validated config, the measure registry and run_info, with references.

from ganstyle.io.files import METHODS


rule methods:
    """A methods section to paste into a paper, generated from what this run did (results/methods.md)."""
    input:
        run_info=RUN_INFO.path(RESULTS, "json"),
        measures=SIMILARITY.path(RESULTS, "measures"),
    output:
        markdown=report(METHODS.path(RESULTS, "markdown"), caption="../report/methods.rst", category="Methods"),
    log:
        f"{LOGS}/methods.log",
    benchmark:
        f"{BENCHMARKS}/methods/methods.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        config=json.dumps(config, sort_keys=True),
    shell:
        "python -m ganstyle methods --config-json {params.config:q} --run-info {input.run_info:q}"
        " --measures {input.measures:q} --out {output.markdown:q} > {log} 2>&1"
