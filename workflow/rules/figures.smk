# Stage 8: publication figures (PDF + PNG + the plotted data as TSV) under results/figures/,
# each PNG in the Snakemake report with a caption from workflow/report/.


rule figure_corpus:
    """Example training images of every culture with its train / held-out counts."""
    input:
        corpora=all_corpora,
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/corpus/examples.png",
            caption="../report/corpus_examples.rst",
            category="Corpus",
            subcategory="Figures",
        ),
        other=figure_files(f"{FIGURES}/corpus/examples"),
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
        figure_command("corpus")
        + " --cultures {params.cultures} --corpora {input.corpora:q} --out {params.stem:q} > {log} 2>&1"


rule figure_training:
    """One culture: real vs generated images (first GAN seed), training curves (every seed)."""
    input:
        corpus=corpus_of("culture"),
        samples=f"{RESULTS}/gan/{{culture}}/seed{FIRST_GAN_SEED}/samples.npz",
        histories=lambda w: [
            f"{RESULTS}/gan/{w.culture}/seed{seed}/history.tsv"
            for seed in config["gan"]["seeds"]
        ],
        registry=config["cultures"],
    output:
        samples=report(
            f"{FIGURES}/training/{{culture}}_samples.png",
            caption="../report/training_samples.rst",
            category="Training",
            subcategory="Real vs generated",
            labels=culture_label,
        ),
        curves=report(
            f"{FIGURES}/training/{{culture}}_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
            subcategory="Training curves",
            labels=culture_label,
        ),
        other=figure_files(f"{FIGURES}/training/{{culture}}_samples")
        + figure_files(f"{FIGURES}/training/{{culture}}_curves"),
    log:
        f"{LOGS}/figures/training_{{culture}}.log",
    benchmark:
        f"{BENCHMARKS}/figures/training_{{culture}}.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        seed=FIRST_GAN_SEED,
        seeds=config["gan"]["seeds"],
        samples=lambda wildcards, output: os.path.splitext(output.samples)[0],
        curves=lambda wildcards, output: os.path.splitext(output.curves)[0],
    shell:
        figure_command("training")
        + " --culture {wildcards.culture} --corpus {input.corpus:q} --samples {input.samples:q} --sample-seed {params.seed}"
        " --histories {input.histories:q} --seeds {params.seeds} --out-samples {params.samples:q} --out-curves {params.curves:q} > {log} 2>&1"


rule figure_transfer:
    """Source x target grid of example translations (only with transfer pairs configured)."""
    input:
        examples=[
            f"{RESULTS}/transfer/{pair}/examples.npz"
            for pair in figure_transfer_pairs()
        ],
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/transfer/translations.png",
            caption="../report/transfer_grid.rst",
            category="Transfer",
        ),
        other=figure_files(f"{FIGURES}/transfer/translations"),
    log:
        f"{LOGS}/figures/transfer.log",
    benchmark:
        f"{BENCHMARKS}/figures/transfer.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        pairs=figure_transfer_pairs(),
        stem=output_stem,
    shell:
        figure_command("transfer")
        + " --pairs {params.pairs} --examples {input.examples:q} --out {params.stem:q} > {log} 2>&1"


rule figure_heatmaps:
    """Clustered heatmap (average-linkage tree of the cluster rule) of every distance measure."""
    input:
        similarity=f"{RESULTS}/similarity/similarity.tsv",
        measures=f"{RESULTS}/similarity/measures.tsv",
        distances=f"{RESULTS}/similarity/distances.npz",
        linkage=f"{RESULTS}/clustering/linkage.tsv",
        registry=config["cultures"],
    output:
        report(
            directory(f"{FIGURES}/heatmaps"),
            patterns=["{measure}.png"],
            caption="../report/similarity_heatmap.rst",
            category="Similarity",
            subcategory="Clustered heatmaps",
            labels=measure_labels,
        ),
    log:
        f"{LOGS}/figures/heatmaps.log",
    benchmark:
        f"{BENCHMARKS}/figures/heatmaps.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
    shell:
        figure_command("heatmaps")
        + " --similarity {input.similarity:q} --measures {input.measures:q} --distances {input.distances:q}"
        " --linkage {input.linkage:q} --out {output:q} > {log} 2>&1"


rule figure_critic_auc:
    """The directed critic AUC matrix: critic of the row culture on held-out images of the column culture."""
    input:
        similarity=f"{RESULTS}/similarity/similarity.tsv",
        distances=f"{RESULTS}/similarity/distances.npz",
        linkage=f"{RESULTS}/clustering/linkage.tsv",
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/critic_auc.png",
            caption="../report/similarity_critic_auc.rst",
            category="Similarity",
            subcategory="Critic AUC",
        ),
        other=figure_files(f"{FIGURES}/critic_auc"),
    log:
        f"{LOGS}/figures/critic_auc.log",
    benchmark:
        f"{BENCHMARKS}/figures/critic_auc.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("critic-auc")
        + " --similarity {input.similarity:q} --distances {input.distances:q} --linkage {input.linkage:q}"
        " --out {params.stem:q} > {log} 2>&1"


rule figure_neighbours:
    """Forest plot per distance measure: each culture's nearest cultures with intervals and its noise floor."""
    input:
        similarity=f"{RESULTS}/similarity/similarity.tsv",
        floors=f"{RESULTS}/similarity/floors.tsv",
        measures=f"{RESULTS}/similarity/measures.tsv",
        distances=f"{RESULTS}/similarity/distances.npz",
        registry=config["cultures"],
    output:
        report(
            directory(f"{FIGURES}/neighbours"),
            patterns=["{measure}.png"],
            caption="../report/similarity_neighbours.rst",
            category="Similarity",
            subcategory="Nearest neighbours",
            labels=measure_labels,
        ),
    log:
        f"{LOGS}/figures/neighbours.log",
    benchmark:
        f"{BENCHMARKS}/figures/neighbours.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
    shell:
        figure_command("neighbours")
        + " --similarity {input.similarity:q} --floors {input.floors:q} --measures {input.measures:q}"
        " --distances {input.distances:q} --out {output:q} > {log} 2>&1"


rule figure_dendrograms:
    """Dendrogram with bootstrap node support of every (measure, linkage) the cluster rule built."""
    input:
        linkage=f"{RESULTS}/clustering/linkage.tsv",
        distances=f"{RESULTS}/similarity/distances.npz",
        registry=config["cultures"],
    output:
        report(
            directory(f"{FIGURES}/dendrograms"),
            patterns=["{measure}__{method}.png"],
            caption="../report/clustering_dendrogram.rst",
            category="Clustering",
            subcategory="Dendrograms",
            labels=measure_labels,
        ),
    log:
        f"{LOGS}/figures/dendrograms.log",
    benchmark:
        f"{BENCHMARKS}/figures/dendrograms.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
    shell:
        figure_command("dendrograms")
        + " --linkage {input.linkage:q} --distances {input.distances:q} --out {output:q} > {log} 2>&1"


rule figure_mds:
    """MDS map of every distance measure, cultures coloured by group, with bootstrap ellipses."""
    input:
        mds=f"{RESULTS}/clustering/mds.tsv",
        mds_bootstrap=f"{RESULTS}/clustering/mds_bootstrap.tsv",
        registry=config["cultures"],
    output:
        report(
            directory(f"{FIGURES}/mds"),
            patterns=["{measure}.png"],
            caption="../report/clustering_mds.rst",
            category="Clustering",
            subcategory="MDS maps",
            labels=measure_labels,
        ),
    log:
        f"{LOGS}/figures/mds.log",
    benchmark:
        f"{BENCHMARKS}/figures/mds.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
    shell:
        figure_command("mds")
        + " --mds {input.mds:q} --mds-bootstrap {input.mds_bootstrap:q} --out {output:q} > {log} 2>&1"


rule figure_mantel:
    """Mantel scatter plots: every GAN distance against its baseline, geography and user matrices."""
    input:
        distances=f"{RESULTS}/similarity/distances.npz",
        measures=f"{RESULTS}/similarity/measures.tsv",
        mantel=f"{RESULTS}/stats/mantel.tsv",
        external=[entry["path"] for entry in config["stats"]["external_matrices"]],
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/mantel.png",
            caption="../report/stats_mantel_figure.rst",
            category="Statistical tests",
            subcategory="Figures",
        ),
        other=figure_files(f"{FIGURES}/mantel"),
    log:
        f"{LOGS}/figures/mantel.log",
    benchmark:
        f"{BENCHMARKS}/figures/mantel.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        external=[
            f"{entry['name']}={entry['path']}"
            for entry in config["stats"]["external_matrices"]
        ],
        stem=output_stem,
    shell:
        figure_command("mantel")
        + " --distances {input.distances:q} --measures {input.measures:q} --mantel {input.mantel:q}"
        " --external {params.external:q} --out {params.stem:q} > {log} 2>&1"


rule figure_summary:
    """Table figure: ARI/NMI of every clustering against the groups, PERMANOVA."""
    input:
        ari_nmi=f"{RESULTS}/stats/ari_nmi.tsv",
        permanova=f"{RESULTS}/stats/permanova.tsv",
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/summary.png",
            caption="../report/stats_summary_figure.rst",
            category="Statistical tests",
            subcategory="Figures",
        ),
        other=figure_files(f"{FIGURES}/summary"),
    log:
        f"{LOGS}/figures/summary.log",
    benchmark:
        f"{BENCHMARKS}/figures/summary.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("summary")
        + " --ari-nmi {input.ari_nmi:q} --permanova {input.permanova:q} --out {params.stem:q} > {log} 2>&1"


rule figure_group_recovery:
    """Every measure's recovery of the known groups beside its untrained control and the baseline."""
    input:
        group_recovery=rules.stats.output.group_recovery,
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/group_recovery.png",
            caption="../report/stats_group_recovery_figure.rst",
            category="Statistical tests",
            subcategory="Figures",
        ),
        other=figure_files(f"{FIGURES}/group_recovery"),
    log:
        f"{LOGS}/figures/group_recovery.log",
    benchmark:
        f"{BENCHMARKS}/figures/group_recovery.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("group-recovery")
        + " --group-recovery {input.group_recovery:q} --out {params.stem:q} > {log} 2>&1"


rule figure_seed_stability:
    """Mantel r between GAN seeds of every per-seed measure."""
    input:
        seed_stability=rules.stats.output.seed_stability,
        measures=rules.similarity.output.measures,
        registry=config["cultures"],
    output:
        png=report(
            f"{FIGURES}/seed_stability.png",
            caption="../report/stats_seed_stability_figure.rst",
            category="Statistical tests",
            subcategory="Figures",
        ),
        other=figure_files(f"{FIGURES}/seed_stability"),
    log:
        f"{LOGS}/figures/seed_stability.log",
    benchmark:
        f"{BENCHMARKS}/figures/seed_stability.tsv"
    conda:
        "../envs/ganstyle.yaml"
    params:
        **FIGURE_PARAMS,
        stem=output_stem,
    shell:
        figure_command("seed-stability")
        + " --seed-stability {input.seed_stability:q} --measures {input.measures:q} --out {params.stem:q} > {log} 2>&1"
