# Stage 9c: what lies between two styles: the joint generator moved from culture a to culture b with
# fixed noise, for the pairs of the bridges figure, and the judge's p(b) along each strip.

from ganstyle.io.files import IMAGES


rule interpolate:
    """The joint generator (first GAN seed) from a to b in config interpolation.steps steps, judged."""
    input:
        generator=JOINT_RUN.path(RESULTS, "generator", seed=FIRST_GAN_SEED),
        judge=JUDGE.path(RESULTS, "model"),
        measures=rules.similarity.output.measures,
        matrices=rules.similarity.output.matrices,
    output:
        images=IMAGES.path(RESULTS, "interpolations"),
        table=IMAGES.path(RESULTS, "interpolations_table"),
    log:
        f"{LOGS}/images/interpolations.log",
    benchmark:
        f"{BENCHMARKS}/images/interpolations.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        cultures=CULTURES,
        settings=settings("interpolation"),
        figure_settings=settings("figures"),
        out=lambda wildcards, output: os.path.dirname(output.images),
    shell:
        "python -m ganstyle interpolate --generator {input.generator:q} --judge {input.judge:q} --cultures {params.cultures}"
        " --measures {input.measures:q} --matrices {input.matrices:q} --figure-settings {params.figure_settings:q}"
        " --settings {params.settings:q} --out {params.out:q} > {log} 2>&1"
