import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from rlrepro.reporting.latex import camel
from rlrepro.reporting.tables import compare, config_values, panel_caption, pmac_weight_table


def runs_frame():
    return pd.DataFrame({
        "algo": ["ql", "mirl", "mirl_advised", "mirl_advised"],
        "agent": ["QLearning", "MIRL", "MIRL", "MIRL"],
        "cfg_gamma": [0.99, 0.99, 0.999, 0.999],
        "cfg_alpha_rho": [0.002, 0.002, 0.0002, 0.0002],
    })


def test_captions_read_hyperparameters_from_the_runs():
    runs = runs_frame()
    assert config_values(runs, "gamma") == "0.99, 0.999"
    assert config_values(runs, "gamma", ["ql", "mirl"]) == "0.99"
    assert config_values(runs, "alpha_rho", ["ql", "mirl_advised"], "MIRL") == "0.0002"
    assert "0.999" in panel_caption(runs, "Advised", ["mirl_advised"])
    assert "0.99\\}" in panel_caption(runs, "Paper", ["ql", "mirl"])


def test_compare_uses_interval_overlap():
    a = pd.Series({"mean": 1.0, "mean_low": 0.9, "mean_high": 1.1})
    b = pd.Series({"mean": 0.5, "mean_low": 0.4, "mean_high": 0.6})
    c = pd.Series({"mean": 1.05, "mean_low": 1.0, "mean_high": 1.2})
    assert compare(a, b) == "higher"
    assert compare(b, a) == "lower"
    assert compare(a, c).startswith("indistinguishable")


def test_beta_q_sentence_says_whether_the_clip_acts():
    from rlrepro.reporting.tables import beta_q_sentence

    clipped = pd.DataFrame({"max_abs_beta_q": [650.0, 720.0, 760.0], "cfg_soft_form": "clipped",
                            "cfg_clip_bound": 700.0, "clip_binds_from_step": [None, 98000, 96000]})
    text = beta_q_sentence(clipped)
    assert ("largest $|\\beta Q|$ per run: median 720 (range 650--760)" in text and "$\\pm700$" in text
            and "acts in 2 of 3 runs, from step 97000 (median)" in text)
    stable = clipped.assign(cfg_soft_form="stable", clip_binds_from_step=None)
    assert "acts" not in beta_q_sentence(stable) and "median 720" in beta_q_sentence(stable)
    assert beta_q_sentence(pd.DataFrame({"max_abs_beta_q": [None]})) == ""


def test_loosest_clip_macro_says_when_the_clip_acted():
    from rlrepro.reporting.tables import loosest_clip_macro

    runs = pd.DataFrame({"env": ["corridor"] * 3 + ["left_once"] * 2, "cfg_soft_form": ["clipped"] * 4 + ["stable"],
                         "cfg_clip_bound": [700.0, 700.0, 300.0, 700.0, 700.0], "total_steps": 100000,
                         "clip_binds_from_step": [60000, 40000, 10000, None, None]})
    text = loosest_clip_macro(runs)
    assert ("$\\pm700$, acted on the 3$\\times$20 corridor in 2 of 2 runs from step 50{,}000 (median), "
            "the last 50\\%" in text)
    assert "never on the 8$\\times$8" in text
    assert "no clipped runs" in loosest_clip_macro(runs.assign(cfg_soft_form="stable"))


def test_ceiling_macros_read_the_runs():
    from rlrepro.reporting.tables import ceiling_macros

    rows = [("ql", 0.925, 0.925, 0.925), ("sql", 0.925, 0.925, 0.925), ("mirl", 0.912, 0.905, 0.918)]
    final = pd.DataFrame([{"algo": a, "env": "left_once", "metric": "final_correct_action_ceiling", "mean": m,
                           "mean_low": lo, "mean_high": hi} for a, m, lo, hi in rows])
    text = "".join(ceiling_macros(final, {"paper_hyperparameters": ["ql", "sql", "sql_m", "mirl"]}))
    assert "\\MirlTabularCeilingUniform}{0.925}" in text and "\\MirlTabularCeilingMirl}{0.912 [0.905, 0.918]}" in text
    assert "{--}" in "".join(ceiling_macros(final.iloc[0:0], {}))


def test_pmac_weight_table_reads_both_readings_of_v():
    pmac = pd.DataFrame({"algo": ["pmac", "pmac_lp_noclamp"],
                         "label": ["PMAC", "PMAC, log-partition V, no weight clamp"],
                         "env": ["Pendulum-v1"] * 2, "cfg_pmac_value": ["soft_mean", "log_partition"],
                         "cfg_clamp_target_weight": [True, False], "cfg_target_weight_max": [0.9, 0.9]})
    final = pd.DataFrame([{"algo": algo, "env": "Pendulum-v1", "metric": f"{when}_{metric}", "mean": value,
                           "mean_low": value - 0.01, "mean_high": value + 0.01}
                          for algo, base in (("pmac", 0.8), ("pmac_lp_noclamp", 0.5))
                          for when in ("mean", "final")
                          for metric, value in (("target_weight", base), ("weight_at_clamp", base / 2),
                                                ("log_mean_raw_weight", base / 4))])
    table = pmac_weight_table("epmd_pendulum", final, pmac, ["pmac_lp_noclamp", "pmac"], 0.95)
    rows = [line for line in table.splitlines() if line.startswith("Pendulum")]
    assert rows[0].startswith("Pendulum-v1 & PMAC, log-partition V, no weight clamp & log\\_partition & none & "
                              "0.50 [0.49, 0.51]")
    assert rows[1].endswith("soft\\_mean & 0.9 & 0.80 [0.79, 0.81] & 0.40 [0.39, 0.41] & 0.20 [0.19, 0.21] \\\\")
    assert "tab:epmd_pendulum-weights" in table
    assert pmac_weight_table("x", final, pmac.iloc[:0], [], 0.95) == "No PMAC runs."


@pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
                    reason="latexmk and pdftotext not installed")
def test_an_experiment_the_config_does_not_run_gets_one_generated_sentence(tmp_path):
    """report.tex wraps each experiment in \\IfExperimentRun: the config's experiments are input, the others say
    that they were not run, even where a generated file of an earlier build is still there."""
    from rlrepro.reporting.provenance import experiment_macros

    config = {"scale": "default", "experiments": {"mirl_tabular": {"paper": "mirl"}}}
    (tmp_path / "macros.tex").write_text(experiment_macros(config))
    (tmp_path / "doc.tex").write_text("\n".join([
        r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{lmodern}", r"\input{macros}",
        r"\begin{document}",
        r"\IfExperimentRun{mirl_tabular}{Tabular results.}{\ExperimentNotRun{mirl_tabular}}", "",
        r"\IfExperimentRun{epmd_mujoco}{\input{missing_file}}%", r"  {\ExperimentNotRun{epmd_mujoco}}", "",
        r"\IfPaperRun{mirl}{MIRL statistics.}{No MIRL.} \IfPaperRun{epmd}{\input{missing_file}}{No EPMD run.}",
        r"\end{document}", ""]))
    result = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (tmp_path / "doc.log").read_text(errors="replace")[-3000:]
    text = " ".join(subprocess.run(["pdftotext", str(tmp_path / "doc.pdf"), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "Tabular results." in text and "no experiment mirl_tabular" not in text
    assert ("Not in this build (config scale default): the configuration has no experiment epmd_mujoco, or, "
            "building from existing runs only, none of its runs exists") in text
    assert "MIRL statistics. No EPMD run." in text and "No MIRL." not in text


def test_report_tex_guards_every_experiment_section():
    """Every experiment input by report/report.tex sits in \\IfExperimentRun with the not-run sentence."""
    tex = (Path(__file__).resolve().parents[1] / "report/report.tex").read_text()
    inputs = re.findall(r"\\input\{generated/(\w+)\}", tex)
    assert {"mirl_tabular", "mirl_atari", "epmd_pendulum", "epmd_mujoco", "epmd_algorithmic"} <= set(inputs)
    for name in set(inputs) - {"provenance", "robust", "claims"}:
        assert re.search(rf"\\IfExperimentRun\{{{name}\}}\{{\\input\{{generated/{name}\}}.*\}}%?\s*"
                         rf"\{{\\ExperimentNotRun\{{{name}\}}\}}", tex), name
        table = f"\\Hyperparameters{camel(name)}"
        assert tex.count(table) == tex.count(f"\\IfExperimentRun{{{name}}}{{{table}}}{{}}") == 1, name
