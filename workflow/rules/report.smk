rule report_tables:
    """Generated LaTeX (macros and tables) for one experiment; every number comes from here."""
    input:
        final=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/final.csv",
        runs=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/runs.csv",
        stats=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/stats.json",
        references="report/data/reference_returns.csv",
    output:
        "report/generated/{experiment}.tex",
    wildcard_constraints:
        experiment="|".join(map(re.escape, config["experiments"])),
    params:
        panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
    log:
        "results/logs/report/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "python -m rlrepro.reporting.tables --experiment {wildcards.experiment} --final {input.final} --runs {input.runs} "
        "--stats {input.stats} --panels {params.panels:q} --references {input.references} --output {output} 2> {log}"


rule report_pdf:
    """Compile report/report.tex with latexmk."""
    input:
        tex="report/report.tex",
        sections=list(Path("report/sections").glob("*.tex")),
        generated=[f"report/generated/{name}.tex" for name in config["experiments"]],
        provenance="report/generated/provenance.tex",
        claims="report/generated/claims.tex",
        robust="report/generated/robust.tex",
        robust_figures=expand("results/figures/robust_{paper}.pdf", paper=PAPERS),
        figures=[f for name in config["experiments"] for f in figure_files(name)],
    output:
        report("report/report.pdf", caption="../report/report_pdf.rst", category="Report"),
    log:
        "results/logs/report/latexmk.log",
    conda:
        "../../envs/report.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "latexmk -pdf -interaction=nonstopmode -halt-on-error -cd {input.tex} > {log} 2>&1"


rule provenance:
    """Title-page facts, open parameters, hyperparameter tables and the provenance appendix (generated LaTeX)."""
    input:
        runs=expand("results/aggregate/{paper}/runs.csv", paper=PAPERS),
        open_parameters="config/open_parameters.yaml",
    output:
        "report/generated/provenance.tex",
    params:
        config=json.dumps(config, sort_keys=True),
        aggregate_dir=lambda w, input: Path(input.runs[0]).parent.parent,
    log:
        "results/logs/report/provenance.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "python -m rlrepro.reporting.provenance --aggregate {params.aggregate_dir} --config-json {params.config:q} "
        "--open-parameters {input.open_parameters} --output {output} 2> {log}"


rule claims:
    """Every claim of config/claims.yaml evaluated on the aggregated runs: verdict, statistic, interval."""
    input:
        claims="config/claims.yaml",
        runs=expand("results/aggregate/{paper}/runs.csv", paper=PAPERS),
        tidy=expand("results/aggregate/{paper}/tidy.csv.gz", paper=PAPERS),
        human_scores="report/data/atari_human_random.csv",
    output:
        table="results/aggregate/claims.csv",
        tex="report/generated/claims.tex",
    params:
        analysis=json.dumps(config["analysis"], sort_keys=True),
        aggregate_dir=lambda w, input: Path(input.runs[0]).parent.parent,
    log:
        "results/logs/report/claims.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "python -m rlrepro.analysis.claims --claims {input.claims} --aggregate {params.aggregate_dir} --analysis {params.analysis:q} "
        "--human-scores {input.human_scores} --output {output.table} --tex {output.tex} > {log} 2>&1"
