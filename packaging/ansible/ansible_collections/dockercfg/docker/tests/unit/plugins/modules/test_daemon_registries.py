# Copyright: dockercfg maintainers
# SPDX-License-Identifier: Apache-2.0
"""Unit tests: the module's plan and its handling of dockercfg's JSON, with run_command mocked."""

from __future__ import annotations

import json
from contextlib import contextmanager
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible_collections.dockercfg.docker.plugins.modules import daemon_registries as mod

FILE = "/etc/docker/daemon.json"


@contextmanager
def module_args(args):
    """ansible-core 2.19 needs patch_module_args; older cores read basic._ANSIBLE_ARGS."""
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from ansible.module_utils.common.text.converters import to_bytes

        with mock.patch.object(
            basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        ):
            yield
        return
    with patch_module_args(args):
        yield


class Exit(Exception):
    def __init__(self, kwargs, failed):
        super().__init__(kwargs)
        self.result = kwargs
        self.failed = failed


def result(command, changed=False, error=None, diff=None, backup=None, data=None):
    return {
        "command": command, "changed": changed, "target": "daemon-json", "file": FILE,
        "backup": backup, "diff": diff, "applied": "reload" if changed else None,
        "verified": True if changed else None, "problems": [], "warnings": [], "error": error,
        "data": data or {},
    }  # fmt: skip


def run_module(args, answers, check_mode=False):
    """Run main() with dockercfg's answers (a function of the command); return (result, calls)."""
    calls = []

    def run_command(self, cmd, **_kwargs):
        calls.append(cmd)
        rc, answer = answers(cmd)
        return rc, json.dumps(answer), ""

    def exit_json(self, **kwargs):
        raise Exit(kwargs, False)

    def fail_json(self, **kwargs):
        raise Exit(kwargs, True)

    full = dict(args, executable="/usr/bin/dockercfg", _ansible_check_mode=check_mode)
    with (
        module_args(full),
        mock.patch.multiple(
            basic.AnsibleModule, run_command=run_command, exit_json=exit_json, fail_json=fail_json
        ),
        mock.patch("os.access", return_value=True),
        mock.patch.object(mod, "read_text", return_value=""),
        pytest.raises(Exit) as done,
    ):
        mod.main()
    return done.value, calls


def test_present_runs_dry_run_then_the_change_and_reports_dockercfgs_changed():
    def answers(cmd):
        return 0, result(cmd[1], changed=True, backup="/b" if "--dry-run" not in cmd else None)

    done, calls = run_module({"insecure_registries": ["reg:5000"]}, answers)
    assert not done.failed
    assert done.result["changed"] is True and done.result["backup_file"] == "/b"
    assert calls == [
        ["/usr/bin/dockercfg", "add-insecure", "reg:5000", "--dry-run", "--json"],
        ["/usr/bin/dockercfg", "add-insecure", "reg:5000", "--apply", "auto", "--json"],
    ]


def test_unchanged_dry_run_means_no_write_at_all():
    done, calls = run_module(
        {"insecure_registries": ["reg:5000"], "root": "/tmp/r"},
        lambda cmd: (0, result(cmd[3])),
    )
    assert done.result["changed"] is False
    assert all("--dry-run" in cmd for cmd in calls) and len(calls) == 1
    assert calls[0][:3] == ["/usr/bin/dockercfg", "--root", "/tmp/r"]


def test_check_mode_only_dry_runs():
    done, calls = run_module(
        {"registry_mirrors": ["https://m"], "state": "absent"},
        lambda cmd: (0, result(cmd[1], changed=True, diff="")),
        check_mode=True,
    )
    assert done.result["changed"] is True
    assert calls == [["/usr/bin/dockercfg", "remove-mirror", "https://m", "--dry-run", "--json"]]


def test_two_changes_apply_once_at_the_end():
    done, calls = run_module(
        {"insecure_registries": ["a:1"], "registry_mirrors": ["https://m"], "apply": "restart"},
        lambda cmd: (0, result(cmd[1], changed=True)),
    )
    real = [cmd for cmd in calls if "--dry-run" not in cmd]
    assert [cmd[-3:-1] for cmd in real] == [["--apply", "none"], ["--apply", "restart"]]
    assert done.result["applied"] == "reload"  # the last dockercfg result's


def test_bad_input_fails_with_dockercfgs_message():
    message = 'insecure registry bad host! is not valid: invalid host "bad host!"'
    done, _calls = run_module(
        {"insecure_registries": ["bad host!"]}, lambda cmd: (2, result(cmd[1], error=message))
    )
    assert done.failed and done.result["msg"] == message and done.result["rc"] == 2


def raise_failed(**kwargs):
    raise Exit(kwargs, True)


def test_missing_dockercfg_fails_with_the_install_advice():
    with (
        module_args({"insecure_registries": ["a:1"]}),
        mock.patch.object(basic.AnsibleModule, "get_bin_path", return_value=None),
        mock.patch.object(
            basic.AnsibleModule,
            "fail_json",
            side_effect=raise_failed,
        ),
        pytest.raises(Exit) as done,
    ):
        mod.main()
    assert done.value.result == {"msg": mod.NOT_INSTALLED}


def test_exact_removes_what_the_file_has_beyond_the_list():
    shown = result(
        "show",
        data={
            "insecure_registries": [
                {"value": "keep:1", "source": FILE},
                {"value": "gone:2", "source": FILE},
                {"value": "flag:3", "source": "dockerd flag"},
                {"value": "127.0.0.0/8", "source": "built-in default"},
            ]
        },
    )

    def answers(cmd):
        if "show" in cmd:
            return 0, shown
        if "--target" in cmd:  # the normalisation oracle on a scratch root
            values = cmd[cmd.index("add-insecure") + 2 : -1]
            text = json.dumps({"insecure-registries": values}, indent=2)
            return 0, result(
                "add-insecure", True, diff="".join("+" + line + "\n" for line in text.splitlines())
            )
        return 0, result(cmd[1], changed=cmd[1] == "remove-insecure")

    done, calls = run_module({"insecure_registries": ["keep:1"], "state": "exact"}, answers)
    assert ["/usr/bin/dockercfg", "remove-insecure", "gone:2", "--apply", "auto", "--json"] in calls
    assert done.result["changed"] is True


def test_apply_unified_diff_rebuilds_the_after_text():
    before = '{\n  "a": 1,\n  "insecure-registries": []\n}\n'
    after = '{\n  "a": 1,\n  "insecure-registries": [\n    "x:1"\n  ]\n}\n'
    import difflib

    diff = "".join(
        difflib.unified_diff(before.splitlines(True), after.splitlines(True), FILE, FILE)
    )
    assert mod.apply_unified_diff(before, diff) == after
    assert (
        mod.apply_unified_diff("", "".join(difflib.unified_diff([], after.splitlines(True))))
        == after
    )
