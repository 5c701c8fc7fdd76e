rule figures_tabular:
    """Execute the experiment's jupytext notebook with papermill; keep the executed notebook."""
    input:
        tidy=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/tidy.csv.gz",
        runs=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/runs.csv",
        notebook="notebooks/mirl_tabular.py",
    output:
        notebook="results/notebooks/{experiment}.ipynb",
        figure1=report("results/figures/{experiment}_figure1.pdf", caption=FIGURE_CAPTION, category=FIGURE_CATEGORY, subcategory="{experiment}"),
        sweep=report("results/figures/{experiment}_alpha_rho_sweep.pdf", caption=FIGURE_CAPTION, category=FIGURE_CATEGORY, subcategory="{experiment}"),
        stability=report("results/figures/{experiment}_stability.pdf", caption=FIGURE_CAPTION, category=FIGURE_CATEGORY, subcategory="{experiment}"),
    wildcard_constraints:
        experiment=experiment_pattern("tabular"),
    params:
        panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
        analysis=config["analysis"],
        notebook=notebook_of,
    log:
        "results/logs/figures/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("figures", "threads")
    resources:
        **site_resources("figures"),
    shell:
        "jupytext --to ipynb --output - {input.notebook} 2> {log} | "
        "papermill - {output.notebook} --kernel python3 "
        "-p tidy_path {input.tidy} -p runs_path {input.runs} -p experiment {wildcards.experiment} "
        "-p panels {params.panels:q} -p figure_dir results/figures "
        "-p ema_window {params.analysis[reward_ema_window]} -p confidence {params.analysis[confidence]} "
        ">> {log} 2>&1"


rule figures_continuous:
    """Learning curves of one actor-critic experiment (jupytext notebook executed by papermill)."""
    input:
        tidy=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/tidy.csv.gz",
        runs=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/runs.csv",
        notebook="notebooks/epmd_continuous.py",
    output:
        notebook="results/notebooks/{experiment}.ipynb",
        curves=report("results/figures/{experiment}_curves.pdf", caption=FIGURE_CAPTION, category=FIGURE_CATEGORY, subcategory="{experiment}"),
    wildcard_constraints:
        experiment=experiment_pattern("continuous"),
    params:
        panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
        notebook=notebook_of,
    log:
        "results/logs/figures/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("figures", "threads")
    resources:
        **site_resources("figures"),
    shell:
        "jupytext --to ipynb --output - {input.notebook} 2> {log} | "
        "papermill - {output.notebook} --kernel python3 "
        "-p tidy_path {input.tidy} -p runs_path {input.runs} -p experiment {wildcards.experiment} "
        "-p panels {params.panels:q} -p figure_dir results/figures >> {log} 2>&1"


use rule figures_continuous as figures_algorithmic with:
    input:
        tidy=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/tidy.csv.gz",
        runs=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/runs.csv",
        notebook="notebooks/epmd_algorithmic.py",
    wildcard_constraints:
        experiment=experiment_pattern("algorithmic"),
    params:
        panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
        notebook=notebook_of,


rule figures_atari:
    """Learning curves per game and the human-normalised aggregate over games of one Atari experiment."""
    input:
        tidy=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/tidy.csv.gz",
        runs=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/runs.csv",
        final=lambda w: f"results/aggregate/{config['experiments'][w.experiment]['paper']}/final.csv",
        notebook="notebooks/mirl_atari.py",
    output:
        notebook="results/notebooks/{experiment}.ipynb",
        curves=report("results/figures/{experiment}_curves.pdf", caption=FIGURE_CAPTION, category=FIGURE_CATEGORY, subcategory="{experiment}"),
        aggregate=report("results/figures/{experiment}_aggregate.pdf", caption=FIGURE_CAPTION, category=FIGURE_CATEGORY, subcategory="{experiment}"),
    wildcard_constraints:
        experiment=experiment_pattern("atari"),
    params:
        panels=lambda w: json.dumps(config["experiments"][w.experiment].get("figures", {})),
        confidence=config["analysis"]["confidence"],
        notebook=notebook_of,
    log:
        "results/logs/figures/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("figures", "threads")
    resources:
        **site_resources("figures"),
    shell:
        "jupytext --to ipynb --output - {input.notebook} 2> {log} | "
        "papermill - {output.notebook} --kernel python3 "
        "-p tidy_path {input.tidy} -p runs_path {input.runs} -p final_path {input.final} "
        "-p experiment {wildcards.experiment} -p panels {params.panels:q} -p figure_dir results/figures "
        "-p confidence {params.confidence} >> {log} 2>&1"


rule figures_robust:
    """Performance profiles and probabilities of improvement of one paper's multi-task experiments."""
    input:
        robust="results/aggregate/robust.csv",
        profiles="results/aggregate/profiles.csv",
        runs="results/aggregate/{paper}/runs.csv",
        notebook="notebooks/robust_statistics.py",
    output:
        notebook="results/notebooks/robust_{paper}.ipynb",
        figure=report("results/figures/robust_{paper}.pdf", caption=ROBUST_CAPTION, category=FIGURE_CATEGORY, subcategory="{paper}"),
    params:
        notebook=notebook_of,
    log:
        "results/logs/figures/robust_{paper}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: resource("figures", "threads")
    resources:
        **site_resources("figures"),
    shell:
        "jupytext --to ipynb --output - {input.notebook} 2> {log} | "
        "papermill - {output.notebook} --kernel python3 "
        "-p robust_path {input.robust} -p profiles_path {input.profiles} -p runs_path {input.runs} "
        "-p paper {wildcards.paper} -p figure_dir results/figures >> {log} 2>&1"
