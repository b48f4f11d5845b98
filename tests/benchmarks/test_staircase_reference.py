"""benchmarks/staircase_reference.py: the CSV Chapter 7 reads, and the stored one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks import staircase_reference
from mi_utils import book
from mi_utils.experiments import staircase_settings

COLUMNS = {"estimator", "alpha", "critic", "task", "true_mi", "mean", "std", "profile",
           "steps_per_level", "device", "machine", "torch", "wall_seconds"}  # fmt: skip


def test_main_writes_one_row_per_setting_and_level(tmp_path, monkeypatch):
    monkeypatch.setitem(book._STEPS_PER_LEVEL, "full", 4)  # 4 steps per level: seconds, not hours
    out = tmp_path / "ref.csv"
    assert staircase_reference.main(["--out", str(out), "--device", "cpu"]) == 0
    df = pd.read_csv(out)
    assert COLUMNS <= set(df.columns)
    levels = book.staircase_schedule("full").levels
    assert len(df) == len(staircase_settings()) * len(levels)
    assert set(df["critic"]) == {"separable"} and set(df["task"]) == {"gaussian"}
    assert (df["steps_per_level"] == 4).all() and (df["profile"] == "full").all()


def test_the_stored_reference_matches_the_chapter_settings():
    stored = pd.read_csv(staircase_reference.DEFAULT_OUT)
    assert COLUMNS <= set(stored.columns)
    assert (stored["steps_per_level"] == book.steps_per_level("full")).all()
    names = {(e, o.get("alpha")) for e, o in staircase_settings()}
    pairs = zip(stored["estimator"], stored["alpha"], strict=True)
    got = {(e, None if pd.isna(a) else a) for e, a in pairs}
    assert got == names
    assert sorted(stored["true_mi"].unique()) == sorted(book.staircase_schedule("full").levels)


@pytest.mark.parametrize("argv", [["--critics", "linear"], ["--tasks"], ["--bogus"]])
def test_cli_rejects_bad_arguments(argv, tmp_path):
    with pytest.raises((SystemExit, ValueError)):
        staircase_reference.main([*argv, "--out", str(tmp_path / "x.csv")])
    assert not Path(tmp_path / "x.csv").exists()
