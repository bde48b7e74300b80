"""The lock's deadline, its holder line and DOCKERCFG_LOCK_TIMEOUT, with literal expectations."""

from __future__ import annotations

import os
import stat
import time

import pytest

from dockercfg import filelock
from dockercfg.errors import EnvironmentProblem, UsageError


def test_the_default_deadline_is_30_seconds(monkeypatch):
    monkeypatch.delenv("DOCKERCFG_LOCK_TIMEOUT", raising=False)
    assert filelock.lock_timeout() == 30.0
    monkeypatch.setenv("DOCKERCFG_LOCK_TIMEOUT", "  ")
    assert filelock.lock_timeout() == 30.0


@pytest.mark.parametrize(("raw", "seconds"), [("0", 0.0), ("2.5", 2.5), (" 7 ", 7.0),
                                              ("999999", 999999.0)])  # fmt: skip
def test_the_deadline_from_the_environment(monkeypatch, raw, seconds):
    monkeypatch.setenv("DOCKERCFG_LOCK_TIMEOUT", raw)
    assert filelock.lock_timeout() == seconds


@pytest.mark.parametrize("raw", ["abc", "-1", "-0.001", "nan", "inf", "1e6", "1000000"])
def test_a_deadline_that_is_no_number_of_seconds_is_a_usage_error(monkeypatch, raw):
    monkeypatch.setenv("DOCKERCFG_LOCK_TIMEOUT", raw)
    with pytest.raises(UsageError) as info:
        filelock.lock_timeout()
    assert info.value.message == f"DOCKERCFG_LOCK_TIMEOUT={raw!r} is not a number of seconds"


def test_a_held_lock_times_out_at_its_deadline_naming_the_holder(tmp_path):
    conf = tmp_path / "daemon.json"
    with filelock.lock(conf):
        # flock belongs to the open file: a second open file in this process contends like
        # another process would.
        start = time.monotonic()
        with pytest.raises(EnvironmentProblem) as info, filelock.lock(conf, timeout=1.0):
            pass
        waited = time.monotonic() - start
    assert 1.0 <= waited < 1.8  # the deadline, not twice it
    assert info.value.message == (
        f"timed out after 1s waiting for the lock on {conf} (held by pid {os.getpid()})"
    )
    # Released: the holder line is emptied and the lock is free at once.
    assert (tmp_path / ".daemon.json.dockercfg.lock").read_bytes() == b""
    start = time.monotonic()
    with filelock.lock(conf, timeout=5):
        pass
    assert time.monotonic() - start < 1.0


def test_the_environment_deadline_applies_when_none_is_given(tmp_path, monkeypatch):
    conf = tmp_path / "daemon.json"
    monkeypatch.setenv("DOCKERCFG_LOCK_TIMEOUT", "0.5")
    with filelock.lock(conf):
        start = time.monotonic()
        with pytest.raises(EnvironmentProblem) as info, filelock.lock(conf):
            pass
        waited = time.monotonic() - start
    assert 0.5 <= waited < 1.2
    assert info.value.message.startswith(f"timed out after 0.5s waiting for the lock on {conf}")


def test_the_lock_file_sits_beside_the_file_0600(tmp_path):
    conf = tmp_path / "daemon.json"
    assert filelock.lock_path(conf) == tmp_path / ".daemon.json.dockercfg.lock"
    with filelock.lock(conf):
        lock = tmp_path / ".daemon.json.dockercfg.lock"
        assert lock.read_bytes() == f"{os.getpid()}\n".encode()
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_an_unrecorded_holder_is_another_process(tmp_path):
    conf = tmp_path / "daemon.json"
    with filelock.lock(conf):
        (tmp_path / ".daemon.json.dockercfg.lock").write_bytes(b"")
        with pytest.raises(EnvironmentProblem) as info, filelock.lock(conf, timeout=0.05):
            pass
    assert info.value.message.endswith("(held by another process)")


def test_a_planted_symlink_is_refused(tmp_path):
    conf = tmp_path / "daemon.json"
    (tmp_path / ".daemon.json.dockercfg.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EnvironmentProblem) as info, filelock.lock(conf, timeout=0.05):
        pass
    assert info.value.message == (
        f"cannot lock {conf}: {tmp_path / '.daemon.json.dockercfg.lock'} is a symlink"
    )
    assert not (tmp_path / "elsewhere").exists()
