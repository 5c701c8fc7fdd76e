rule aggregate:
    """All finished runs of one paper -> tidy table, per-run index, final scores with intervals."""
    input:
        metas=lambda w: run_files(w.paper, "meta.json"),
        human_scores="report/data/atari_human_random.csv",
    output:
        **{name: paths.aggregate_file("{paper}", name) for name in paths.AGGREGATE_FILES},
    params:
        analysis=json.dumps(config["analysis"], sort_keys=True),
        missing=lambda w: missing_runs_json(w.paper),
        out_dir=subpath(output.final, parent=True),
    log:
        paths.log("aggregate", "{paper}"),
    benchmark:
        paths.benchmark("aggregate", "{paper}")
    conda:
        "../../envs/analysis.yaml"
    threads: resource("aggregate", "threads")
    resources:
        **site_resources("aggregate"),
    shell:
        "python -m rlrepro.analysis.aggregate --analysis {params.analysis:q} --missing-json {params.missing:q} "
        "--out-dir {params.out_dir} "
        "--human-scores {input.human_scores} {input.metas} 2> {log}"


rule robust_statistics:
    """Across-task statistics (rliable): IQM of normalised scores, probability of improvement, performance profiles."""
    input:
        runs=all_papers_aggregate("runs"),
        final=all_papers_aggregate("final"),
        human_scores="report/data/atari_human_random.csv",
        references="report/data/reference_returns.csv",
    output:
        robust=paths.ROBUST,
        profiles=paths.PROFILES,
        tex=paths.generated_tex("robust"),
    params:
        analysis=json.dumps(config["analysis"], sort_keys=True),
        aggregate_dir=subpath(output.robust, parent=True),
    log:
        paths.log("aggregate", "robust"),
    benchmark:
        paths.benchmark("robust_statistics", "robust")
    conda:
        "../../envs/analysis.yaml"
    threads: resource("aggregate", "threads")
    resources:
        **site_resources("aggregate"),
    shell:
        "python -m rlrepro.analysis.robust --aggregate {params.aggregate_dir} --analysis {params.analysis:q} "
        "--human-scores {input.human_scores} --references {input.references} "
        "--output-dir {params.aggregate_dir} --tex {output.tex} 2> {log}"
