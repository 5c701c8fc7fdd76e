rule aggregate:
    """All finished runs of one paper -> tidy table, per-run index, final scores with intervals."""
    input:
        metas=lambda w: run_files(w.paper, "meta.json"),
        human_scores="report/data/atari_human_random.csv",
    output:
        tidy="results/aggregate/{paper}/tidy.csv.gz",
        runs="results/aggregate/{paper}/runs.csv",
        final="results/aggregate/{paper}/final.csv",
        stats="results/aggregate/{paper}/stats.json",
    params:
        analysis=json.dumps(config["analysis"], sort_keys=True),
        out_dir=subpath(output.final, parent=True),
    log:
        "results/logs/aggregate/{paper}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("aggregate", "threads")
    resources:
        **site_resources("aggregate"),
    shell:
        "python -m rlrepro.analysis.aggregate --analysis {params.analysis:q} --out-dir {params.out_dir} "
        "--human-scores {input.human_scores} {input.metas} 2> {log}"


rule robust_statistics:
    """Across-task statistics (rliable): IQM of normalised scores, probability of improvement, performance profiles."""
    input:
        runs=expand("results/aggregate/{paper}/runs.csv", paper=PAPERS),
        final=expand("results/aggregate/{paper}/final.csv", paper=PAPERS),
        human_scores="report/data/atari_human_random.csv",
        references="report/data/reference_returns.csv",
    output:
        robust="results/aggregate/robust.csv",
        profiles="results/aggregate/profiles.csv",
        tex="report/generated/robust.tex",
    params:
        analysis=json.dumps(config["analysis"], sort_keys=True),
        aggregate_dir=subpath(output.robust, parent=True),
    log:
        "results/logs/aggregate/robust.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("aggregate", "threads")
    resources:
        **site_resources("aggregate"),
    shell:
        "python -m rlrepro.analysis.robust --aggregate {params.aggregate_dir} --analysis {params.analysis:q} "
        "--human-scores {input.human_scores} --references {input.references} "
        "--output-dir {params.aggregate_dir} --tex {output.tex} 2> {log}"
