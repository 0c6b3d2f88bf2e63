# The methods text: written from the validated config, the measure registry and run_info, with references.

from ganstyle.io.files import METHODS


rule methods:
    """A methods section to paste into a paper, generated from what this run did, with the primary result filled in (results/methods.md)."""
    input:
        run_info=RUN_INFO.path(RESULTS, "json"),
        measures=SIMILARITY.path(RESULTS, "measures"),
        recovery=STATS.path(RESULTS, "group_recovery"),
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
        cultures=len(CULTURES),
    shell:
        "python -m ganstyle methods --config-json {params.config:q} --run-info {input.run_info:q}"
        " --measures {input.measures:q} --group-recovery {input.recovery:q} --cultures {params.cultures}"
        " --out {output.markdown:q} > {log} 2>&1"
