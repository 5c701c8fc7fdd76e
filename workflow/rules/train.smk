rule train:
    """One training run per (paper, algo, env, seed); resumes from its checkpoint if one exists."""
    output:
        metrics=f"{paths.RUN_DIR}/metrics.csv",
        meta=f"{paths.RUN_DIR}/meta.json",
    params:
        spec=run_spec,
        run_dir=paths.RUN_DIR,
    log:
        paths.log("train", paths.RUN_NAME),
    benchmark:
        paths.benchmark("train", paths.RUN_NAME)
    conda:
        TRAIN_ENV
    group:
        train_group
    threads: train_threads
    resources:
        **train_resources(),
    shell:
        "python -m rlrepro.train --spec {params.spec:q} --run-dir {params.run_dir} --threads {threads} 2> {log}"
