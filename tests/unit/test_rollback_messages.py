"""The one line an exit 4 prints: what restoring did to each file (a file that did not exist is
removed, not "restored"), and a re-apply that fails for the same reason says so once.

The engine here is a stand-in that fails on purpose (named so); the files, the journal and the
transaction are the real ones. The live failures are in tests/adversarial/test_daemon_faults.py.
"""

from __future__ import annotations

import pytest

from dockercfg import journal, transaction
from dockercfg.engines.base import FileChange
from dockercfg.errors import ApplyFailed
from dockercfg.result import Result
from dockercfg.services.base import ServiceError


class FailingEngineStandIn:
    """Refuses every apply with the same message, forward and on the way back."""

    name = "dockerd"

    def apply(self, phase: str, result: Result) -> str:
        raise ServiceError("docker.service is failed after restart")

    def verify(self, phase: str, result: Result) -> None:
        return None


def test_a_created_file_is_removed_and_the_same_cause_is_said_once(tmp_path):
    created, edited = tmp_path / "daemon.json", tmp_path / "docker"
    edited.write_bytes(b'DOCKER_OPTS=""\n')
    changes = [
        FileChange(created, "/etc/docker/daemon.json", None, b"{}\n"),
        FileChange(edited, "/etc/default/docker", b'DOCKER_OPTS=""\n', b"DOCKER_OPTS=-D\n"),
    ]
    plan = transaction.Plan("fix", changes, [FailingEngineStandIn()])
    book = journal.Journal(tmp_path / "state")
    with pytest.raises(ApplyFailed) as info, transaction.locked(book, [created, edited]):
        transaction.commit(book, plan, Result(command="fix"))
    message = info.value.message
    assert not created.exists() and edited.read_bytes() == b'DOCKER_OPTS=""\n'
    assert "removed /etc/docker/daemon.json (it did not exist before)" in message, message
    assert "restored /etc/default/docker" in message and "restored /etc/docker" not in message
    assert message.count("docker.service is failed after restart") == 1, message
    assert "failed the same way" in message, message
