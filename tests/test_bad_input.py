import subprocess
import sys

import pytest
import yaml

from conftest import REPO, activated_env, copy_workflow
from rlrepro.analysis.aggregate import main as aggregate_main
from rlrepro.core import runstore
from rlrepro.core.config import SCHEMA_PATH, ConfigError, iter_runs, load_config, merge, resolve_run, validate_config
from rlrepro.core.layers import load_layered_config
from rlrepro.epmd.algorithmic import AlgorithmicBudget, PolicyGradientConfig
from rlrepro.epmd.continuous import ActorCriticConfig, ContinuousBudget
from rlrepro.mirl.tabular import Budget, TabularConfig
from rlrepro.train import run


@pytest.mark.parametrize("patch, message", [
    ({"sclae": "default"},
     r"<top level>: Additional properties are not allowed \('sclae' was unexpected\); "
     r"allowed keys: algorithms, analysis"),
    ({"experiments": {"mirl_tabular": {"budget": {"total_stpes": 5}}}},
     r"experiments.mirl_tabular.budget: Additional properties .*'total_stpes'.*allowed keys: checkpoint_interval, "
     r"early_eval_interval, early_eval_until, eval_episodes"),
    ({"experiments": {"mirl_tabular": {"algorithms": ["ql", "mirll"]}}},
     r"experiments.mirl_tabular.algorithms\[1\]: unknown algorithm 'mirll'; defined: "),
    ({"experiments": {"mirl_tabular": {"envs": ["corridor", "maze"]}}},
     r"experiments.mirl_tabular.envs\[1\]: 'maze' is not an environment of kind 'tabular'; "
     r"allowed: corridor, left_once"),
    ({"experiments": {"epmd_mujoco": {"envs": ["Hopper-v4"]}}},
     r"experiments.epmd_mujoco.envs\[0\]: 'Hopper-v4' is not an environment of kind 'continuous'; "
     r"allowed: Pendulum-v1, HalfCheetah-v5"),
    ({"experiments": {"epmd_pendulum": {"algorithms": ["sac", "mirl"]}}},
     r"experiments.epmd_pendulum.algorithms\[1\]: 'mirl' is a tabular agent \(MIRL\); "
     r"experiment kind 'continuous' runs: DDPG, TD3, SAC, PMAC"),
    ({"algorithms": {"pmac": {"overrides": {"tau": 0.5}}}},
     r"algorithms.pmac.overrides: Additional properties .*'tau'.*allowed keys: actor_lr, autotune_entropy"),
    ({"algorithms": {"pmac": {"overrides": {"clamp_target_weight": "yes"}}}},
     r"algorithms.pmac.overrides.clamp_target_weight: 'yes' is not of type 'boolean'"),
    ({"experiments": {"epmd_pendulum": {"budget": {"eval_episodes": 0}}}},
     r"experiments.epmd_pendulum.budget.eval_episodes: 0 is less than the minimum of 1"),
    ({"experiments": {"epmd_pendulum": {"agent_overrides": {"hidden_sizes": []}}}},
     r"experiments.epmd_pendulum.agent_overrides.hidden_sizes: \[\] should be non-empty"),
    ({"experiments": {"mirl_tabular": {"seeds": "ten"}}},
     r"experiments.mirl_tabular.seeds: 'ten' is not of type 'integer'"),
    ({"experiments": {"mirl_tabular": {"seeds": 0}}},
     r"experiments.mirl_tabular.seeds: 0 is less than the minimum of 1"),
    ({"algorithms": {"mirl": {"overrides": {"gamma": 1.5}}}},
     r"algorithms.mirl.overrides.gamma: 1.5 is greater than the maximum of 1"),
    ({"algorithms": {"mirl": {"overrides": {"soft_form": "exact"}}}},
     r"algorithms.mirl.overrides.soft_form: 'exact' is not one of \['stable', 'naive', 'clipped'\]"),
    ({"algorithms": {"mirl": {"agent": "DDQN"}}}, r"algorithms.mirl.agent: 'DDQN' is not one of \['QLearning', "),
    ({"algorithms": {"Bad Name": {"agent": "MIRL", "label": "x"}}}, r"algorithms: 'Bad Name' does not match"),
    ({"experiments": {"epmd_algorithmic": {"envs": ["Copy", "Addition"]}}},
     r"experiments.epmd_algorithmic.envs.1: 'Addition' is not one of \['Copy', 'DuplicatedInput', 'RepeatCopy', "
     r"'Reverse', 'ReversedAddition', 'ReversedAddition3'\]"),
    ({"algorithms": {"repmd": {"overrides": {"tau_prim": 0.1}}}},
     r"algorithms.repmd.overrides: Additional properties .*'tau_prim'.*allowed keys: curriculum_counting, "
     r"entropy_coef, grad_clip"),
    ({"experiments": {"epmd_algorithmic": {"budget": {"total_steps": 100, "eval_interval": 400}}}},
     r"experiments.epmd_algorithmic.budget: eval_interval \(400\) must not exceed total_steps \(100\)"),
    ({"experiments": {"mirl_tabular": {"budget": {"eval_interval": 250}}}},
     r"experiments.mirl_tabular.budget: eval_interval \(250\) must be a multiple of log_interval \(100\)"),
    ({"experiments": {"epmd_mujoco": {"agent_overrides_by_env": {"Ant-v5": {"pmac_entropy_coef": 0.05}}}}},
     r"experiments.epmd_mujoco.agent_overrides_by_env.Ant-v5: not one of this experiment's envs \['Hopper-v5'\]"),
    ({"experiments": {"epmd_mujoco": {"agent_overrides_by_env": {"Hopper-v5": {"reward_scale": 5}}}}},
     r"experiments.epmd_mujoco.agent_overrides_by_env.Hopper-v5: Additional properties .*'reward_scale'.*"
     r"allowed keys: actor_lr, autotune_entropy"),
    ({"experiments": {"mirl_tabular": {"agent_overrides_by_env": {"corridor": {"epsilon": 2}}}}},
     r"experiments.mirl_tabular.agent_overrides_by_env.corridor.epsilon: 2 is greater than the maximum of 1"),
    # An experiment must not undo an ablation: pmac_nodetails sets mean_penalty 0.
    ({"experiments": {"epmd_pendulum": {"agent_overrides": {"mean_penalty": 0.01}}}},
     r"experiments.epmd_pendulum.agent_overrides.mean_penalty \(0.01\) conflicts with "
     r"algorithms.pmac_nodetails.overrides.mean_penalty \(0.0\)"),
    ({"experiments": {"mirl_tabular": {"agent_overrides_by_env": {"left_once": {"gamma": 0.9}}}}},
     r"experiments.mirl_tabular.agent_overrides_by_env.left_once.gamma \(0.9\) conflicts with "
     r"algorithms.ql.overrides.gamma \(0.99\)"),
    ({"experiments": {"epmd_pendulum": {"agent_overrides": {"buffer_size": 32}}}},
     r"algorithms.pmac in experiments.epmd_pendulum: buffer_size \(32\) must be at least batch_size \(64\) \(set at "
     r"experiments.epmd_pendulum.agent_overrides.batch_size, experiments.epmd_pendulum.agent_overrides.buffer_size\)"),
    ({"experiments": {"epmd_mujoco": {"agent_overrides_by_env": {"Hopper-v5": {"buffer_size": 32}}}}},
     r"algorithms.pmac in experiments.epmd_mujoco on Hopper-v5: buffer_size \(32\) must be at least "
     r"batch_size \(64\) \(set at experiments.epmd_mujoco.agent_overrides.batch_size, "
     r"experiments.epmd_mujoco.agent_overrides_by_env.Hopper-v5.buffer_size\)"),
    ({"experiments": {"mirl_atari": {"agent_overrides": {"buffer_size": 4}}}},
     r"algorithms.dqn in experiments.mirl_atari: buffer_size \(4\) must be at least batch_size \(8\)"),
    ({"experiments": {"mirl_tabular": {"budget": {"early_eval_interval": 150}}}},
     r"experiments.mirl_tabular.budget: early_eval_interval \(150\) must be a multiple of log_interval \(100\)"),
    ({"algorithms": {"sql_m_prior": {"overrides": {"marginal_pseudo_count": 0}}}},
     r"sql_m_prior.*marginal_prior_in_soft_value: true needs marginal_pseudo_count > 0"),
])
def test_bad_config_names_the_key_and_what_is_allowed(smoke_config, patch, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(merge(smoke_config, patch))


@pytest.mark.parametrize("files", [("config.yaml",), ("config.yaml", "paper.yaml"), ("config.yaml", "smoke.yaml"),
                                   ("config.yaml", "paper.yaml", "mujoco_midscale.yaml")])
def test_shipped_configs_are_valid(files):
    """No experiment of the shipped configs changes a field its algorithms set (nor any other problem)."""
    validate_config(load_layered_config(*(REPO / "config" / name for name in files)))


def test_the_mid_scale_mujoco_set_narrows_paper_scale_to_hopper_below_scale():
    """config/mujoco_midscale.yaml over paper.yaml: Hopper-v5 only, 4 algorithms x 3 seeds x 100k steps, each run
    labelled below paper scale; its null drops paper.yaml's Humanoid budget, which would otherwise name an env
    the experiment no longer runs."""
    files = [REPO / "config" / name for name in ("config.yaml", "paper.yaml", "mujoco_midscale.yaml")]
    config = load_layered_config(*files)
    assert "budget_by_env" in load_config(*files[:2])["experiments"]["epmd_mujoco"]
    assert config["experiments"]["epmd_mujoco"]["budget_by_env"] == {}
    runs = [r for r in iter_runs(config) if r["paper"] == "epmd" and r["algo"] in ("pmac", "sac", "td3", "ddpg")
            and r["env"] != "Pendulum-v1"]
    assert sorted({r["env"] for r in runs}) == ["Hopper-v5"] and len(runs) == 4 * 3
    spec = resolve_run(config, **runs[0])
    assert spec["budget"]["total_steps"] == 100_000 and spec["below_paper_scale"]
    assert spec["scale_notes"] == ["total_steps 100000 < paper 1000000", "seeds 3 < paper 5"]
    kept = merge(load_config(*files[:2]), {"experiments": {"epmd_mujoco": {"envs": ["Hopper-v5"]}}})
    with pytest.raises(ConfigError, match=r"budget_by_env.Humanoid-v5: not one of this experiment's envs"):
        validate_config(kept)


def test_an_experiment_may_repeat_an_algorithms_value(smoke_config):
    """Only a different value is a conflict: the same value changes nothing."""
    config = merge(smoke_config,
                   {"experiments": {"mirl_tabular": {"agent_overrides_by_env": {"corridor": {"epsilon": 0.1}}}},
                    "algorithms": {"ql": {"overrides": {"epsilon": 0.1}}}})
    validate_config(config)
    assert resolve_run(config, "mirl", "ql", "corridor", 0)["agent_config"]["epsilon"] == 0.1


def test_agent_overrides_by_env_reach_the_runs_meta(smoke_config, tmp_path):
    """The per-environment layer applies after the experiment's agent_overrides, on its environment only,
    and the resolved agent_config in meta.json shows it."""
    config = merge(smoke_config, {"experiments": {"mirl_tabular": {
        "agent_overrides": {"epsilon": 0.2},
        "agent_overrides_by_env": {"left_once": {"epsilon": 0.3, "beta_increment": 0.5}}}}})
    validate_config(config)
    corridor = resolve_run(config, "mirl", "ql", "corridor", 0)["agent_config"]
    assert (corridor["epsilon"], corridor["beta_increment"]) == (0.2, TabularConfig().beta_increment)
    assert TabularConfig().beta_increment != 0.5
    meta = run(resolve_run(config, "mirl", "ql", "left_once", 0), tmp_path / "r", progress=False)
    saved, _ = runstore.read_run(tmp_path / "r")
    for agent_config in (meta["spec"]["agent_config"], saved["spec"]["agent_config"]):
        assert (agent_config["epsilon"], agent_config["beta_increment"], agent_config["gamma"]) == (0.3, 0.5, 0.99)


def test_continuous_buffer_smaller_than_a_batch_is_rejected():
    with pytest.raises(ValueError, match=r"buffer_size \(100\) must be at least batch_size \(256\)"):
        ActorCriticConfig(buffer_size=100)
    ActorCriticConfig(buffer_size=256)


def test_schema_lists_exactly_the_dataclass_fields():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    assert set(schema["$defs"]["tabular_overrides"]["properties"]) == set(TabularConfig.field_names())
    assert set(schema["$defs"]["tabular_budget"]["properties"]) == {f for f in Budget.__dataclass_fields__}
    assert set(schema["$defs"]["continuous_overrides"]["properties"]) == set(ActorCriticConfig.field_names())
    assert set(schema["$defs"]["continuous_budget"]["properties"]) == {f for f in ContinuousBudget.__dataclass_fields__}
    assert set(schema["$defs"]["algorithmic_overrides"]["properties"]) == set(PolicyGradientConfig.field_names())
    assert (set(schema["$defs"]["algorithmic_budget"]["properties"])
            == {f for f in AlgorithmicBudget.__dataclass_fields__})
    from rlrepro.mirl.atari import AtariBudget, DeepQConfig

    assert set(schema["$defs"]["atari_overrides"]["properties"]) == set(DeepQConfig.field_names())
    assert set(schema["$defs"]["atari_budget"]["properties"]) == {f for f in AtariBudget.__dataclass_fields__}


def test_seed_outside_the_experiment_is_rejected(smoke_config):
    with pytest.raises(ConfigError, match="seed 5 out of range .* allowed 0..1"):
        resolve_run(smoke_config, "mirl", "mirl", "corridor", 5)


def test_train_cli_reports_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: {mirl_tabular: {seeds: -1}}\n")
    result = subprocess.run([sys.executable, "-m", "rlrepro.train", "--config", str(REPO / "config/config.yaml"),
                             "--config", str(bad), "--paper", "mirl", "--algo", "mirl", "--env", "corridor",
                             "--seed", "0"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "experiments.mirl_tabular.seeds: -1 is less than the minimum of 1" in result.stderr
    assert not (tmp_path / "results").exists()


def test_snakemake_stops_before_any_job_on_a_bad_config(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    (work / "bad.yaml").write_text("experiments: {mirl_tabular: {algorithms: [ql, nope]}}\n")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", "bad.yaml"],
                            cwd=work, capture_output=True, text=True, env=activated_env())
    assert result.returncode != 0
    assert "experiments.mirl_tabular.algorithms[1]: unknown algorithm 'nope'" in result.stdout + result.stderr
    assert not (work / "results" / "runs").exists()


@pytest.fixture
def finished_run(smoke_config, tmp_path):
    run_dir = tmp_path / "run"
    run(resolve_run(smoke_config, "mirl", "ql", "corridor", 0), run_dir, progress=False)
    return run_dir


def test_truncated_metrics_are_never_aggregated(finished_run, tmp_path, capsys):
    metrics = finished_run / runstore.METRICS
    metrics.write_bytes(metrics.read_bytes()[:-30])
    with pytest.raises(runstore.CorruptRun, match=f"{metrics}: content does not match the checksum"):
        runstore.read_run(finished_run)
    code = aggregate_main(["--analysis",
                           '{"bootstrap_reps": 100, "bootstrap_seed": 0, "confidence": 0.95, "final_window": 2}',
                           "--out-dir", str(tmp_path / "agg"), str(finished_run)])
    assert code == 2
    assert str(metrics) in capsys.readouterr().err
    assert not (tmp_path / "agg").exists()


def test_unfinished_and_corrupt_meta_are_named(finished_run):
    meta = finished_run / runstore.META
    meta.write_text("{not json")
    with pytest.raises(runstore.CorruptRun, match=f"{meta}: not valid JSON"):
        runstore.read_run(finished_run)
    meta.unlink()
    with pytest.raises(runstore.CorruptRun, match=f"{meta}: missing; the run did not finish"):
        runstore.read_run(finished_run)


def test_corrupt_checkpoint_is_named(smoke_config, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / runstore.CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(runstore.CorruptRun, match="checkpoint.pkl: unreadable checkpoint"):
        run(resolve_run(smoke_config, "mirl", "ql", "corridor", 0), tmp_path / "r", progress=False)


@pytest.mark.parametrize("patch, message", [
    ({"env": "maze"}, "spec.env: unknown environment 'maze'; allowed: corridor, left_once"),
    ({"agent": "DDQN"}, "spec.agent: unknown tabular agent 'DDQN'; allowed: QLearning"),
    ({"budget": {"total_steps": 10, "frames": 3}}, "spec.budget: unknown keys \\['frames'\\]"),
])
def test_hand_written_spec_is_checked_before_work(smoke_config, tmp_path, patch, message):
    spec = {**resolve_run(smoke_config, "mirl", "ql", "corridor", 0), **patch}
    with pytest.raises(ConfigError, match=message):
        run(spec, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
