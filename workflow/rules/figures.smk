# Stage 8: publication figures (PDF + PNG + the plotted data as TSV) under results/figures/,
# each PNG in the Snakemake report with a caption from workflow/report/.
#
# Every family's outputs and report entries come from its record in ganstyle/figures/
# (figure_outputs in common.smk). A family whose every option is a results file gets its
# whole rule from the record (the loop at the end); the others are written out here.


rule figure_corpus:
    """Example training images of every culture with its train / held-out counts."""
    input:
        corpora=all_corpora,
        registry=REGISTRY_FILE,
    output:
        **figure_outputs("corpus"),
    log:
        f"{LOGS}/figures/corpus.log",
    benchmark:
        f"{BENCHMARKS}/figures/corpus.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        cultures=CULTURES,
        stem=output_stem,
    shell:
        figure_command("corpus") + " --cultures {params.cultures} --corpora {input.corpora:q} --out {params.stem:q} > {log} 2>&1"


rule figure_training:
    """One culture: real vs generated images (first GAN seed), training curves (every seed)."""
    input:
        corpus=corpus_of("culture"),
        samples=GAN_RUN.path(RESULTS, "samples", culture="{culture}", seed=FIRST_GAN_SEED),
        histories=[GAN_RUN.path(RESULTS, "history", culture="{culture}", seed=seed) for seed in GAN_SEEDS],
        registry=REGISTRY_FILE,
    output:
        **figure_outputs("training"),
    log:
        f"{LOGS}/figures/training_{{culture}}.log",
    benchmark:
        f"{BENCHMARKS}/figures/training_{{culture}}.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        seed=FIRST_GAN_SEED,
        seeds=GAN_SEEDS,
        samples=lambda wildcards, output: os.path.splitext(output.samples)[0],
        curves=lambda wildcards, output: os.path.splitext(output.curves)[0],
    shell:
        figure_command("training") + " --culture {wildcards.culture} --corpus {input.corpus:q} --samples {input.samples:q} --sample-seed {params.seed}"
        " --histories {input.histories:q} --seeds {params.seeds} --out-samples {params.samples:q} --out-curves {params.curves:q} > {log} 2>&1"


rule figure_translations:
    """Held-out images of every culture translated into every culture (first GAN seed's translator)."""
    input:
        translations=TRANSLATOR_RUN.path(RESULTS, "translations", seed=FIRST_GAN_SEED),
        registry=REGISTRY_FILE,
    output:
        **figure_outputs("translations"),
    log:
        f"{LOGS}/figures/translations.log",
    benchmark:
        f"{BENCHMARKS}/figures/translations.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("translations") + " --translations {input.translations:q} --out {params.stem:q} > {log} 2>&1"


rule figure_mantel:
    """Mantel scatter plots: every GAN distance against its baseline, geography and user matrices."""
    input:
        distances=rules.similarity.output.distances,
        measures=rules.similarity.output.measures,
        mantel=rules.stats.output.mantel,
        external=external_matrix_files(),
        registry=REGISTRY_FILE,
    output:
        **figure_outputs("mantel"),
    log:
        f"{LOGS}/figures/mantel.log",
    benchmark:
        f"{BENCHMARKS}/figures/mantel.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        external=[f"{entry['name']}={entry['path']}" for entry in config["stats"]["external_matrices"]],
        stem=output_stem,
    shell:
        figure_command("mantel") + " --distances {input.distances:q} --measures {input.measures:q} --mantel {input.mantel:q}"
        " --external {params.external:q} --out {params.stem:q} > {log} 2>&1"


rule figure_typical:
    """Each culture's most and least typical held-out images by its critic (config typicality.space)."""
    input:
        typicality=rules.typicality.output[0],
        corpora=all_corpora,
        registry=REGISTRY_FILE,
    output:
        **figure_outputs("typical"),
    log:
        f"{LOGS}/figures/typical.log",
    benchmark:
        f"{BENCHMARKS}/figures/typical.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("typical") + " --typicality {input.typicality:q} --corpora {input.corpora:q} --out {params.stem:q} > {log} 2>&1"


rule figure_bridges:
    """The closest pairs of cultures (config figures.bridges_*) and the images of each that the other's critic finds most like its own."""
    input:
        typicality=rules.typicality.output[0],
        measures=rules.similarity.output.measures,
        matrices=rules.similarity.output.matrices,
        corpora=all_corpora,
        registry=REGISTRY_FILE,
    output:
        **figure_outputs("bridges"),
    log:
        f"{LOGS}/figures/bridges.log",
    benchmark:
        f"{BENCHMARKS}/figures/bridges.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("bridges") + " --typicality {input.typicality:q} --measures {input.measures:q} --matrices {input.matrices:q}"
        " --corpora {input.corpora:q} --out {params.stem:q} > {log} 2>&1"


# heatmaps, critic-auc, dendrograms, mds, neighbours, summary, group-recovery, seed-stability:
# every option is a results file, so the record says all the rule needs (Family.generated_rule)
for family in FAMILIES:
    if not family.generated_rule:
        continue

    rule:
        name:
            f"figure_{family.slug}"
        input:
            **figure_inputs(family.name),
            registry=REGISTRY_FILE,
        output:
            **figure_outputs(family.name),
        log:
            f"{LOGS}/figures/{family.slug}.log",
        benchmark:
            f"{BENCHMARKS}/figures/{family.slug}.tsv"
        conda:
            "../envs/ganstyle.yaml"
        params:
            **figure_params(family.name),
        shell:
            GENERATED_FIGURE_COMMAND
