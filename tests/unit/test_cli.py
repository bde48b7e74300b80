"""The command-line contract on a --root prefix: exit codes, one-line errors, JSON, no damage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import require_root

CACHE_DIR = tempfile.mkdtemp(prefix="dockercfg-cache-")  # dockerd --version answers


def run(
    *args: str, root: Path | None = None, user: str | None = None
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dockercfg", *args]
    if root is not None:
        cmd += ["--root", str(root)]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST",)}
    env.setdefault("DOCKERCFG_CACHE_DIR", CACHE_DIR)  # the version cache: not /var/cache
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc/docker").mkdir(parents=True)
    return tmp_path


def daemon_json(root: Path) -> Path:
    return root / "etc/docker/daemon.json"


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int) -> None:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dockercfg: ")


def test_add_creates_file_and_is_idempotent(root):
    first = run("add-insecure", "registry.test:5000", "--json", root=root)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["changed"] is True and out["applied"] == "none" and out["verified"] is None
    assert out["file"] == "/etc/docker/daemon.json"
    assert json.loads(daemon_json(root).read_text()) == {
        "insecure-registries": ["registry.test:5000"]
    }
    stat = daemon_json(root).stat()
    second = run("add-insecure", "registry.test:5000", "--json", root=root)
    assert json.loads(second.stdout)["changed"] is False
    assert daemon_json(root).stat().st_mtime_ns == stat.st_mtime_ns
    assert daemon_json(root).stat().st_ino == stat.st_ino


def test_equivalent_spellings_are_duplicates(root):
    run("add-insecure", "10.1.2.3/16", root=root)
    again = run("add-insecure", "10.1.0.0/16", "--json", root=root)
    assert json.loads(again.stdout)["changed"] is False
    assert run("add-mirror", "--force", "https://m.example.com", root=root).returncode == 0
    again = run("--json", "add-mirror", "https://m.example.com/", root=root)  # no check: no change
    assert json.loads(again.stdout)["changed"] is False and again.returncode == 0


def test_scheme_is_stripped_with_a_warning(root):
    proc = run("add-insecure", "http://registry.test:5000", root=root)
    assert proc.returncode == 0
    assert "warning:" in proc.stderr
    assert json.loads(daemon_json(root).read_text())["insecure-registries"] == [
        "registry.test:5000"
    ]


def test_remove_last_entry_writes_empty_list(root):
    run("add-insecure", "a.test:5000", root=root)
    proc = run("remove-insecure", "a.test:5000", "--json", root=root)
    assert json.loads(proc.stdout)["changed"] is True
    assert json.loads(daemon_json(root).read_text()) == {"insecure-registries": []}
    assert (
        json.loads(run("remove-insecure", "a.test:5000", "--json", root=root).stdout)["changed"]
        is False
    )


def test_dry_run_writes_nothing_and_prints_diff(root):
    daemon_json(root).write_text('{"debug": true}\n')
    before = daemon_json(root).read_bytes()
    proc = run("add-insecure", "r.test:5000", "--dry-run", root=root)
    assert proc.returncode == 0
    assert '+  "insecure-registries"' in proc.stdout or '"insecure-registries"' in proc.stdout
    assert daemon_json(root).read_bytes() == before
    assert not (root / "etc/docker/.dockercfg-backups").exists()


def test_global_options_work_after_the_command(root):
    a = run("--json", "show", root=root)
    b = run("show", "--json", root=root)
    assert a.returncode == b.returncode == 0
    assert json.loads(a.stdout)["command"] == json.loads(b.stdout)["command"] == "show"


def test_backup_is_kept_and_rollback_restores(root):
    daemon_json(root).write_text('{"debug": true}\n')
    run("add-insecure", "r.test:5000", root=root)
    backups = list((root / "etc/docker/.dockercfg-backups").iterdir())
    assert len(backups) == 1 and backups[0].read_text() == '{"debug": true}\n'
    proc = run("rollback", "--json", root=root)
    assert proc.returncode == 0, proc.stderr
    assert daemon_json(root).read_text() == '{"debug": true}\n'


@pytest.mark.parametrize(
    "address", ["http//x", "host:99999", "-bad-.com:5000", "a b", "$(reboot)", "svn://x", "a/b"]
)
def test_invalid_address_exit_2_file_untouched(root, address):
    daemon_json(root).write_text('{"debug": true}\n')
    proc = run("add-insecure", address, root=root)
    assert_one_line_error(proc, 2)
    assert daemon_json(root).read_text() == '{"debug": true}\n'


@pytest.mark.parametrize(
    "url",
    ["mirror.example.com", "https://u:p@m.example.com", "https://m.example.com/?q=1", "ftp://m"],
)
def test_invalid_mirror_exit_2(root, url):
    proc = run("add-mirror", url, root=root)
    assert_one_line_error(proc, 2)
    assert not daemon_json(root).exists()


def test_password_is_masked_in_the_error(root):
    proc = run("add-mirror", "https://user:s3cret@m.example.com", root=root)
    assert "s3cret" not in proc.stderr


@pytest.mark.parametrize("content", [b'{"debug": tru', b"[1, 2]", b'{"a": 1,}', b"\xff\xfe{}"])
def test_unparsable_file_exit_3_with_position_and_untouched(root, content):
    daemon_json(root).write_bytes(content)
    proc = run("add-insecure", "r.test:5000", root=root)
    assert_one_line_error(proc, 3)
    assert "daemon.json:" in proc.stderr
    assert daemon_json(root).read_bytes() == content


def test_wrong_typed_owned_key_exit_3(root):
    daemon_json(root).write_text('{"insecure-registries": "r.test:5000"}')
    proc = run("add-insecure", "x.test:5000", root=root)
    assert_one_line_error(proc, 3)


def test_invalid_unrelated_value_exit_1_nothing_written(root):
    daemon_json(root).write_text('{"registry-mirror": ["https://m.example.com"]}\n')
    proc = run("add-insecure", "x.test:5000", "--json", root=root)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["error"] and any(p["code"] == "ignored-key" for p in out["problems"])
    assert daemon_json(root).read_text() == '{"registry-mirror": ["https://m.example.com"]}\n'


def test_directory_where_the_file_should_be(root):
    daemon_json(root).mkdir()
    assert_one_line_error(run("add-insecure", "r.test:5000", root=root), 3)


def test_missing_parent_directory(tmp_path):
    assert_one_line_error(run("add-insecure", "r.test:5000", root=tmp_path), 3)


def test_unknown_target_is_usage_error(root):
    assert_one_line_error(run("--target", "bogus", "show", root=root), 2)


def test_usage_error_in_json_mode_is_one_object(root):
    proc = run("add-insecure", "--json", "--apply", "sometimes", "r.test:5000", root=root)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]


def test_validate_reports_every_problem_with_hints(tmp_path):
    f = tmp_path / "d.json"
    f.write_text('{"registry-mirror": ["https://m"], "insecure-registries": ["a b"], "bogus": 1}')
    proc = run("validate", str(f), "--docker-version", "20.10.24")
    assert proc.returncode == 1
    assert 'did you mean "registry-mirrors"' in proc.stdout
    assert "a b" in proc.stdout and "bogus" in proc.stdout
    out = json.loads(run("validate", str(f), "--json").stdout)
    assert len([p for p in out["problems"] if p["severity"] == "error"]) >= 3


def test_validate_ok(tmp_path):
    f = tmp_path / "d.json"
    f.write_text('{"insecure-registries": ["r.test:5000"]}')
    proc = run("validate", str(f), "--docker-version", "20.10.24")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok:" in proc.stdout


def test_read_only_file_system(root):
    require_root("needs root (mount namespace)")
    daemon_json(root).write_text('{"debug": true}\n')
    etc = root / "etc/docker"
    script = (
        f"mount --bind {etc} {etc} && mount -o remount,bind,ro {etc} && "
        f"exec {sys.executable} -m dockercfg --root {root} add-insecure r.test:5000"
    )
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    assert_one_line_error(proc, 3)
    assert daemon_json(root).read_text() == '{"debug": true}\n'


def test_not_root_gets_a_clear_message():
    require_root("needs root (runs the tool as another user)")
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        (root / "etc/docker").mkdir(parents=True)
        daemon_json(root).write_text('{"debug": true}\n')
        proc = run("add-insecure", "r.test:5000", root=root, user="65534")
        assert_one_line_error(proc, 3)
        assert "sudo" in proc.stderr and "permission denied" in proc.stderr
        assert daemon_json(root).read_text() == '{"debug": true}\n'


def test_help_and_version():
    assert run("--help").returncode == 0
    assert run("--version").stdout.startswith("dockercfg ")
    for command in (
        "add-insecure",
        "remove-insecure",
        "add-mirror",
        "remove-mirror",
        "validate",
        "show",
        "detect",
        "apply",
        "rollback",
    ):
        assert run(command, "--help").returncode == 0, command


def test_cli_import_stays_light():
    code = (
        "import sys, dockercfg.cli; "
        "heavy = [m for m in ('jsonschema', 'gi', 'pydbus', 'distro') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_no_temp_file_left_behind(root):
    run("add-insecure", "r.test:5000", root=root)
    names = sorted(p.name for p in (root / "etc/docker").iterdir())
    assert all("dockercfg-tmp" not in n for n in names), names
