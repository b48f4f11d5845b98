"""The benchmark (benchmarks/bench.py) runs in a tiny configuration and reports what it
documents."""

from __future__ import annotations

import json
import stat
import sys
import textwrap

import pytest
import torch

from benchmarks import bench
from mi_utils import book, estimators
from mi_utils.tasks import CorrelatedGaussian, cubic
from tests.conftest import TINY


def test_run_benchmark_tiny_has_the_documented_keys():
    result = bench.run_benchmark(
        steps=3, estimators=("nwj", "infonce"), critics=("separable", "concat"),
        device="cpu", config=TINY, mist="skip", tolerance=100.0,
    )  # fmt: skip
    assert bench.JSON_KEYS == (
        "device", "config", "methods", "loop_over_vectorized", "torch_mist_over_vectorized",
        "estimates", "comparable",
    )  # fmt: skip
    assert tuple(result)[: len(bench.JSON_KEYS)] == bench.JSON_KEYS
    assert set(result) - set(bench.JSON_KEYS) == {
        "per_critic", "loop_over_vectorized_separable", "loop_over_vectorized_concat",
    }  # fmt: skip
    for critic in ("separable", "concat"):
        entry = result["per_critic"][critic]
        assert entry["num_runs"] == 2 and len(entry["vectorized_repeats"]) == 3
        assert entry["vectorized_seconds"] == sorted(entry["vectorized_repeats"])[1]  # median
        assert entry["loop_seconds"] == sorted(entry["loop_repeats"])[1]
        ratio = entry["loop_seconds"] / entry["vectorized_seconds"]
        assert entry["loop_over_vectorized"] == pytest.approx(ratio)
        assert result[f"loop_over_vectorized_{critic}"] == pytest.approx(ratio)
    assert result["device"] == "cpu"
    config = result["config"]
    assert (config["steps"], config["num_runs"], config["batch_size"]) == (3, 4, TINY.batch_size)
    assert config["dim"] == book.DIM and config["mi"] == pytest.approx(2.0)
    assert (config["hidden_dim"], config["lr"]) == (TINY.hidden_dim, TINY.lr)
    for method in ("vectorized", "loop"):
        m = result["methods"][method]
        assert m["wall_seconds"] > 0 and m["steps_per_second"] > 0
        assert m["steps_per_second"] == pytest.approx(4 * 3 / m["wall_seconds"])
    assert result["loop_over_vectorized"] == pytest.approx(
        result["methods"]["loop"]["wall_seconds"] / result["methods"]["vectorized"]["wall_seconds"]
    )
    assert result["torch_mist_over_vectorized"] is None and "torch_mist" not in result["methods"]
    assert [(r["estimator"], r["critic"]) for r in result["estimates"]] == [
        ("nwj", "separable"), ("infonce", "separable"), ("nwj", "concat"), ("infonce", "concat"),
    ]  # fmt: skip
    assert all(r["torch_mist"] is None for r in result["estimates"])
    assert result["comparable"] is True
    assert json.loads(json.dumps(result)) == result  # JSON-serialisable as it is


def test_default_estimators_are_the_staircase_tag():
    assert bench.default_estimators() == estimators.names(tag="staircase")


def test_interpolated_runs_at_the_benchmark_alpha_and_another_task_skips_mist(tmp_path):
    task = cubic(CorrelatedGaussian.from_mi(1.0, 3))
    result = bench.run_benchmark(
        steps=2, estimators=("interpolated",), critics=("separable",), device="cpu",
        task=task, config=TINY, mist="require", mist_python=tmp_path / "missing" / "python",
    )  # fmt: skip
    # torch-mist samples the Gaussian itself: another task skips it (even with "require").
    assert "torch_mist" not in result["methods"]
    assert result["config"]["dim"] == 3 and result["config"]["mi"] == pytest.approx(1.0)
    assert bench._runs(("interpolated",), ("concat",), task)[0].options == {
        "alpha": bench.BENCH_ALPHA
    }


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


def test_loop_critics_match_the_score_convention():
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    concat = bench._LoopCritic("concat", 3, 2, TINY)
    s = concat(x, y)
    assert s.shape == (5, 5)
    i, j = 1, 3
    torch.testing.assert_close(s[i, j], concat.net(torch.cat([x[j], y[i]])).squeeze())
    separable = bench._LoopCritic("separable", 3, 2, TINY)
    s = separable(x, y)
    torch.testing.assert_close(s[i, j], separable.h(y[i]) @ separable.g(x[j]))


def test_cli_json_prints_one_object(capsys):
    assert bench.main(
        ["--json", "--steps", "2", "--estimators", "infonce", "mine", "--critics", "separable",
         "--device", "cpu", "--profile", "quick", "--mist", "skip"]
    ) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    result = json.loads(out)
    assert tuple(result)[: len(bench.JSON_KEYS)] == bench.JSON_KEYS
    assert "loop_over_vectorized_separable" in result and result["config"]["repeats"] == 3
    assert set(result["methods"]) == {"vectorized", "loop"}
    assert result["config"]["steps"] == 2 and result["config"]["num_runs"] == 2
    assert result["config"]["hidden_dim"] == book.train_config("quick").hidden_dim
    assert [r["estimator"] for r in result["estimates"]] == ["infonce", "mine"]


def test_cli_table(capsys):
    bench.main(["--steps", "1", "--estimators", "nwj", "--critics", "concat", "--device", "cpu",
                "--profile", "quick", "--mist", "skip"])  # fmt: skip
    out = capsys.readouterr().out
    assert "loop / vectorized:" in out and "all methods comparable:" in out
    assert "nwj" in out and "concat" in out


@pytest.mark.parametrize(
    "argv",
    [["--estimators", "ba"], ["--critics", "bilinear"], ["--mist", "maybe"],
     ["--profile", "medium"], ["--steps", "two"]],
)  # fmt: skip
def test_cli_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as err:
        bench.main(argv)
    assert err.value.code == 2
    assert "invalid" in capsys.readouterr().err


def test_mist_missing_is_reported_or_raises(tmp_path):
    missing = tmp_path / "venv-absent" / "bin" / "python"
    kwargs = dict(steps=1, estimators=("nwj",), critics=("separable",), device="cpu",
                  config=TINY, mist_python=missing)  # fmt: skip
    with pytest.raises(RuntimeError, match="bench-setup"):
        bench.run_benchmark(**kwargs, mist="require")
    auto = bench.run_benchmark(**kwargs, mist="auto")
    assert auto["methods"]["torch_mist"] == {"available": False, "reason": "venv-absent not set up"}
    assert auto["torch_mist_over_vectorized"] is None
    assert auto["estimates"][0]["torch_mist"] is None


def test_mist_missing_from_the_command_line(tmp_path, capsys):
    bench.main(["--json", "--steps", "1", "--estimators", "nwj", "--critics", "separable",
                "--device", "cpu", "--profile", "quick",
                "--mist-python", str(tmp_path / "nowhere" / "python")])  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["methods"]["torch_mist"]["available"] is False


def _fake_mist(tmp_path, body: str):
    """A stand-in for ``.venv-mist/bin/python``: runs ``body`` with the worker's payload."""
    worker = tmp_path / "fake_worker.py"
    worker.write_text("import json, sys\npayload = json.load(sys.stdin)\n" + textwrap.dedent(body))
    python = tmp_path / "venv-fake" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{worker}"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return python


def test_mist_worker_payload_and_report(tmp_path):
    python = _fake_mist(
        tmp_path,
        f"""
        with open({str(tmp_path / "payload.json")!r}, "w") as f:
            json.dump(payload, f)
        runs = [dict(estimator=e, critic=c, final_estimate=payload["mi"])
                for c in payload["critics"] for e in payload["estimators"] if e != "mine"]
        print("torch-mist chatter")
        print(json.dumps(dict(wall_seconds=2.0, steps_per_second=5.0, num_runs=len(runs),
                              torch_mist_version="fake", unsupported=["mine"], runs=runs)))
    """,
    )
    result = bench.run_benchmark(
        steps=2, estimators=("interpolated", "mine"), critics=("separable",), device="cpu",
        config=TINY, mi=1.5, mist="require", mist_python=python, tolerance=100.0,
    )  # fmt: skip
    payload = json.loads((tmp_path / "payload.json").read_text())
    assert payload["estimators"] == ["interpolated", "mine"]
    assert payload["needs_baseline"] == ["interpolated"] and payload["critics"] == ["separable"]
    assert (payload["steps"], payload["dim"], payload["mi"]) == (2, book.DIM, 1.5)
    assert (payload["batch_size"], payload["lr"], payload["alpha"]) == (
        TINY.batch_size,
        TINY.lr,
        bench.BENCH_ALPHA,
    )
    mist = result["methods"]["torch_mist"]
    assert mist == {"wall_seconds": 2.0, "steps_per_second": 5.0, "num_runs": 1,
                    "version": "fake", "unsupported": ["mine"]}  # fmt: skip
    assert result["torch_mist_over_vectorized"] == pytest.approx(
        result["methods"]["vectorized"]["steps_per_second"] / 5.0
    )
    assert [r["torch_mist"] for r in result["estimates"]] == [1.5, None]


def test_mist_worker_failure_raises(tmp_path):
    python = _fake_mist(tmp_path, "sys.exit('torch_mist is broken')")
    with pytest.raises(RuntimeError, match=r"(?s)torch-mist worker failed.*broken"):
        bench.run_benchmark(steps=1, estimators=("nwj",), critics=("separable",), device="cpu",
                            config=TINY, mist="auto", mist_python=python)  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), ValueError, "steps"),
        (dict(estimators=("nce",)), ValueError, "estimator"),
        (dict(mist="maybe"), ValueError, "mist"),
        (dict(critics=("bilinear",)), ValueError, "critic"),
        (dict(device="tpu"), ValueError, "device"),
    ],
)
def test_bad_configuration_raises(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bench.run_benchmark(**{"config": TINY, "device": "cpu", "mist": "skip", **kwargs})


@pytest.mark.skipif(not bench.MIST_PYTHON.exists(), reason="needs .venv-mist (make bench-setup)")
@pytest.mark.slow
def test_torch_mist_worker_tiny():
    result = bench.run_benchmark(
        steps=3, estimators=("nwj", "infonce"), critics=("separable",), device="cpu",
        config=TINY, mist="require", tolerance=100.0,
    )  # fmt: skip
    mist = result["methods"]["torch_mist"]
    assert mist["wall_seconds"] > 0 and mist["num_runs"] == 2 and mist["unsupported"] == []
    assert result["torch_mist_over_vectorized"] > 0
    assert all(r["torch_mist"] is not None for r in result["estimates"])


def test_sweep_benchmark_times_the_staircase_per_critic():
    out = bench.sweep_benchmark("quick", ("separable",), 2, "cpu", steps_per_level=3)
    entry = out["separable"]
    assert entry["vectorized"]["num_runs"] == 18 and entry["vectorized"]["num_steps"] == 15
    assert entry["loop"]["slice_steps"] == 2 and entry["loop"]["extrapolated"] is True
    assert entry["loop"]["extrapolated_seconds"] == pytest.approx(
        entry["loop"]["measured_seconds"] * 15 / 2
    )
    assert entry["loop_over_vectorized"] == pytest.approx(
        entry["loop"]["extrapolated_seconds"] / entry["vectorized"]["wall_seconds"]
    )


def test_cli_sweep_rejects_a_bad_slice(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--sweep", "0", "--device", "cpu"])
    assert "--sweep" in capsys.readouterr().err


def test_estimate_benchmark_reports_time_and_accuracy_per_task():
    from benchmarks.estimate_bench import estimate_benchmark

    out = estimate_benchmark(
        ("1v1-normal-0.75",), n=300, device="cpu", max_steps=20, eval_every=10,
        hidden_dim=8, num_runs=2, ksg=False,
    )  # fmt: skip
    (row,) = out["estimate_mi"]
    assert row["task"] == "1v1-normal-0.75" and row["wall_seconds"] > 0
    assert abs(row["true_mi"] - 0.4133) < 1e-3 and row["ci"][0] <= row["estimate"] <= row["ci"][1]
    assert out["ksg_mi"]["n"] == 300 and out["ksg_mi"]["wall_seconds"] > 0


def test_estimate_benchmark_command_line_refuses_tiny_n():
    from benchmarks import estimate_bench

    with pytest.raises(SystemExit):
        estimate_bench.main(["--n", "3"])


def test_bench_estimate_flag_runs_the_estimate_benchmark(monkeypatch, capsys):
    from benchmarks import estimate_bench

    seen = {}

    def fake(device=None):
        seen["device"] = device
        return {"estimate_mi": [], "ksg_mi": {}}

    monkeypatch.setattr(estimate_bench, "estimate_benchmark", fake)
    assert bench.main(["--estimate", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out) == {"estimate_mi": [], "ksg_mi": {}}
    assert seen == {"device": "cpu"}
