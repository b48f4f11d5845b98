"""The book's profiles (mi_utils.book): resolution, settings, steps and the staircase."""

from __future__ import annotations

import pytest
import torch

from mi_utils import book
from mi_utils.book import (
    DIM,
    PROFILE_ENV_VAR,
    PROFILES,
    STAIRCASE_TASKS,
    get_profile,
    staircase_schedule,
    steps_per_level,
    train_config,
)
from mi_utils.tasks import STAIRCASE_LEVELS, CorrelatedGaussian, Cube, TransformedTask
from mi_utils.train import TrainConfig


# ----------------------------------------------------------------------------- get_profile
def test_constants():
    assert PROFILES == ("quick", "full") and PROFILE_ENV_VAR == "MI_BOOK_PROFILE"
    assert DIM == 20 and STAIRCASE_TASKS == ("gaussian", "cubic")


def test_explicit_profile_wins(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV_VAR, "full")
    assert get_profile("quick") == "quick"
    assert get_profile(" FULL ") == "full"


def test_env_var(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV_VAR, "full")
    assert get_profile() == "full"
    monkeypatch.setenv(PROFILE_ENV_VAR, " Quick ")
    assert get_profile() == "quick"


@pytest.mark.parametrize("cuda", [True, False])
def test_default_depends_on_cuda(monkeypatch, cuda):
    monkeypatch.delenv(PROFILE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert get_profile() == ("full" if cuda else "quick")


def test_empty_env_var_means_default(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV_VAR, "  ")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile() == "quick"


def test_unknown_profile_raises(monkeypatch):
    with pytest.raises(ValueError, match=r"profile must be one of \('quick', 'full'\)"):
        get_profile("fast")
    with pytest.raises(TypeError, match="profile"):
        get_profile(3)
    monkeypatch.setenv(PROFILE_ENV_VAR, "medium")
    with pytest.raises(ValueError, match=PROFILE_ENV_VAR):
        get_profile()
    with pytest.raises(ValueError, match=PROFILE_ENV_VAR):
        train_config()  # every helper resolves through get_profile


# ----------------------------------------------------------------------------- settings
def test_full_profile_is_the_papers_settings():
    cfg = train_config("full")
    assert isinstance(cfg, TrainConfig)
    assert (cfg.hidden_dim, cfg.embed_dim, cfg.lr, cfg.batch_size) == (256, 32, 5e-4, 64)
    assert (cfg.num_layers, cfg.activation) == (2, "relu")
    assert cfg.concat_hidden_dim is None
    assert cfg.baseline_hidden_dim == 512  # the reference notebook's learned baseline
    assert cfg == TrainConfig()  # the library's documented default is the paper's


def test_quick_profile_settings():
    cfg = train_config("quick")
    assert (cfg.hidden_dim, cfg.concat_hidden_dim, cfg.embed_dim, cfg.lr) == (128, 32, 32, 1e-3)
    assert cfg.batch_size == 64  # so that log K (InfoNCE's ceiling) is the paper's


def test_train_config_overrides_and_active_profile(monkeypatch):
    assert train_config("full", lr=0.01, chunk_steps=5) == TrainConfig(lr=0.01, chunk_steps=5)
    assert train_config("quick", hidden_dim=8).hidden_dim == 8
    monkeypatch.setenv(PROFILE_ENV_VAR, "quick")
    assert train_config() == train_config("quick")
    with pytest.raises(TypeError):
        train_config("full", dim=20)  # TrainConfig has no dim any more: it comes from the task
    with pytest.raises(ValueError, match="lr"):
        train_config("full", lr=-1.0)


def test_steps_per_level(monkeypatch):
    assert steps_per_level("full") == 4000
    assert steps_per_level("quick") == 400
    monkeypatch.setenv(PROFILE_ENV_VAR, "full")
    assert steps_per_level() == 4000


# ----------------------------------------------------------------------------- staircase
def test_gaussian_staircase_of_the_paper():
    s = staircase_schedule("full")
    assert s.levels == STAIRCASE_LEVELS == (2.0, 4.0, 6.0, 8.0, 10.0)
    assert s.num_steps == 5 * 4000 and s.name == "gaussian"
    rhos = [task.rho for task, _ in s.segments]
    assert rhos == pytest.approx([0.4258, 0.5742, 0.6717, 0.7421, 0.7951], abs=5e-5)
    for task, n in s.segments:
        assert isinstance(task, CorrelatedGaussian) and task.dim == 20 and n == 4000


def test_cubic_staircase():
    s = staircase_schedule("quick", task="cubic")
    assert s.name == "cubic" and s.num_steps == 5 * 400
    assert s.levels == STAIRCASE_LEVELS
    gaussian = staircase_schedule("quick")
    for (task, n), (base, _) in zip(s.segments, gaussian.segments, strict=True):
        assert isinstance(task, TransformedTask) and isinstance(task.y_transform, Cube)
        assert task.x_transform is None and task.name == "cubic" and n == 400
        assert task.task == base  # the cube of the same Gaussian level
        assert task.mi == pytest.approx(base.mi)


def test_staircase_options():
    s = staircase_schedule("full", levels=(1.0, 3.0), steps=7, dim=4)
    assert s.levels == (1.0, 3.0) and s.num_steps == 14 and (s.x_dim, s.y_dim) == (4, 4)
    assert [t.mi for t, _ in s.segments] == pytest.approx([1.0, 3.0])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(task="mixed"), ValueError, r"task must be one of \('gaussian', 'cubic'\)"),
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(dim=0), ValueError, "dim"),
        (dict(levels=()), ValueError, "levels"),
        (dict(levels=(-1.0,)), ValueError, "levels"),
    ],
)
def test_staircase_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        staircase_schedule("quick", **kwargs)


def test_book_module_exports():
    for name in book.__all__:
        assert hasattr(book, name), name
