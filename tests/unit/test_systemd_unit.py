"""Unit files as systemd's config parser reads them (src/shared/conf-parser.c) and which files
make up a unit; the same rules run against a real systemd in tests/adversarial/test_env_readers.py
(continuations, comments inside them, sections, drop-ins in order)."""

from __future__ import annotations

from dockercfg.formats.systemd_unit import parse_unit, unit_paths


def test_sections_continuations_and_comments():
    text = (
        "[Unit]\nExecStart=/not/this\n"
        "[Service]\n"
        "  Environment = A=1  \n"
        "ExecStart=/usr/sbin/dockerd \\\n"
        "# skipped, also inside a continuation\n"
        "   -H fd:// \\\n"
        "  $DOCKER_OPTS\n"
        "; a comment\n"
        "NoEquals\n"
        "ExecStart=\n"
    )
    got = [(d.section, d.key, d.value, d.line) for d in parse_unit(text)]
    assert got == [
        ("Unit", "ExecStart", "/not/this", 2),
        ("Service", "Environment", "A=1", 4),
        ("Service", "ExecStart", "/usr/sbin/dockerd     -H fd://    $DOCKER_OPTS", 5),
        ("Service", "ExecStart", "", 11),
    ]


def test_an_even_number_of_backslashes_does_not_continue():
    got = [(d.key, d.value) for d in parse_unit("[Service]\nA=x\\\\\nB=y\n")]
    assert got == [("A", "x\\\\"), ("B", "y")]


def test_the_first_fragment_wins_and_drop_ins_of_a_name_are_masked(tmp_path):
    for path, text in {
        "etc/systemd/system/docker.service.d/20-b.conf": "[Service]\n",
        "lib/systemd/system/docker.service": "[Service]\n",
        "lib/systemd/system/docker.service.d/10-a.conf": "[Service]\n",
        "lib/systemd/system/docker.service.d/20-b.conf": "[Service]\n",
        "lib/systemd/system/docker.service.d/notes.txt": "",
        "usr/lib/systemd/system/docker.service": "[Service]\n",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert unit_paths(tmp_path, "docker.service") == [
        "/lib/systemd/system/docker.service",
        "/lib/systemd/system/docker.service.d/10-a.conf",
        "/etc/systemd/system/docker.service.d/20-b.conf",
    ]
    assert unit_paths(tmp_path, "other.service") == []
