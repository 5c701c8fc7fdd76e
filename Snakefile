# Reproduction workflow: train -> aggregate -> figures -> report (see README.md).
# The default config is config/config.yaml; layer others with --configfile config/paper.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        paths.REPORT_PDF,
    default_target: True
