if config["train_missing"]:

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

    ruleorder: restore_archived > train


rule restore_archived:
    """An archived run of the configured spec instead of training it (config `archive`): checksums and
    identity checked, copied byte for byte, its meta.json marked with where it came from."""
    input:
        unpack(archived_run_files),
    output:
        metrics=f"{paths.RUN_DIR}/metrics.csv",
        meta=f"{paths.RUN_DIR}/meta.json",
    params:
        spec=run_spec,
        run_dir=paths.RUN_DIR,
        archive=config["archive"]["path"],
    log:
        paths.log("restore", paths.RUN_NAME),
    benchmark:
        paths.benchmark("restore_archived", paths.RUN_NAME)
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m rlrepro.archive --archive {params.archive} restore --spec {params.spec:q} "
        "--to {params.run_dir} 2> {log}"


rule archive_check:
    """Re-run the first steps of a sample of archived runs; their metric rows must be bit-identical."""
    input:
        manifest=f"{config['archive']['path']}/manifest.json",
    output:
        paths.ARCHIVE_CHECK,
    params:
        archive=lambda w, input: Path(input.manifest).parent,
        per_kind=config["archive"]["check_per_kind"],
        min_steps=config["archive"]["check_min_steps"],
    log:
        paths.log("archive", "check"),
    benchmark:
        paths.benchmark("archive_check", "check")
    conda:
        TRAIN_ENV
    threads: 1
    shell:
        "python -m rlrepro.archive.replay --archive {params.archive} --per-kind {params.per_kind} "
        "--min-steps {params.min_steps} --seed 0 --out {output} 2> {log}"
