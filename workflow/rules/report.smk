rule report_tables:
    """Generated LaTeX (macros and tables) for one experiment; every number comes from here."""
    input:
        final=paper_aggregate("final"),
        runs=paper_aggregate("runs"),
        stats=paper_aggregate("stats"),
        references="report/data/reference_returns.csv",
    output:
        paths.generated_tex("{experiment}"),
    wildcard_constraints:
        experiment="|".join(map(re.escape, config["experiments"])),
    params:
        panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
    log:
        paths.log("report", "{experiment}"),
    benchmark:
        paths.benchmark("report_tables", "{experiment}")
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "python -m rlrepro.reporting.tables --experiment {wildcards.experiment} --final {input.final} "
        "--runs {input.runs} --stats {input.stats} --panels {params.panels:q} "
        "--references {input.references} --output {output} 2> {log}"


rule report_pdf:
    """Compile report/report.tex with latexmk."""
    input:
        tex="report/report.tex",
        sections=list(Path("report/sections").glob("*.tex")),
        generated=[paths.generated_tex(name) for name in EXPERIMENTS],
        provenance=paths.generated_tex("provenance"),
        claims=paths.generated_tex("claims"),
        robust=paths.generated_tex("robust"),
        robust_figures=[paths.robust_figure(paper) for paper in PAPERS],
        figures=[f for name in EXPERIMENTS for f in figure_files(name)],
    output:
        report(paths.REPORT_PDF, caption="../report/report_pdf.rst", category="Report"),
    log:
        paths.log("report", "latexmk"),
    benchmark:
        paths.benchmark("report_pdf", "report")
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
        runs=all_papers_aggregate("runs"),
        open_parameters="config/open_parameters.yaml",
        # Not read: they make this job run after every other stage but latexmk, so that its compute table
        # (from the benchmark records) holds them.
        after=[paths.generated_tex(name) for name in [*EXPERIMENTS, "claims", "robust"]]
        + [paths.robust_figure(paper) for paper in PAPERS]
        + [f for name in EXPERIMENTS for f in figure_files(name)],
        missing=all_papers_aggregate("missing"),
        archive_check=archive_check_input,
    output:
        paths.generated_tex("provenance"),
    params:
        archive_check=lambda w, input: f"--archive-check {input.archive_check}" if input.archive_check else "",
        # report-only mode: an experiment without any run is reported as not run (its runs listed as missing)
        config=json.dumps({**config, "experiments": {name: config["experiments"][name] for name in EXPERIMENTS}},
                          sort_keys=True),
        aggregate_dir=lambda w, input: Path(input.runs[0]).parent.parent,
        benchmarks=paths.BENCHMARK_DIR,
    log:
        paths.log("report", "provenance"),
    benchmark:
        paths.benchmark("provenance", "provenance")
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "python -m rlrepro.reporting.provenance --aggregate {params.aggregate_dir} --config-json {params.config:q} "
        "--open-parameters {input.open_parameters} --benchmarks {params.benchmarks} "
        "{params.archive_check} --output {output} 2> {log}"


rule claims:
    """Every claim of config/claims.yaml evaluated on the aggregated runs: verdict, statistic, interval."""
    input:
        claims="config/claims.yaml",
        runs=all_papers_aggregate("runs"),
        tidy=all_papers_aggregate("tidy"),
        missing=all_papers_aggregate("missing"),
        human_scores="report/data/atari_human_random.csv",
    output:
        table=paths.CLAIMS,
        tex=paths.generated_tex("claims"),
        markdown=paths.CLAIMS_MARKDOWN,
    params:
        analysis=json.dumps(config["analysis"], sort_keys=True),
        aggregate_dir=lambda w, input: Path(input.runs[0]).parent.parent,
    log:
        paths.log("report", "claims"),
    benchmark:
        paths.benchmark("claims", "claims")
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **site_resources("report"),
    shell:
        "python -m rlrepro.analysis.claims --claims {input.claims} --aggregate {params.aggregate_dir} "
        "--analysis {params.analysis:q} --human-scores {input.human_scores} "
        "--output {output.table} --tex {output.tex} --markdown {output.markdown} > {log} 2>&1"
