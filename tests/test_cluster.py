"""The SLURM pre-flight check against canned sinfo output (the real cluster is in test_slurm.py)."""

import pytest

from rlrepro.core.cluster import ClusterError, check_site, has_gpu, read_partitions

SINFO = {
    ("sinfo", "--noheader", "--format=%R %G"): "cpu (null)\ncpu (null)\ngpu gpu:a100:4(S:0-1),shard:8\n",
    ("sinfo", "--noheader", "--format=%P"): "cpu*\ngpu\n",
}


def fake_sinfo(command):
    return SINFO[tuple(command)]


def test_partitions_and_their_gres_are_read_from_sinfo():
    assert read_partitions(fake_sinfo) == {"cpu": set(), "gpu": {"gpu:a100:4(S:0-1)", "shard:8"}}


@pytest.mark.parametrize(("gres", "model", "expected"), [
    ({"gpu:a100:4(S:0-1)"}, "", True), ({"gpu:a100:4"}, "a100", True), ({"gpu:a100:4"}, "h100", False),
    ({"gpu:2"}, "", True), ({"gpu:2"}, "a100", False), ({"shard:8"}, "", False), (set(), "", False),
])
def test_gpu_offer_is_parsed_from_gres(gres, model, expected):
    assert has_gpu(gres, model) is expected


def test_a_site_that_has_what_is_asked_passes():
    check_site("", "", "", needs_gpus=False, run=fake_sinfo)
    check_site("cpu", "gpu", "a100", needs_gpus=True, run=fake_sinfo)


@pytest.mark.parametrize(("args", "message"), [
    (("long", "", "", False), "cluster.partition (or RLREPRO_SLURM_PARTITION) is 'long', which this cluster lacks; "
                              "its partitions: cpu, gpu"),
    (("", "gpus", "", True), "cluster.gpu_partition (or RLREPRO_SLURM_GPU_PARTITION) is 'gpus'"),
    (("", "", "", True), "partition 'cpu' offers no generic resources"),  # the default partition has no GPUs
    (("", "gpu", "h100", True), "GPUs of type 'h100' (cluster.gpu_model / RLREPRO_SLURM_GPU_MODEL), but partition "
                                "'gpu' offers gpu:a100:4(S:0-1), shard:8"),
])
def test_what_the_cluster_lacks_is_named(args, message):
    with pytest.raises(ClusterError) as err:
        check_site(*args, run=fake_sinfo)
    assert message in str(err.value)


def test_gpu_partition_is_not_checked_for_cpu_only_runs():
    check_site("cpu", "gpus-that-do-not-exist", "", needs_gpus=False, run=fake_sinfo)


def test_no_partitions_means_no_controller():
    with pytest.raises(ClusterError, match="no partitions"):
        check_site("", "", "", needs_gpus=False, run=lambda command: "")


def test_a_machine_without_slurm_is_told_so(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClusterError, match="has no SLURM client .*sbatch.* not on PATH"):
        check_site("", "", "", needs_gpus=False)
