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
        TRAIN_ENV
    group:
        train_group
    threads: train_threads
    resources:
        **train_resources(),
    shell:
        "python -m rlrepro.train --spec {params.spec:q} --run-dir {params.run_dir} --threads {threads} 2> {log}"
