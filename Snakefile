# ganstyle: stylistic differences between cultures, measured with GAN critics.
#
# Method, in the order the rules run:
#   1. ingest     - each culture's images (a registry folder, or a museum export's rows: each row used
#                   or dropped with a reason) are decoded, cleaned, de-duplicated and split
#                   (train / held-out) by content hash; images shared by two cultures are dropped.
#   2. gan        - one GAN per culture (and seed); its discriminator becomes the culture's critic;
#                   and one joint critic: a class-conditional GAN over all cultures (per seed).
#   2c. judge     - a culture classifier of real images (not a GAN): are the generated images recognisably their culture?
#   3. transfer   - one translator per joint GAN (an encoder inverting its generator) serves every pair of cultures:
#                   how far must an image move to pass as another culture's?
#   4. features   - every culture's held-out images through every critic and its untrained control,
#                   and through a non-GAN reference extractor.
#   5. similarity - culture x culture distances with bootstrap intervals and split-half noise floors.
#   6. clustering - hierarchical clustering with bootstrap support, MDS maps.
#   7. stats      - group recovery of every measure next to its controls, seed stability,
#                   PERMANOVA/PERMDISP, Mantel tests.
#   8. figures    - publication figures and the Snakemake report.
#   9. images     - the images behind the numbers: each held-out image's typicality under every
#                   culture's critic (typical and atypical images, bridges between cultures), and
#                   an interactive map of all held-out images that opens offline, and the joint
#                   generator moved between close cultures, read by the judge (interpolations).
#  10. run_info   - what the run ran on: code, config hash, versions, CPU/GPU, threads, precision.
#  11. methods    - a methods text with references, written from the config, the measure registry and run_info.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/leakage.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/joint.smk"
include: "workflow/rules/judge.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/clustering.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/typicality.smk"
include: "workflow/rules/map.smk"
include: "workflow/rules/interpolation.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/run_info.smk"
include: "workflow/rules/methods.smk"


rule all:
    default_target: True
    input:
        all_corpora,
        metadata_targets(),
        gan_targets(),
        transfer_targets(),
        judge_targets(),
        analysis_targets(),
        image_targets(),
        figure_targets(),
        rules.run_info.output,
        rules.methods.output,


# where the time went: results/benchmarks/{jobs,stages}.tsv from every rule's benchmark file
onsuccess:
    if Path(BENCHMARKS).is_dir():
        shell("python -m ganstyle benchmark-summary --benchmarks {BENCHMARKS:q} > {LOGS}/benchmark_summary.log 2>&1")
