"""The whole DAG on config/smoke.yaml, in a temporary copy of the repository, down to the PDF."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, activated_env, copy_workflow

pytestmark = pytest.mark.slow


def test_pdf_contains_the_generated_numbers(smoke_workflow):
    pdf = smoke_workflow / "report/report.pdf"
    assert pdf.stat().st_size > 10_000
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    final = pd.read_csv(smoke_workflow / "results/aggregate/mirl/final.csv")
    mirl = final[(final.algo == "mirl") & (final.env == "corridor") & (final.metric == "final_eval_return")].iloc[0]
    assert f"{mirl['mean']:.2f} [{mirl['mean_low']:.2f}, {mirl['mean_high']:.2f}]" in text
    runs = pd.read_csv(smoke_workflow / "results/aggregate/mirl/runs.csv")
    assert f"{(runs.kind == 'tabular').sum()} runs" in text
    assert "below paper scale" in text
    assert re.search(r"Observations \(generated\)", text)


def test_pdf_contains_the_epmd_section_from_real_runs(smoke_workflow):
    text = subprocess.run(["pdftotext", "-layout", str(smoke_workflow / "report/report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "EPMD: PMAC against SAC, TD3 and DDPG" in text
    final = pd.read_csv(smoke_workflow / "results/aggregate/epmd/final.csv")
    row = final[(final.algo == "pmac") & (final.env == "Pendulum-v1") & (final.metric == "final_eval_return")].iloc[0]
    assert f"{row['mean']:.0f} [{row['mean_low']:.0f}, {row['mean_high']:.0f}]" in text
    runs = pd.read_csv(smoke_workflow / "results/aggregate/epmd/runs.csv")
    # pendulum: 4 algorithms x 2 seeds; mujoco: 2 x 2; algorithmic: 2 algorithms x 2 tasks x 2 seeds (config/smoke.yaml)
    assert len(runs) == 4 * 2 + 2 * 2 + 2 * 2 * 2
    # PMAC's weight table, both readings of V: the log mean weight before the clamp, from the runs
    for algo in ("pmac", "pmac_lp"):
        row = final[(final.algo == algo) & (final.env == "Pendulum-v1")
                    & (final.metric == "mean_log_mean_raw_weight")].iloc[0]
        assert f"{row['mean']:.2f} [{row['mean_low']:.2f}, {row['mean_high']:.2f}]" in text
    assert "log mean weight before the clamp" in text
    assert set(runs.status) == {"completed"} and runs.below_paper_scale.all()
    for experiment in ("epmd_pendulum", "epmd_mujoco"):
        assert (smoke_workflow / f"results/figures/{experiment}_curves.pdf").stat().st_size > 1000
        assert (smoke_workflow / f"results/notebooks/{experiment}.ipynb").exists()


def test_pdf_contains_the_repmd_section_from_real_runs(smoke_workflow):
    text = subprocess.run(["pdftotext", "-layout", str(smoke_workflow / "report/report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "EPMD: REPMD on the algorithmic tasks" in text
    final = pd.read_csv(smoke_workflow / "results/aggregate/epmd/final.csv")
    for metric in ("final_eval_return", "final_eval_solve_rate"):
        row = final[(final.algo == "repmd") & (final.env == "Copy") & (final.metric == metric)].iloc[0]
        assert f"{row['mean']:.2f} [{row['mean_low']:.2f}, {row['mean_high']:.2f}]" in text
    assert (smoke_workflow / "results/figures/epmd_algorithmic_curves.pdf").stat().st_size > 1000
    assert (smoke_workflow / "results/notebooks/epmd_algorithmic.ipynb").exists()


def test_pdf_contains_the_atari_section_from_real_runs(smoke_workflow):
    text = subprocess.run(["pdftotext", "-layout", str(smoke_workflow / "report/report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "MIRL on Atari: DQN, SQL and MIRL" in text
    final = pd.read_csv(smoke_workflow / "results/aggregate/mirl/final.csv")
    for env, metric in (("PongNoFrameskip-v4", "final_eval_return"), ("PongNoFrameskip-v4", "final_hns")):
        row = final[(final.algo == "deep_mirl") & (final.env == env) & (final.metric == metric)].iloc[0]
        assert f"{row['mean']:.2f} [{row['mean_low']:.2f}, {row['mean_high']:.2f}]" in text
    overall = final[(final.algo == "dqn") & (final.env == "all games")].iloc[0]
    assert f"IQM {overall['iqm']:.2f} [{overall['iqm_low']:.2f}, {overall['iqm_high']:.2f}]" in text
    runs = pd.read_csv(smoke_workflow / "results/aggregate/mirl/runs.csv")
    atari = runs[runs.kind == "atari"]
    assert len(atari) == 3 * 2 and set(atari.status) == {"completed"} and atari.below_paper_scale.all()
    for name in ("curves", "aggregate"):
        assert (smoke_workflow / f"results/figures/mirl_atari_{name}.pdf").stat().st_size > 1000
    assert (smoke_workflow / "results/notebooks/mirl_atari.ipynb").exists()


def test_pdf_holds_claims_open_parameters_hyperparameters_and_provenance(smoke_workflow):
    import yaml

    text = subprocess.run(["pdftotext", "-raw", str(smoke_workflow / "report/report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    flat = re.sub(r"-\n", "", text).replace("\n", " ")
    claims = pd.read_csv(smoke_workflow / "results/aggregate/claims.csv")
    assert len(claims) == len(yaml.safe_load((REPO / "config/claims.yaml").read_text()))
    assert set(claims.verdict) == {"inconclusive"}  # every smoke run is below paper scale
    summary = f"0 reproduced, 0 not reproduced, {len(claims)} inconclusive"
    assert summary in flat
    for claim_id in claims.id:
        assert claim_id.replace("-", "") in flat.replace("-", "")
    open_parameters = yaml.safe_load((REPO / "config/open_parameters.yaml").read_text())
    for paper in ("mirl", "epmd"):
        for entry in open_parameters[paper][:5]:
            assert entry["parameter"].split()[0] in flat
    for heading in ("Open parameters of MIRL", "Open parameters of EPMD", "Provenance", "statistics across tasks"):
        assert heading in flat, heading
    assert "config hash" in flat and "runs below paper scale" in flat


def test_pdf_metadata_comes_from_the_generated_values(smoke_workflow):
    from importlib import metadata

    from rlrepro.reporting.provenance import distinct_values, short_commit

    info = subprocess.run(["pdfinfo", str(smoke_workflow / "report/report.pdf")], capture_output=True, text=True,
                          check=True).stdout
    fields = {key: value.strip() for key, value in (line.split(":", 1) for line in info.splitlines() if ":" in line)}
    assert fields["Title"] == "Reproducing MIRL and EPMD"
    assert fields["Author"] == f"rlrepro {metadata.version('rlrepro')} (generated by the pipeline)"
    provenance = (smoke_workflow / "report/generated/provenance.tex").read_text()
    config_hash = re.search(r"\\newcommand\{\\ReportConfigHash\}\{([0-9a-f]{12})\}", provenance)[1]
    runs = pd.concat([pd.read_csv(smoke_workflow / f"results/aggregate/{paper}/runs.csv")
                      for paper in ("mirl", "epmd")])
    commit = short_commit(", ".join(distinct_values(runs.git_commit)))
    assert f"config scale smoke, commit {commit}" in fields["Subject"]
    assert f"config hash {config_hash}" in fields["Subject"]


def test_every_figure_caption_says_what_the_figure_shows(smoke_workflow):
    text = subprocess.run(["pdftotext", "-raw", str(smoke_workflow / "report/report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    captions = re.findall(r"^Figure (\d+): (.*)$", text, flags=re.M)
    assert len(captions) >= 5
    for number, caption in captions:
        assert not caption.startswith("Figure"), f"Figure {number}: {caption}"
    assert "Figure 1: Evaluation reward and correct" in " ".join(text.split())


def test_latex_has_no_undefined_references_or_missing_figures(smoke_workflow):
    log = (smoke_workflow / "report/report.log").read_text(errors="replace")
    assert "undefined" not in log.lower()
    assert "not found" not in log.lower()
    assert "LaTeX Warning" not in log and "Overfull" not in log


def test_compute_per_experiment_and_stage_from_the_benchmark_records(smoke_workflow):
    from rlrepro.core import paths
    from rlrepro.core.config import iter_runs, load_config

    config = load_config(smoke_workflow / "config/config.yaml", smoke_workflow / "config/smoke.yaml")
    for run in iter_runs(config):
        record = pd.read_csv(smoke_workflow / paths.benchmark("train", paths.RUN_NAME.format(**run)), sep="\t")
        assert {"s", "cpu_time", "max_rss"} <= set(record.columns) and record.s.iloc[0] > 0
    result = subprocess.run([sys.executable, "-m", "rlrepro.reporting.compute", paths.BENCHMARK_DIR, "--markdown"],
                            cwd=smoke_workflow, capture_output=True, text=True, env=activated_env(), check=True)
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1] for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| what")}
    assert rows["train: epmd_mujoco"] == "4" and rows["train: mirl_tabular"] == str(9 * 2 * 2)
    assert rows["aggregate (per paper)"] == "2" and rows["claims"] == "1" and "figures (notebooks)" in rows
    assert rows["**all jobs**"] == str(sum(1 for _ in (smoke_workflow / paths.BENCHMARK_DIR).rglob("*.tsv")))
    text = subprocess.run(["pdftotext", "-raw", str(smoke_workflow / "report/report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Where the time goes" in text and "report tables (per experiment)" in text


def test_executed_notebook_and_figures_are_kept(smoke_workflow):
    assert (smoke_workflow / "results/notebooks/mirl_tabular.ipynb").exists()
    for name in ("figure1", "alpha_rho_sweep", "stability"):
        assert (smoke_workflow / f"results/figures/mirl_tabular_{name}.pdf").stat().st_size > 1000


def test_every_run_of_the_config_was_trained_once(smoke_workflow):
    runs = pd.read_csv(smoke_workflow / "results/aggregate/mirl/runs.csv")
    # algorithms x grids x seeds, then algorithms x seeds on Pong (config/smoke.yaml)
    assert len(runs) == 9 * 2 * 2 + 3 * 2
    assert runs.below_paper_scale.all()
    assert not runs.duplicated(["algo", "env", "seed"]).any()


def test_html_report_holds_every_figure_with_its_provenance(smoke_workflow, tmp_path):
    html = tmp_path / "report.html"
    result = subprocess.run([sys.executable, "-m", "snakemake", "--configfile", "config/smoke.yaml",
                             "--report", str(html)],
                            cwd=smoke_workflow, capture_output=True, text=True, env=activated_env())
    assert result.returncode == 0, result.stderr[-2000:]
    text = html.read_text()
    figures = sorted(p.name for p in (smoke_workflow / "results/figures").glob("*.pdf"))
    assert len(figures) == 10  # 8 experiment figures + one robust-statistics figure per paper
    for name in figures:
        assert f'"filename": "{name}"' in text
    assert text.count("Drawn by the notebook") == len(figures)
    assert '"filename": "report.pdf"' in text


def test_rerun_has_nothing_to_do(smoke_workflow):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                             "--configfile", "config/smoke.yaml"],
                            cwd=smoke_workflow, capture_output=True, text=True, env=activated_env())
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_lint_is_clean():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_paper_config_dry_runs_the_full_matrix():
    """config/paper.yaml builds its whole DAG (nothing is run): every run of every experiment, Atari's
    7 games x 3 agents x 5 seeds included, each labelled at paper scale; the archived ones are restored,
    the others trained."""
    from rlrepro.archive.store import Archive
    from rlrepro.core.config import iter_runs, load_config, resolve_run, validate_config

    config = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")
    validate_config(config)
    runs = list(iter_runs(config))
    atari = [r for r in runs if r["algo"] in ("dqn", "deep_sql", "deep_mirl")]
    assert len(atari) == 7 * 3 * 5
    assert not any(resolve_run(config, **r)["below_paper_scale"] for r in atari)
    archive = Archive(REPO / config["archive"]["path"])
    archived = sum(archive.match(resolve_run(config, **r)) is not None for r in runs)
    with tempfile.TemporaryDirectory() as work:  # an empty results/: every run is to be made
        copy_workflow(Path(work))
        result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                                 "--configfile", "config/paper.yaml"],
                                cwd=work, capture_output=True, text=True, env=activated_env())
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^train\s+{len(runs) - archived}$", result.stdout, re.M), result.stdout[-2000:]
    if archived:
        assert re.search(rf"^restore_archived\s+{archived}$", result.stdout, re.M), result.stdout[-2000:]


def test_rules_write_the_layout_of_rlrepro_core_paths():
    """The rules take their files from rlrepro.core.paths, each registered kind has its figure rule, and every rule
    has a benchmark record."""
    from snakemake.api import SnakemakeApi
    from snakemake.io import strip_wildcard_constraints
    from snakemake.settings.types import OutputSettings, ResourceSettings

    from rlrepro.core import paths
    from rlrepro.core.kinds import KINDS

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=REPO / "Snakefile", workdir=REPO)
        outputs = {rule.name: [strip_wildcard_constraints(f) for f in rule.output] for rule in workflow._workflow.rules}
        benchmarks = {rule.name: rule.benchmark and strip_wildcard_constraints(str(rule.benchmark))
                      for rule in workflow._workflow.rules if rule.shellcmd is not None}  # not `rule all`
    assert outputs["train"] == [f"{paths.RUN_DIR}/metrics.csv", f"{paths.RUN_DIR}/meta.json"]
    assert outputs["aggregate"] == [paths.aggregate_file("{paper}", name) for name in paths.AGGREGATE_FILES]
    for name, kind in KINDS.items():
        assert outputs[f"figures_{name}"] == [paths.executed_notebook("{experiment}"),
                                              *paths.experiment_figures("{experiment}", name)]
        assert (REPO / kind.notebook).exists()
    assert outputs["report_pdf"] == [paths.REPORT_PDF]
    assert benchmarks["train"] == paths.benchmark("train", paths.RUN_NAME)
    for name, benchmark in benchmarks.items():  # every job records its wall time, CPU time and peak memory
        assert benchmark and benchmark.startswith(paths.BENCHMARK_DIR + "/"), name
