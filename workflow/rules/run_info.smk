# Provenance: what the run ran on (code, config, library versions, CPU or GPU, threads, precision).

from ganstyle.io.files import RUN_INFO


rule run_info:
    """Code version, config hash, library versions, CPU or GPU, threads and the precision every training used."""
    input:
        training=training_metrics(),
    output:
        json=report(RUN_INFO.path(RESULTS, "json"), caption="../report/run_info.rst", category="Run information"),
        html=report(RUN_INFO.path(RESULTS, "html"), caption="../report/run_info.rst", category="Run information"),
    log:
        f"{LOGS}/run_info.log",
    benchmark:
        f"{BENCHMARKS}/run_info/run_info.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        # the whole validated config as given: its hash is recorded, and a changed config writes the file again
        config=json.dumps(USER_CONFIG, sort_keys=True),
    shell:
        "python -m ganstyle run-info --config-json {params.config:q} --training-metrics {input.training:q}"
        " --out-json {output.json:q} --out-html {output.html:q} > {log} 2>&1"
