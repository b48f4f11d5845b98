"""The benchmark runs in a tiny configuration and reports what it documents."""

from __future__ import annotations

import json

import pytest
import torch

from mi_utils import bench
from mi_utils.train import TrainConfig

TINY = TrainConfig(dim=3, batch_size=8, hidden_dim=16, embed_dim=4, lr=1e-2)


def test_run_benchmark_tiny_has_the_documented_keys():
    result = bench.run_benchmark(
        steps=3, estimators=("nwj", "infonce"), critics=("separable", "concat"),
        device="cpu", config=TINY, mist="skip", tolerance=100.0,
    )  # fmt: skip
    assert tuple(result) == bench.JSON_KEYS
    for method in ("vectorized", "loop"):
        m = result["methods"][method]
        assert m["wall_seconds"] > 0 and m["steps_per_second"] > 0
        assert m["steps_per_second"] == pytest.approx(4 * 3 / m["wall_seconds"])
    assert result["loop_over_vectorized"] == pytest.approx(
        result["methods"]["loop"]["wall_seconds"] / result["methods"]["vectorized"]["wall_seconds"]
    )
    assert result["torch_mist_over_vectorized"] is None and "torch_mist" not in result["methods"]
    assert len(result["estimates"]) == 4 and result["comparable"] is True
    json.dumps(result)  # JSON-serialisable


def test_comparable_flags_a_disagreement():
    result = bench.run_benchmark(
        steps=3, estimators=("nwj",), critics=("separable",), device="cpu", config=TINY,
        mist="skip", tolerance=0.0, mi=0.0,
    )  # fmt: skip
    # Different seeds and code paths give different estimates: zero tolerance must say so.
    assert result["comparable"] is False and result["estimates"][0]["comparable"] is False


def test_loop_reference_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    bench.run_benchmark(
        steps=2, estimators=("dv",), critics=("concat",), device="cpu", config=TINY, mist="skip"
    )
    assert torch.equal(state, torch.get_rng_state())


def test_loop_concat_critic_matches_its_convention():
    critic = bench._LoopCritic("concat", TINY)
    x, y = torch.randn(5, 3), torch.randn(5, 3)
    s = critic(x, y)
    assert s.shape == (5, 5)
    i, j = 1, 3
    torch.testing.assert_close(s[i, j], critic.net(torch.cat([x[j], y[i]])).squeeze())


def test_cli_json(capsys):
    bench.main(
        ["--steps", "2", "--estimators", "infonce", "--critics", "separable", "--device", "cpu",
         "--profile", "quick", "--mist", "skip", "--json"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert tuple(out) == bench.JSON_KEYS
    assert set(out["methods"]) == {"vectorized", "loop"}


def test_mist_require_without_its_environment_raises(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "MIST_PYTHON", tmp_path / "missing" / "python")
    with pytest.raises(RuntimeError, match="bench-setup"):
        bench.run_benchmark(steps=1, estimators=("nwj",), critics=("separable",),
                            device="cpu", config=TINY, mist="require")  # fmt: skip
    auto = bench.run_benchmark(steps=1, estimators=("nwj",), critics=("separable",),
                               device="cpu", config=TINY, mist="auto")  # fmt: skip
    assert auto["methods"]["torch_mist"]["available"] is False


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(estimators=("nce",)), "estimators"),
        (dict(mist="maybe"), "mist"),
    ],
)
def test_bad_configuration_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.run_benchmark(**{"config": TINY, "device": "cpu", "mist": "skip", **kwargs})


@pytest.mark.skipif(not bench.MIST_PYTHON.exists(), reason="needs .venv-mist (make bench-setup)")
def test_torch_mist_worker_tiny():
    result = bench.run_benchmark(
        steps=3, estimators=("nwj", "infonce"), critics=("separable",), device="cpu",
        config=TINY, mist="require", tolerance=100.0,
    )  # fmt: skip
    mist = result["methods"]["torch_mist"]
    assert mist["wall_seconds"] > 0 and mist["num_runs"] == 2 and mist["unsupported"] == []
    assert result["torch_mist_over_vectorized"] > 0
    assert all(r["torch_mist"] is not None for r in result["estimates"])
