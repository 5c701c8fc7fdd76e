# One figure rule per experiment kind of the registry (rlrepro.core.kinds.KINDS): figures_tabular, figures_atari, ...
# Each executes its kind's jupytext notebook with papermill, with the same parameters for every kind.
for kind in KINDS.values():

    rule:
        """Execute the kind's jupytext notebook with papermill; keep the executed notebook."""
        name:
            f"figures_{kind.name}"
        input:
            tidy=paper_aggregate("tidy"),
            runs=paper_aggregate("runs"),
            final=paper_aggregate("final"),
            notebook=kind.notebook,
        output:
            notebook=paths.executed_notebook("{experiment}"),
            figures=report(paths.experiment_figures("{experiment}", kind.name), caption=FIGURE_CAPTION,
                           category=FIGURE_CATEGORY, subcategory="{experiment}"),
        wildcard_constraints:
            experiment=experiment_pattern(kind.name),
        params:
            panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
            analysis=config["analysis"],
            figure_dir=lambda w, output: Path(output.figures[0]).parent,
            notebook=notebook_of,
        log:
            paths.log("figures", "{experiment}"),
        benchmark:
            paths.benchmark("figures", "{experiment}")
        conda:
            "../../envs/analysis.yaml"
        threads: resource("figures", "threads")
        resources:
            **site_resources("figures"),
        shell:
            "jupytext --to ipynb --output - {input.notebook} 2> {log} | "
            "papermill - {output.notebook} --kernel python3 "
            "-p tidy_path {input.tidy} -p runs_path {input.runs} -p final_path {input.final} "
            "-p experiment {wildcards.experiment} -p panels {params.panels:q} -p figure_dir {params.figure_dir} "
            "-p ema_window {params.analysis[reward_ema_window]} -p confidence {params.analysis[confidence]} "
            ">> {log} 2>&1"


rule figures_robust:
    """Performance profiles and probabilities of improvement of one paper's multi-task experiments."""
    input:
        robust=paths.ROBUST,
        profiles=paths.PROFILES,
        runs=paths.aggregate_file("{paper}", "runs"),
        notebook="notebooks/robust_statistics.py",
    output:
        notebook=paths.executed_notebook("robust_{paper}"),
        figure=report(paths.robust_figure("{paper}"), caption=ROBUST_CAPTION, category=FIGURE_CATEGORY,
                      subcategory="{paper}"),
    params:
        figure_dir=subpath(output.figure, parent=True),
        notebook=notebook_of,
    log:
        paths.log("figures", "robust_{paper}"),
    benchmark:
        paths.benchmark("figures", "robust_{paper}")
    conda:
        "../../envs/analysis.yaml"
    threads: resource("figures", "threads")
    resources:
        **site_resources("figures"),
    shell:
        "jupytext --to ipynb --output - {input.notebook} 2> {log} | "
        "papermill - {output.notebook} --kernel python3 "
        "-p robust_path {input.robust} -p profiles_path {input.profiles} -p runs_path {input.runs} "
        "-p paper {wildcards.paper} -p figure_dir {params.figure_dir} >> {log} 2>&1"
