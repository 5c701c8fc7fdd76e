import pandas as pd

from rlrepro.report import compare, config_values, panel_caption


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
