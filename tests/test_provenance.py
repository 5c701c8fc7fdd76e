"""Provenance appendix, open-parameter and hyperparameter tables (rlrepro.reporting.provenance)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rlrepro.analysis.aggregate import BUDGET_COLUMNS, run_provenance
from rlrepro.core import paths
from rlrepro.core.config import KINDS, REPO_ROOT, load_config
from rlrepro.reporting import compute
from rlrepro.reporting import provenance as pv

OPEN_PARAMETERS = REPO_ROOT / "config" / "open_parameters.yaml"
MACROS = ("ProvenanceAppendix", "ReportVersion", "ReportCommit", "ReportConfigHash", "ReportScale", "RunsBelowScale",
          "OpenParametersMirl", "OpenParametersEpmd")


def run_row(**overrides) -> dict:
    row = {"paper": "mirl", "experiment": "mirl_tabular", "algo": "mirl", "label": "MIRL", "agent": "MIRL",
           "env": "corridor", "seed": 0, "status": "completed", "diverged_at_step": None, "diverged_quantity": None,
           "kind": "tabular", "total_steps": 1000, "eval_interval": 100, "device": "cpu", "cfg_gamma": 0.99,
           "cfg_alpha_rho": 2e-3, "cfg_beta_increment": 1e-3, "last_step": 1000, "below_paper_scale": True,
           "scale_notes": "total_steps 1000 < paper 100000", "config_scale": "smoke", "wall_time_s": 1800.0,
           "git_commit": "a" * 40, "run_dir": "results/runs/x", "host_cpu": "x86_64, 2 CPUs", "host_name": "vm",
           "python": "3.11.7", "versions": "python 3.11.7; numpy 2.4.6"}
    return {**row, **overrides}


@pytest.fixture
def runs() -> pd.DataFrame:
    return pd.DataFrame([
        run_row(seed=0),
        run_row(seed=1, status="diverged", diverged_at_step=61234, diverged_quantity="soft value", wall_time_s=1200.0),
        run_row(algo="mirl_advised", seed=0, cfg_gamma=0.999, cfg_alpha_rho=2e-4, below_paper_scale=False),
        run_row(algo="sql", agent="SoftQLearning", label="SQL", seed=0, cfg_alpha_rho=2e-3),
    ])


# ------------------------------------------------------------------------------------ provenance


def report_preamble() -> list[str]:
    """report.tex's lines before its first \\input: the same class, packages and line-breaking settings."""
    lines = (REPO_ROOT / "report" / "report.tex").read_text().splitlines()
    return lines[:next(i for i, line in enumerate(lines) if line.startswith(r"\input{"))]


def assert_compiles_without_overfull_boxes(folder: Path, body: list[str]) -> None:
    """A document with report.tex's preamble that inputs ``folder/provenance.tex`` and holds ``body`` compiles,
    with no box over 3 pt too wide."""
    (folder / "doc.tex").write_text("\n".join([
        *report_preamble(), r"\input{provenance}", r"\begin{document}", *body, r"\end{document}", ""]))
    result = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                            cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    log = (folder / "doc.log").read_text(errors="replace")
    assert result.returncode == 0, log[-3000:]
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide", log)]
    assert all(w < 3 for w in overfull), overfull

def test_run_provenance_columns_from_meta():
    meta = {"host": {"node": "n1", "machine": "x86_64", "cpus": 16, "platform": "Linux"},
            "versions": {"torch": "2.13.0", "python": "3.11.7", "numpy": "2.4.6"}}
    cols = run_provenance(meta)
    assert cols == {"host_cpu": "x86_64, 16 CPUs", "host_name": "n1", "python": "3.11.7",
                    "versions": "python 3.11.7; numpy 2.4.6; torch 2.13.0"}
    with_model = {**meta, "host": {**meta["host"], "cpu_model": "AMD EPYC"}}
    assert run_provenance(with_model)["host_cpu"] == "AMD EPYC, 16 CPUs"


def test_config_hash_stable_and_sensitive():
    config = {"b": {"y": [1, 2]}, "a": 1}
    assert pv.config_hash(config) == pv.config_hash({"a": 1, "b": {"y": [1, 2]}})
    assert len(pv.config_hash(config)) == 12
    assert pv.config_hash(config) != pv.config_hash({"a": 1, "b": {"y": [1, 3]}})


def test_provenance_counts_time_and_diverged_table(runs):
    epmd = pd.DataFrame([run_row(paper="epmd", experiment="epmd_pendulum", algo="pmac", env="Pendulum-v1",
                                 wall_time_s=600.0, config_scale="default")])
    tex = pv.provenance_tex({"mirl": runs, "epmd": epmd, "other": None}, "0123456789ab", "0.1.0", "a" * 40 + "-dirty")
    assert r"\newcommand{\ReportConfigHash}{0123456789ab}" in tex
    assert r"\newcommand{\ReportCommit}{\texttt{aaaaaaaaaaaa\allowbreak{}-dirty}}" in tex
    assert r"\newcommand{\ReportScale}{default, smoke}" in tex
    assert r"\newcommand{\RunsBelowScale}{4 of 5}" in tex
    # mirl: 4 runs, 3 completed, 1 diverged, 3 below scale, 1800*3 + 1200 s = 1 h 50 min
    assert r"mirl & mirl\_tabular & 4 & 3 & 1 & 3 & 1 h 50 min \tabularnewline" in tex
    assert r"epmd & epmd\_\allowbreak{}pendulum & 1 & 1 & 0 & 1 & 10.0 min \tabularnewline" in tex
    assert "other & no runs" in tex
    assert r"mirl\_tabular & mirl & corridor & 1 & 61{,}234 & soft value \tabularnewline" in tex
    assert "python 3.11.7; numpy 2.4.6 (5 runs)" in tex
    assert "No run diverged" not in tex


def test_provenance_without_diverged_runs_says_so(runs):
    tex = pv.provenance_tex({"mirl": runs[runs.status == "completed"]}, "h", "v", "c")
    assert "No run diverged or failed." in tex
    assert "tab:diverged-runs" not in tex


def test_provenance_tolerates_runs_csv_without_provenance_columns(runs):
    old = runs.drop(columns=["host_cpu", "host_name", "python", "versions"])
    tex = pv.provenance_tex({"mirl": old}, "h", "v", "c")
    assert "not recorded" in tex


def with_origins(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs with runs.csv's origin columns: seed 0 of mirl and mirl_advised from the archive (mirl's code
    changed since, mirl_advised's predates the fingerprint), the others trained by this build."""
    archived = runs.seed.eq(0) & runs.algo.isin(["mirl", "mirl_advised"])
    return runs.assign(origin=["archive:paper" if a else "this build" for a in archived],
                       cpu_model=["AMD EPYC 9654" if a else "Intel Xeon" for a in archived],
                       code_changed=["rlrepro/mirl/soft.py rlrepro/core/loop.py" if algo == "mirl" and a else
                                     "unknown" if a else "" for algo, a in zip(runs.algo, archived, strict=True)])


MISSING = pd.DataFrame([{"experiment": "mirl_tabular", "paper": "mirl", "algo": "sql", "env": "corridor", "seed": s}
                        for s in (1, 2, 3, 5)])


def test_provenance_says_where_runs_come_from_and_which_are_missing(runs):
    tex = pv.provenance_tex({"mirl": with_origins(runs)}, "h", "v", "c", missing_by_paper={"mirl": MISSING})
    assert r"\paragraph{Where the runs come from.}" in tex and "tab:origin-mirl_tabular" in tex
    # rows grouped by origin, commit, CPU and scale, with their number of runs and algorithms
    assert (r"archive:paper & \texttt{aaaaaaaaaaaa} & AMD EPYC 9654 & below paper scale (smoke) & 1 & mirl "
            r"\tabularnewline") in tex
    assert r"archive:paper & \texttt{aaaaaaaaaaaa} & AMD EPYC 9654 & paper scale (smoke) & 1 & mirl\_advised" in tex
    assert r"this build & \texttt{aaaaaaaaaaaa} & Intel Xeon & below paper scale (smoke) & 2 & mirl, sql" in tex
    assert r"\item sql on corridor: seeds 1-3, 5" in tex and "4 runs of" in tex
    assert (r"\textbf{Code changed since archiving:} 1 of the 2 archived runs of \texttt{mirl\_tabular} were trained "
            r"by code that has changed since (files: \texttt{rlrepro/\allowbreak{}core/\allowbreak{}loop.py}") in tex
    assert "1 archived run of" in tex and "predates the code fingerprint" in tex
    assert "it was not run" in tex and "prefix replay check (" in tex
    check = pd.DataFrame({"run": ["results/runs/mirl/mirl/corridor/seed0", "mirl/ql/corridor/seed3"],
                          "kind": "tabular", "outcome": ["identical", "different"]})
    tex = pv.provenance_tex({"mirl": with_origins(runs)}, "h", "v", "c", missing_by_paper={"mirl": MISSING.iloc[:0]},
                            archive_check=check)
    assert "it re-ran 1 of these 2 runs: 1 identical." in tex
    assert "re-ran a prefix of 2 archived runs: 1 different, 1 identical." in tex
    assert r"None of the runs of \texttt{mirl\_tabular} that the configuration asks for is missing." in tex
    # an aggregate from before missing.csv and the origin columns
    tex = pv.provenance_tex({"mirl": runs}, "h", "v", "c")
    assert "not recorded (its aggregate predates" in tex and "Code changed" not in tex


def test_generate_reads_missing_csv_and_the_archive_check(runs, tmp_path):
    (tmp_path / "agg" / "mirl").mkdir(parents=True)
    with_origins(runs).to_csv(tmp_path / "agg" / "mirl" / "runs.csv", index=False)
    MISSING.to_csv(tmp_path / "agg" / "mirl" / "missing.csv", index=False)
    pd.DataFrame({"run": ["mirl/mirl/corridor/seed0"], "kind": ["tabular"], "outcome": ["identical"]}).to_csv(
        tmp_path / "check.csv", index=False)
    out = tmp_path / "provenance.tex"
    config = {"experiments": {"mirl_tabular": {"paper": "mirl"}}}
    assert pv.main(["--aggregate", str(tmp_path / "agg"), "--config-json", json.dumps(config), "--open-parameters",
                    str(OPEN_PARAMETERS), "--archive-check", str(tmp_path / "check.csv"), "--output", str(out)]) == 0
    text = out.read_text()
    assert r"\item sql on corridor: seeds 1-3, 5" in text and "it re-ran 1 of these 2 runs: 1 identical." in text
    pd.DataFrame({"run": ["x"]}).to_csv(tmp_path / "check.csv", index=False)
    assert pv.main(["--aggregate", str(tmp_path / "agg"), "--config-json", json.dumps(config), "--open-parameters",
                    str(OPEN_PARAMETERS), "--archive-check", str(tmp_path / "check.csv"), "--output", str(out)]) == 2


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk not installed")
def test_origin_tables_compile(runs, tmp_path):
    check = pd.DataFrame({"run": ["mirl/mirl/corridor/seed0"], "kind": ["tabular"], "outcome": ["identical"]})
    tex = pv.provenance_tex({"mirl": with_origins(runs)}, "h", "v", "c", missing_by_paper={"mirl": MISSING},
                            archive_check=check)
    (tmp_path / "provenance.tex").write_text(tex)
    assert_compiles_without_overfull_boxes(tmp_path, [r"\ProvenanceAppendix"])


def test_duration_and_text_escaping():
    assert pv.duration(42) == "42 s"
    assert pv.duration(750) == "12.5 min"
    assert pv.duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert pv.breakable_tex("a_b & 50% {x} ~ ^ \\ <") == (r"a\_b \& 50\% \{x\} \textasciitilde{} \textasciicircum{} "
                                                         r"\textbackslash{} <")  # '<' is text under T1
    assert r"\allowbreak{}" in pv.breakable_tex("SpaceInvadersNoFrameskip-v4")


# ----------------------------------------------------------------------------------------- compute

def write_benchmark(folder: Path, stage: str, name: str, wall: float, cpu="NA", rss="NA") -> None:
    """A record as Snakemake's ``benchmark:`` writes it."""
    path = folder / Path(paths.benchmark(stage, name)).relative_to(paths.BENCHMARK_DIR)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                    f"{wall}\t0:00:01\t{rss}\t1.0\t1.0\t1.0\t0\t0\t90.0\t{cpu}\n")


@pytest.fixture
def benchmarks(tmp_path, runs) -> Path:
    folder = tmp_path / "benchmarks"
    for i, run in enumerate(runs.itertuples()):
        write_benchmark(folder, "train", paths.RUN_NAME.format(paper=run.paper, algo=run.algo, env=run.env,
                                                               seed=run.seed), 100.0 + i, 90.0 + i, 200.0 + i)
    write_benchmark(folder, "train", "epmd/pmac/Hopper-v5/seed0", 30.0, 29.0, 1500.0)  # not in runs.csv
    write_benchmark(folder, "aggregate", "mirl", 12.0, 11.0, 300.0)
    write_benchmark(folder, "figures", "mirl_tabular", 20.0, 18.5, 250.0)
    write_benchmark(folder, "figures", "robust_mirl", 0.4)  # ended before Snakemake's first sample
    write_benchmark(folder, "report_pdf", "report", 5.0, 4.0, 100.0)
    return folder


def test_compute_table_per_experiment_and_stage(benchmarks, runs):
    table = compute.compute_table(compute.read_benchmarks(benchmarks), runs).set_index("what")
    assert list(table.index) == ["epmd (runs not aggregated)", "mirl_tabular", "aggregate (per paper)",
                                 "figures (notebooks)", "LaTeX (latexmk)", "all jobs"]
    assert table.loc["mirl_tabular", ["jobs", "wall_s", "cpu_s", "max_rss_mb"]].tolist() == [4, 406.0, 366.0, 203.0]
    assert table.loc["figures (notebooks)", ["jobs", "wall_s", "cpu_s"]].tolist() == [2, 20.4, 18.5]
    assert table.loc["all jobs", ["jobs", "max_rss_mb"]].tolist() == [9, 1500.0]
    only_missing = compute.compute_table(compute.read_benchmarks(benchmarks).query("job == 'robust_mirl'"))
    assert only_missing.cpu_s.isna().all()  # '--', not 0 s


def test_compute_cli_prints_markdown_for_the_readme(benchmarks, runs, tmp_path, capsys):
    (tmp_path / "aggregate" / "mirl").mkdir(parents=True)
    runs.to_csv(tmp_path / "aggregate" / "mirl" / "runs.csv", index=False)
    assert compute.main([str(benchmarks), "--aggregate", str(tmp_path / "aggregate"), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| what | jobs | wall | CPU | peak memory |" in out
    assert "| train: mirl_tabular | 4 | 6.8 min | 6.1 min | 203 MB |" in out
    assert "| figures (notebooks) | 2 | 20 s | 18 s | 250 MB |" in out
    assert "| **all jobs** | 9 |" in out and "1.46 GB |" in out
    assert "First job start to last job end:" in out
    assert compute.main([str(tmp_path / "nowhere")]) == 2


def test_provenance_appendix_holds_the_compute_table(benchmarks, runs):
    tex = pv.compute_tex(benchmarks, runs)
    assert "tab:compute" in tex and r"\quad mirl\_tabular & 4 & 6.8 min & 6.1 min & 203 MB" in tex
    assert "previous build" in tex  # the LaTeX row, from before this provenance job
    assert "No benchmark records" in pv.compute_tex(benchmarks.parent / "nowhere", runs)
    assert "No benchmark records" in pv.compute_tex(None, runs)


# ------------------------------------------------------------------------------- open parameters

def entry(**value) -> dict:
    return {"parameter": "discount", "paper_says": "0.99 [report]", "value": value, "source": "paper"}


def test_open_parameter_values_from_runs_config_and_fixed(runs):
    entries = [entry(experiment="mirl_tabular", key="cfg_gamma"),
               entry(experiment="mirl_tabular", key="cfg_alpha_rho", agent="MIRL", note="sweep"),
               entry(experiment="mirl_tabular", key=["cfg_gamma", "total_steps"]),
               entry(experiment=["mirl_tabular", "mirl_atari"], key="cfg_gamma"),
               entry(experiment="mirl_atari", key="cfg_gamma"),
               entry(experiment="mirl_tabular", key="cfg_no_such_key"),
               entry(fixed="Nature CNN"),
               entry(config="analysis.reward_ema_window"),
               entry(config="analysis.missing")]
    tex = pv.open_parameters_tex("mirl", entries, runs, {"analysis": {"reward_ema_window": 10}})
    assert tex.startswith(r"\newcommand{\OpenParametersMirl}")
    rows = [line for line in tex.splitlines() if line.startswith("discount &")]
    values = [row.split(" & ")[2] for row in rows]
    assert values == ["0.99, 0.999", "0.0002, 0.002 (sweep)",
                      r"gamma = 0.99, 0.999; total\_steps = 1000", r"mirl\_tabular: 0.99, 0.999; mirl\_atari: not run",
                      "not run", "not run", "Nature CNN", "10", "not run"]
    assert r"\textbf{[open]}" in pv.open_parameters_tex(
        "mirl", [{**entry(fixed="x"), "paper_says": "not stated [open]"}], runs)
    assert "p{" in tex and r"\resizebox" not in tex


def test_open_parameters_without_runs_say_not_run():
    tex = pv.open_parameters_tex("epmd", [entry(experiment="epmd_mujoco", key="cfg_gamma")], None)
    assert "not run" in tex


@pytest.mark.parametrize("broken, field, problem", [
    ({"parameter": "", "paper_says": "x [open]", "value": {"fixed": "y"}, "source": "ours"}, "parameter",
     "does not match"),
    ({"parameter": "lr", "paper_says": "x", "value": {"fixed": "y"}, "source": "ours"}, "paper_says",
     "at least one of papers.md's source tags: [report], [code], [open] or [derived]"),
    ({"parameter": "lr", "paper_says": "x [open]", "value": "0.1", "source": "ours"}, "value",
     "is not of type 'object'"),
    ({"parameter": "lr", "paper_says": "x [open]", "value": {"experiment": "e"}, "source": "ours"}, "value",
     "'key' is a dependency of 'experiment'"),
    ({"parameter": "lr", "paper_says": "x [open]", "value": {"fixed": "y", "config": "a.b"}, "source": "ours"}, "value",
     "expected: Where the value used comes from: exactly one of {fixed: text}"),
    ({"parameter": "lr", "paper_says": "x [open]", "value": {"fixed": "y", "colour": 1}, "source": "ours"}, "value",
     "('colour' was unexpected); allowed keys: agent, config, experiment, fixed, key, note"),
    ({"parameter": "lr", "paper_says": "x [open]", "value": {"fixed": "y"}}, None, "'source' is a required property"),
    ({"parameter": "lr", "paper_says": "x [open]", "value": {"fixed": "y"}, "source": "ours", "extra": 1}, None,
     "('extra' was unexpected); allowed keys: paper_says, parameter, source, value"),
])
def test_broken_open_parameter_entry_names_index_parameter_and_field(runs, broken, field, problem):
    entries = [entry(fixed="ok"), broken]
    with pytest.raises(ValueError) as err:
        pv.open_parameters_tex("mirl", entries, runs)
    message = str(err.value)
    where = f"open parameters of 'mirl', entry 1 (parameter {broken.get('parameter')!r})"
    assert where + (f": field {field!r}" if field else "") in message and problem in message, message


def test_open_parameters_yaml_matches_config_and_aggregate_columns(tmp_path):
    data = pv.load_open_parameters(OPEN_PARAMETERS)
    config = load_config(REPO_ROOT / "config" / "config.yaml", REPO_ROOT / "config" / "paper.yaml")  # every experiment
    assert set(data) == {exp["paper"] for exp in config["experiments"].values()}
    for paper, entries in data.items():
        assert len(entries) >= 10
        for i, e in enumerate(entries):
            value = e["value"]
            if "config" in value:
                assert pv.config_value(config, value["config"]) is not None, (paper, i, value)
            if "experiment" not in value:
                continue
            for experiment in pv._names(value["experiment"]):
                exp = config["experiments"].get(experiment)
                assert exp is not None and exp["paper"] == paper, (paper, i, experiment)
                columns = {f"cfg_{f.name}" for f in fields(KINDS[exp["kind"]].config)} | set(BUDGET_COLUMNS) | {"env"}
                for key in pv._names(value["key"]):
                    assert key in columns, (paper, i, e["parameter"], key)
                if "agent" in value:
                    assert value["agent"] in KINDS[exp["kind"]].agents, (paper, i, value["agent"])
    # a broken file is refused with the entry named
    broken = tmp_path / "open.yaml"
    broken.write_text(yaml.safe_dump({"mirl": [{"parameter": "c", "paper_says": "[open]", "value": {},
                                                "source": "ours"}]}))
    with pytest.raises(ValueError, match=r"entry 0 \(parameter 'c'\): field 'value': \{\} is not valid under any"):
        pv.load_open_parameters(broken)


# ------------------------------------------------------------------------------- hyperparameters

def test_hyperparameters_split_common_and_differing(runs):
    common, differing = pv.split_keys(runs.assign(cfg_other_kind=None))
    assert common == {"beta_increment": "0.001"}
    assert differing == {"alpha_rho": {"mirl": "0.002", "mirl_advised": "0.0002", "sql": "0.002"},
                         "gamma": {"mirl": "0.99", "mirl_advised": "0.999", "sql": "0.99"}}
    tex = pv.hyperparameter_tex("mirl_tabular", runs)
    assert tex.startswith(r"\newcommand{\HyperparametersMirlTabular}")
    assert r"\texttt{beta\_\allowbreak{}increment} & 0.001 & c in beta\_i" in tex  # field docstring
    assert r"\texttt{mirl\_\allowbreak{}advised} & 0.0002 & 0.999 \tabularnewline" in tex
    same = pv.hyperparameter_tex("mirl_tabular", runs[runs.algo == "mirl"])
    assert "uses the same agent configuration" in same
    assert "No runs of experiment" in pv.hyperparameter_tex("epmd_mujoco", runs)


def test_hyperparameters_split_many_differing_keys_into_tables(runs):
    wide = runs.assign(**{f"cfg_k{i}": range(len(runs)) for i in range(7)})
    tex = pv.hyperparameter_tex("mirl_tabular", wide, max_columns=5)
    assert tex.count(r"\begin{longtable}") == 3  # common, differing keys 1-5, 6-9
    assert "(continued)" in tex


def test_field_docs_match_the_dataclasses():
    for kind in KINDS:
        docs = pv.field_docs(kind)
        assert set(docs) == {f.name for f in fields(KINDS[kind].config)}, kind


# ------------------------------------------------------------------------------------------- CLI

@pytest.fixture(scope="module")
def generated(tmp_path_factory, smoke_workflow) -> Path:
    smoke_aggregate = smoke_workflow / "results" / "aggregate"
    out = tmp_path_factory.mktemp("provenance") / "provenance.tex"
    config = load_config(REPO_ROOT / "config" / "config.yaml")
    assert pv.main(["--aggregate", str(smoke_aggregate), "--config-json", json.dumps(config),
                    "--open-parameters", str(OPEN_PARAMETERS), "--output", str(out)]) == 0
    return out


def test_cli_writes_every_macro(generated, smoke_workflow):
    text = generated.read_text()
    experiments = set()
    for paper in ("mirl", "epmd"):
        experiments |= set(pd.read_csv(smoke_workflow / "results" / "aggregate" / paper / "runs.csv").experiment)
    for name in (*MACROS, *(f"Hyperparameters{pv.camel(e)}" for e in experiments)):
        assert f"\\newcommand{{\\{name}}}" in text, name


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk not installed")
def test_generated_latex_compiles(generated, tmp_path):
    names = re.findall(r"^\\newcommand\{(\\\w+)\}\{", generated.read_text(), flags=re.M)  # those without arguments
    (tmp_path / "provenance.tex").write_text(generated.read_text())
    assert_compiles_without_overfull_boxes(tmp_path, [name + "\n" for name in names])


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk not installed")
def test_many_uncommitted_commits_wrap(tmp_path):
    """Runs from several dirty checkouts: each '<hash>-dirty' in typewriter type, and the list still wraps."""
    commit = ", ".join(f"{i}" * 40 + "-dirty" for i in range(6))
    tex = pv.provenance_tex({}, "abcdef123456", "1.0.0", commit)
    (tmp_path / "provenance.tex").write_text(tex)
    names = re.findall(r"^\\newcommand\{(\\\w+)\}\{", tex, flags=re.M)
    assert_compiles_without_overfull_boxes(tmp_path, [name + "\n" for name in names]
                                           + [r"commit \ReportCommit" + "\n"])
