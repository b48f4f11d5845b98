"""Profiles and device selection."""

from __future__ import annotations

import pytest
import torch

from mi_utils.config import PROFILE_ENV_VAR, default_device, get_profile


def test_explicit_profile_wins(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV_VAR, "full")
    assert get_profile("quick") == "quick"
    assert get_profile(" FULL ") == "full"


def test_env_var(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV_VAR, "full")
    assert get_profile() == "full"
    monkeypatch.setenv(PROFILE_ENV_VAR, "quick")
    assert get_profile() == "quick"


@pytest.mark.parametrize("cuda", [True, False])
def test_default_depends_on_cuda(monkeypatch, cuda):
    monkeypatch.delenv(PROFILE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert get_profile() == ("full" if cuda else "quick")
    assert default_device() == torch.device("cuda" if cuda else "cpu")


def test_empty_env_var_means_default(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV_VAR, "")
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


def test_default_device_explicit():
    assert default_device("cpu") == torch.device("cpu")
    with pytest.raises(TypeError, match="device"):
        default_device(0.5)
