rule train:
    """One training run per (paper, algo, env, seed); resumes from its checkpoint if one exists."""
    output:
        metrics=f"{RUN_DIR}/metrics.csv",
        meta=f"{RUN_DIR}/meta.json",
    params:
        spec=run_spec,
        run_dir=RUN_DIR,
    log:
        "results/logs/train/{paper}/{algo}/{env}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    threads: resource("train_tabular", "threads")
    resources:
        mem_mb=resource("train_tabular", "mem_mb"),
        runtime=resource("train_tabular", "runtime"),
        gpu=resource("train_tabular", "gpu"),
    shell:
        "python -m rlrepro.train --spec {params.spec:q} --run-dir {params.run_dir} 2> {log}"
