"""The pre-write check runs the real `dockerd --validate` of Debian 13's dockerd 26.1, and its
verdict is one signal beside dockercfg's own rules, never the only one: 26.1's --validate accepts
insecure-registry values that its real start rejects."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hostsetup import DOCKERD, DOCKERD_26
from support import unavailable

from dockercfg.validate import dockerd_validate, validate_bytes

pytestmark = pytest.mark.integration

V26 = (26, 1, 5)


@pytest.fixture
def dockerd26() -> str:
    if not os.access(DOCKERD_26, os.X_OK):
        unavailable(f"{DOCKERD_26} is missing: run `tests/fetch-debian13 docker.io containerd`")
    return str(DOCKERD_26)


def test_a_good_file_passes(dockerd26):
    assert dockerd_validate(b'{"insecure-registries": ["registry.test:5000"]}\n',
                            dockerd=dockerd26, version=V26) is None  # fmt: skip


def test_a_file_dockerd_rejects_carries_dockerds_own_words(dockerd26):
    found = dockerd_validate(b'{"max-concurrent-downloads": -1}\n', dockerd=dockerd26,
                             version=V26, source="/etc/docker/daemon.json")  # fmt: skip
    assert found is not None and found.is_error, found
    assert "invalid max concurrent downloads: -1" in found.message, found
    assert found.hint == f"reported by {dockerd26} --validate"
    assert "dockercfg-validate-" not in found.message  # the temp path is not shown


def test_the_file_dockerd_reads_is_a_private_copy_that_is_removed(dockerd26):
    scratch = Path(tempfile.gettempdir())
    before = set(scratch.glob("dockercfg-validate-*"))
    assert dockerd_validate(b"{}\n", dockerd=dockerd26, version=V26) is None
    assert set(scratch.glob("dockercfg-validate-*")) == before


def test_an_unknown_key_is_named_in_dockerds_words_with_the_real_path(dockerd26):
    found = dockerd_validate(b'{"bogus": 1}', dockerd=dockerd26, version=V26,
                             source="/etc/docker/daemon.json")  # fmt: skip
    assert found is not None and found.code == "dockerd-validate" and found.is_error, found
    assert found.message == (
        "unable to configure the Docker daemon with file /etc/docker/daemon.json:"
        " the following directives don't match any configuration option: bogus"
    ), found.message


def test_the_units_flags_are_checked_against_the_file(dockerd26):
    """As the unit starts it: a flag the file sets too is dockerd's conflict error."""
    data = b'{"hosts": ["unix:///run/x.sock"]}\n'
    assert dockerd_validate(data, dockerd=dockerd26, version=V26) is None
    found = dockerd_validate(data, dockerd=dockerd26, version=V26, extra_flags=["-H", "fd://"])
    assert found is not None and found.is_error, found
    assert "specified both as a flag and in the configuration file" in found.message, found


def test_the_version_is_asked_when_not_given(dockerd26):
    found = dockerd_validate(b'{"max-concurrent-downloads": -1}\n', dockerd=dockerd26)
    assert found is not None and "max concurrent downloads" in found.message


def test_validate_accepts_what_the_real_start_rejects_so_dockercfgs_rules_decide(dockerd26):
    data = b'{"insecure-registries": ["registry.test:5000/path"]}\n'
    assert dockerd_validate(data, dockerd=dockerd26, version=V26) is None  # --validate: OK
    problems = validate_bytes(data, source="daemon.json", version=V26)
    assert any(p.is_error and "registry.test:5000/path" in p.message for p in problems), problems


def test_dockerd_20_10_has_no_validate_flag_and_is_not_asked():
    assert dockerd_validate(b'{"max-concurrent-downloads": -1}\n', dockerd=DOCKERD,
                            version=(20, 10, 24)) is None  # fmt: skip


def test_another_version_asked_for_is_not_judged_by_this_binary(dockerd26):
    """`--docker-version 24.0` with 26.1 installed: 26.1's --validate would judge by 26.1's
    rules, so it is not asked (dockercfg's own rules for 24.0 still apply)."""
    bad = b'{"bogus": 1}'
    assert dockerd_validate(bad, dockerd=dockerd26, version=(24, 0, 0)) is None
    assert dockerd_validate(bad, dockerd=dockerd26, version=(26, 1, 0)) is not None
