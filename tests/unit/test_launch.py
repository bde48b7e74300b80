"""Which reader reads the files that feed dockerd's command line, and what validate, fix and the
conflict checks make of it, on --root trees shaped like real hosts. How systemd itself reads a
unit and its EnvironmentFiles is pinned against a real systemd in
tests/adversarial/test_env_readers.py; these trees use only rules proved there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_detect import DEBIAN_UNIT

IDIOM = '# Debian\'s idiom\nDOCKER_OPTS="$DOCKER_OPTS --registry-mirror https://m.example.com"\n'
WRONG = 'DOCKER_OPTS="--insecure-registries=192.168.199.100:5000"\n'


def tree(root: Path, files: dict[str, str], systemd: bool = True) -> Path:
    if systemd:
        files = {"/lib/systemd/system/docker.service": DEBIAN_UNIT, **files}
        (root / "run/systemd/system").mkdir(parents=True)
    else:
        files = {"/etc/init.d/docker": "#!/bin/sh\n", **files}
    for name, text in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "etc/docker").mkdir(parents=True, exist_ok=True)
    return root


def cli(root: Path, *args: str) -> tuple[int, dict]:
    env = dict(os.environ, HOME="/home/alice")
    env.pop("SUDO_USER", None)
    done = subprocess.run(
        [sys.executable, "-m", "dockercfg", "--root", str(root), "--docker-version", "20.10",
         *args, "--json"], capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_debian_idiom_under_systemd_gives_dockerd_the_literal_word(tmp_path):
    root = tree(tmp_path, {"/etc/default/docker": IDIOM})
    code, out = cli(root, "validate")
    assert code == 1, out
    (problem,) = [p for p in out["problems"] if p["severity"] == "error"]
    assert problem["code"] == "dockerd-argument"
    assert problem["path"] == "/etc/default/docker:2"
    assert "accepts no argument(s)" in problem["message"] and "$DOCKER_OPTS" in problem["message"]
    code, out = cli(root, "detect")
    assert out["data"]["next_start"]["reader"] == "systemd"
    assert out["data"]["next_start"]["argv"][-3:] == [
        "$DOCKER_OPTS", "--registry-mirror", "https://m.example.com",
    ]  # fmt: skip


def test_the_same_file_under_sysvinit_is_sourced_by_sh_and_is_fine(tmp_path):
    root = tree(tmp_path, {"/etc/default/docker": IDIOM}, systemd=False)
    code, out = cli(root, "validate")
    assert code == 0, out
    code, out = cli(root, "detect")
    assert out["data"]["next_start"]["reader"] == "/bin/sh"
    assert out["data"]["next_start"]["argv"][-2:] == ["--registry-mirror", "https://m.example.com"]


def test_validate_checks_docker_opts_even_when_daemon_json_is_the_target(tmp_path):
    root = tree(tmp_path, {"/etc/default/docker": WRONG, "/etc/docker/daemon.json": "{}\n"})
    code, out = cli(root, "validate")
    assert code == 1, out
    (problem,) = out["problems"]
    assert (problem["code"], problem["path"]) == ("unknown-flag", "/etc/default/docker:1")
    assert problem["hint"] == "use --insecure-registry 192.168.199.100:5000"
    code, out = cli(root, "add-insecure", "other.test:5000")
    assert code == 1 and "dockercfg fix" in out["error"], out


def test_fix_rewrites_the_flag_file_although_daemon_json_is_the_target(tmp_path):
    root = tree(tmp_path, {"/etc/default/docker": WRONG})
    code, out = cli(root, "fix")
    assert code == 0 and out["changed"] is True, out
    assert [f["path"] for f in out["data"]["files"]] == ["/etc/default/docker"]
    assert (root / "etc/default/docker").read_text() == (
        'DOCKER_OPTS="--insecure-registry 192.168.199.100:5000"\n'
    )
    assert not (root / "etc/docker/daemon.json").exists()  # no file created for nothing
    assert cli(root, "validate")[0] == 0
    code, out = cli(root, "fix")
    assert code == 0 and out["changed"] is False


def test_conflicts_name_the_file_and_line_of_the_flag(tmp_path):
    opts = '# mirrors\nDOCKER_OPTS="--dns 1.1.1.1"\nDOCKER_OPTS="--insecure-registry a.test:5000"\n'
    root = tree(
        tmp_path,
        {"/etc/default/docker": opts, "/etc/docker/daemon.json": '{"insecure-registries": []}\n'},
    )
    code, out = cli(root, "validate")
    assert code == 1
    (problem,) = out["problems"]
    assert problem["code"] == "flag-conflict"
    assert "(/etc/default/docker:3)" in problem["message"], problem
    assert "ExecStart" not in problem["message"]


def test_drop_ins_and_environment_lines_are_read_in_systemds_order(tmp_path):
    root = tree(
        tmp_path,
        {
            "/etc/default/docker": 'DOCKER_OPTS="--debug"\n',
            "/etc/systemd/system/docker.service.d/10-env.conf": (
                "[Service]\nEnvironment=DOCKER_OPTS=--from-environment\n"
                "EnvironmentFile=/etc/docker/more.env\n"
            ),
            "/etc/docker/more.env": "DOCKER_OPTS='--insecure-registry b.test:5000'\n",
            "/etc/docker/daemon.json": '{"insecure-registries": ["c.test:5000"]}\n',
        },
    )
    code, out = cli(root, "validate")
    assert code == 1
    assert "(/etc/docker/more.env:1)" in out["problems"][0]["message"]


def test_a_missing_environment_file_without_dash_is_reported(tmp_path):
    root = tree(
        tmp_path,
        {"/etc/systemd/system/docker.service.d/x.conf": "[Service]\nEnvironmentFile=/etc/no\n"},
    )
    code, out = cli(root, "validate")
    assert code == 1
    (problem,) = out["problems"]
    assert problem["code"] == "environment-file"
    assert problem["path"] == "/etc/systemd/system/docker.service.d/x.conf:2"


def test_validate_given_an_env_file_reads_it_as_one(tmp_path):
    root = tree(tmp_path, {"/etc/default/docker": "# comment first\n" + WRONG})
    code, out = cli(root, "validate", str(root / "etc/default/docker"))
    assert code == 1, out
    assert "invalid character" not in json.dumps(out)
    assert [p["code"] for p in out["problems"]] == ["unknown-flag"]
    other = tmp_path / "elsewhere.env"
    other.write_text(IDIOM)
    code, out = cli(root, "validate", str(other))
    assert code == 1 and out["problems"][0]["code"] == "dockerd-argument", out
    good = tmp_path / "daemon.json"
    good.write_text('{"debug": true}\n')
    assert cli(root, "validate", str(good))[0] == 0


def test_fix_drops_the_self_reference_systemd_passes_literally(tmp_path):
    root = tree(tmp_path, {"/etc/default/docker": IDIOM})
    code, out = cli(root, "fix")
    assert code == 0 and out["changed"] is True, out
    assert (root / "etc/default/docker").read_text() == (
        '# Debian\'s idiom\nDOCKER_OPTS="--registry-mirror https://m.example.com"\n'
    )
    assert any("does not expand it" in w for w in out["warnings"]), out["warnings"]
    assert cli(root, "validate")[0] == 0


def test_a_self_reference_that_accumulates_is_left_for_a_human(tmp_path):
    text = 'DOCKER_OPTS="-D"\nDOCKER_OPTS="$DOCKER_OPTS --registry-mirror https://m.example.com"\n'
    root = tree(tmp_path, {"/etc/default/docker": text})
    code, out = cli(root, "fix")
    assert code == 0 and out["changed"] is False, out  # sh would lose -D without it
    assert (root / "etc/default/docker").read_text() == text
    assert cli(root, "validate")[0] == 1


def test_a_wrapper_scripts_arguments_are_not_judged_as_dockerds(tmp_path):
    dropin = "[Service]\nExecStart=\nExecStart=/usr/local/bin/start-docker --profile lab\n"
    root = tree(tmp_path, {"/etc/systemd/system/docker.service.d/wrap.conf": dropin})
    code, out = cli(root, "validate")
    assert code == 0, out


def test_show_names_the_line_a_flag_comes_from(tmp_path):
    root = tree(
        tmp_path, {"/etc/default/docker": 'DOCKER_OPTS="--insecure-registry a.test:5000"\n'}
    )
    code, out = cli(root, "show")
    assert code == 0, out
    assert {"value": "a.test:5000", "source": "dockerd flag (/etc/default/docker:1)"} in out[
        "data"
    ]["insecure_registries"]


def test_sysvinit_without_etc_default_docker_yet(tmp_path):
    root = tree(tmp_path, {}, systemd=False)
    code, out = cli(root, "detect")
    assert code == 0, out
    assert out["data"]["next_start"]["argv"] == ["/usr/bin/dockerd", "-p", "/var/run/docker.pid"]


def test_systemd_running_debians_init_script_reads_it_with_sh(tmp_path):
    generated = "[Service]\nExecStart=/etc/init.d/docker start\nExecStop=/etc/init.d/docker stop\n"
    root = tree(tmp_path, {"/etc/default/docker": IDIOM}, systemd=False)
    (root / "run/systemd/generator.late").mkdir(parents=True)
    (root / "run/systemd/generator.late/docker.service").write_text(generated)
    (root / "run/systemd/system").mkdir(parents=True)
    code, out = cli(root, "detect")
    assert out["data"]["next_start"]["reader"] == "/bin/sh", out
    assert cli(root, "validate")[0] == 0


def test_rhel_sysconfig_under_systemd(tmp_path):
    from test_detect import CENTOS7_UNIT

    root = tree(
        tmp_path,
        {
            "/lib/systemd/system/docker.service": CENTOS7_UNIT,
            "/etc/sysconfig/docker": (
                "# RHEL\nOPTIONS='--selinux-enabled --insecure-registries=a.test:5000'\n"
            ),
        },
    )
    code, out = cli(root, "validate")
    assert code == 1, out
    (problem,) = out["problems"]  # the sysconfig target's own reading (paths inside --root)
    assert problem["code"] == "unknown-flag"
    assert problem["path"].endswith("/etc/sysconfig/docker:2")
    code, out = cli(root, "detect")
    assert out["data"]["next_start"]["origins"][-2:] == ["/etc/sysconfig/docker:2"] * 2
