# Copyright: dockercfg maintainers
# SPDX-License-Identifier: Apache-2.0
"""Unit tests: the commands the module runs and its handling of dockercfg's JSON, with
run_command replaced (the real dockercfg runs in tests/packaging and tests/fleet)."""

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
        pytest.raises(Exit) as done,
    ):
        mod.main()
    return done.value, calls


DCFG = "/usr/bin/dockercfg"


def test_exact_is_one_set_command():
    done, calls = run_module(
        {"insecure_registries": ["a:1", "b:2"], "registry_mirrors": [], "state": "exact"},
        lambda cmd: (0, result("set", changed=True, backup="/b")),
    )
    assert not done.failed and done.result["changed"] is True
    assert done.result["backup_file"] == "/b" and done.result["applied"] == "reload"
    assert calls == [
        [DCFG, "set", "--apply", "auto", "--json", "--insecure-registries=a:1,b:2",
         "--registry-mirrors="],
    ]  # fmt: skip


def test_exact_leaves_an_unnamed_list_alone():
    _done, calls = run_module(
        {"registry_mirrors": ["https://m"], "state": "exact", "root": "/tmp/r"},
        lambda cmd: (0, result("set")),
    )
    assert calls == [
        [
            DCFG,
            "--root",
            "/tmp/r",
            "set",
            "--apply",
            "auto",
            "--json",
            "--registry-mirrors=https://m",
        ]
    ]


def test_present_and_absent_pass_values_after_double_dash():
    _done, calls = run_module(
        {"insecure_registries": ["-x", "a:1"], "apply": "restart"},
        lambda cmd: (0, result(cmd[1])),
    )
    assert calls == [[DCFG, "add-insecure", "--apply", "restart", "--json", "--", "-x", "a:1"]]
    _done, calls = run_module(
        {"insecure_registries": ["a:1"], "registry_mirrors": ["https://m"], "state": "absent"},
        lambda cmd: (0, result(cmd[1])),
    )
    assert [cmd[1] for cmd in calls] == ["remove-insecure", "remove-mirror"]


def test_force_adds_mirrors_unchecked_and_only_mirrors():
    _done, calls = run_module(
        {"insecure_registries": ["a:1"], "registry_mirrors": ["https://m"], "force": True},
        lambda cmd: (0, result(cmd[1])),
    )
    assert calls == [
        [DCFG, "add-insecure", "--apply", "auto", "--json", "--", "a:1"],
        [DCFG, "add-mirror", "--apply", "auto", "--json", "--force", "--", "https://m"],
    ]
    _done, calls = run_module(
        {"registry_mirrors": ["https://m"], "force": True, "state": "absent"},
        lambda cmd: (0, result(cmd[1])),
    )
    assert calls == [[DCFG, "remove-mirror", "--apply", "auto", "--json", "--", "https://m"]]


def test_changed_is_dockercfgs():
    done, _calls = run_module({"insecure_registries": ["a:1"]}, lambda cmd: (0, result(cmd[1])))
    assert done.result["changed"] is False and done.result["applied"] is None


def test_check_mode_is_dry_run_and_diff_comes_from_the_file_texts():
    files = [{"path": FILE, "before": "{}\n", "after": '{"insecure-registries": ["a:1"]}\n'}]
    lists = {"before": {"insecure-registries": []}, "after": {"insecure-registries": ["a:1"]}}
    done, calls = run_module(
        {"insecure_registries": ["a:1"], "state": "exact", "_ansible_diff": True},
        lambda cmd: (0, result("set", changed=True, data={"files": files, **lists})),
        check_mode=True,
    )
    assert calls == [[DCFG, "set", "--dry-run", "--json", "--insecure-registries=a:1"]]
    assert done.result["diff"] == {
        "before": "{}\n", "after": files[0]["after"], "before_header": FILE, "after_header": FILE,
    }  # fmt: skip
    assert done.result["before"] == lists["before"] and done.result["after"] == lists["after"]


def test_a_new_file_diffs_from_empty():
    files = [{"path": FILE, "before": None, "after": "{}\n"}]
    done, _calls = run_module(
        {"registry_mirrors": ["https://m"], "_ansible_diff": True},
        lambda cmd: (0, result(cmd[1], changed=True, data={"files": files})),
    )
    assert done.result["diff"]["before"] == "" and done.result["diff"]["after"] == "{}\n"


def test_bad_input_fails_with_dockercfgs_message():
    message = 'insecure registry bad host! is not valid: invalid host "bad host!"'
    done, _calls = run_module(
        {"insecure_registries": ["bad host!"], "state": "exact"},
        lambda cmd: (2, result("set", error=message)),
    )
    assert done.failed and done.result["msg"] == message and done.result["rc"] == 2


def test_no_json_fails_with_the_output():
    def run_command(self, cmd, **_kwargs):
        return 1, "", "Traceback? no: usage error\n"

    with (
        module_args({"insecure_registries": ["a:1"], "executable": DCFG}),
        mock.patch.multiple(basic.AnsibleModule, run_command=run_command, fail_json=raise_failed),
        mock.patch("os.access", return_value=True),
        pytest.raises(Exit) as done,
    ):
        mod.main()
    assert done.value.result["msg"] == "dockercfg printed no JSON result (exit 1): " + (
        "Traceback? no: usage error"
    )


def raise_failed(self=None, **kwargs):
    raise Exit(kwargs, True)


def test_missing_dockercfg_fails_with_the_install_advice():
    with (
        module_args({"insecure_registries": ["a:1"]}),
        mock.patch.object(basic.AnsibleModule, "get_bin_path", return_value=None),
        mock.patch.object(basic.AnsibleModule, "fail_json", side_effect=raise_failed),
        pytest.raises(Exit) as done,
    ):
        mod.main()
    assert done.value.result == {"msg": mod.NOT_INSTALLED}
