#!/usr/bin/python
# Copyright: dockercfg maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: daemon_registries
short_description: Manage the Docker daemon's insecure registries and registry mirrors
version_added: "0.1.0"
description:
  - Adds, removes or sets the Docker daemon's C(insecure-registries) and C(registry-mirrors) by
    running the C(dockercfg) command line tool with C(--json) on the managed host.
  - Every change is dockercfg's own transaction, the same as C(sudo dockercfg add-insecure ...)
    by hand; it locks the file, validates the result with dockerd's rules, writes it atomically
    with a backup, reloads (or restarts) dockerd, checks that the live daemon took the change,
    and rolls the file back when it did not. C(changed) is dockercfg's own C(changed).
  - The managed host needs C(dockercfg) installed (the C(.deb), or C(pipx install dockercfg)).
    When it is missing the module fails with the message
    C(dockercfg is not installed on this host; install it first (apt-get install
    ./dockercfg_VERSION_all.deb on Debian and Ubuntu, or pipx install dockercfg), or set the
    executable option to its path).
  - With I(state=exact), entries of the config file that are not listed are removed; dockercfg's
    C(show --json) tells which entries the file holds (entries set by dockerd flags or built-in
    defaults are not the file's and are left alone).
  - When both lists change, or I(state=exact) both adds and removes, dockercfg runs once per
    change; only the last one applies the file to dockerd (the others use C(--apply none)), so
    dockerd is reloaded at most once.
author:
  - dockercfg maintainers (@dockercfg)
options:
  insecure_registries:
    description:
      - Registries dockerd may reach over plain HTTP (or TLS without verification), as
        C(host), C(host:port), an IP address, C([IPv6]:port) or a CIDR.
      - With I(state=exact), an empty list removes every insecure registry from the file;
        leaving the option out leaves them alone.
    type: list
    elements: str
  registry_mirrors:
    description:
      - Docker Hub pull-through mirrors, C(http(s)://host[:port][/path]).
      - With I(state=exact), an empty list removes every mirror from the file; leaving the option
        out leaves them alone.
    type: list
    elements: str
  state:
    description:
      - C(present) adds the listed entries, C(absent) removes them, C(exact) makes the file's
        list equal to the given one.
    type: str
    choices: [present, absent, exact]
    default: present
  apply:
    description:
      - How a change is made live. C(auto) reloads dockerd when every changed key can be
        reloaded and the service can reload, and restarts it otherwise; C(none) only writes the
        file.
    type: str
    choices: [auto, reload, restart, none]
    default: auto
  config:
    description:
      - The config file to manage (dockercfg's C(--config)); default, the one dockerd reads.
    type: path
  target:
    description:
      - dockercfg's C(--target), for example C(auto) or C(daemon-json).
    type: str
  root:
    description:
      - Treat this directory as C(/) (dockercfg's C(--root)), for images and chroots; no running
        dockerd is changed then.
    type: path
  executable:
    description:
      - Path of the C(dockercfg) program; default, C(dockercfg) found on C(PATH).
    type: path
attributes:
  check_mode:
    support: full
    description: Runs dockercfg with C(--dry-run), which validates the change and writes nothing.
  diff_mode:
    support: full
    description: Returns the config file's text before and after the change.
notes:
  - Docker Hub mirrors only serve pulls from Docker Hub.
requirements:
  - dockercfg on the managed host
"""

EXAMPLES = r"""
- name: Docker may use the lab registry over HTTP
  dockercfg.docker.daemon_registries:
    insecure_registries:
      - registry.lab:5000
  become: true

- name: Exactly these mirrors, nothing else
  dockercfg.docker.daemon_registries:
    registry_mirrors:
      - https://mirror.lab
    state: exact
  become: true

- name: Remove an insecure registry, restart instead of reload
  dockercfg.docker.daemon_registries:
    insecure_registries: [old.lab:5000]
    state: absent
    apply: restart
  become: true
"""

RETURN = r"""
file:
  description: The config file, as the host sees it.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
target:
  description: dockercfg's target (which kind of file it edits).
  returned: always
  type: str
  sample: daemon-json
backup_file:
  description: The backup dockercfg kept of the file as it was before this task changed it.
  returned: when the file existed and was changed
  type: str
  sample: /etc/docker/.dockercfg-backups/daemon.json.20261126T223500.000000Z
applied:
  description: How the change was made live (C(reload), C(restart), C(none)), or null.
  returned: always
  type: str
  sample: reload
verified:
  description: True when the live daemon showed the change; null when not checked.
  returned: always
  type: bool
  sample: true
commands:
  description: The dockercfg commands run to make (or, in check mode, to test) the change.
  returned: always
  type: list
  elements: list
results:
  description: dockercfg's JSON result for each changing command.
  returned: always
  type: list
  elements: dict
problems:
  description: dockercfg's problems (on failure, why the change was refused).
  returned: on failure
  type: list
  elements: dict
"""

import json
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

NOT_INSTALLED = (
    "dockercfg is not installed on this host; install it first (apt-get install "
    "./dockercfg_VERSION_all.deb on Debian and Ubuntu, or pipx install dockercfg), or set the "
    "executable option to its path"
)

# option name -> (add command, remove command, key in `dockercfg show --json` data)
KEYS = (
    ("insecure_registries", "add-insecure", "remove-insecure"),
    ("registry_mirrors", "add-mirror", "remove-mirror"),
)


class Dockercfg:
    """Runs `dockercfg ... --json`; every failure is fail_json with dockercfg's own message."""

    def __init__(self, module, executable):
        self.module = module
        self.executable = executable
        params = module.params
        self.common = []
        for option, flag in (("target", "--target"), ("config", "--config"), ("root", "--root")):
            if params[option]:
                self.common += [flag, params[option]]
        self.commands = []

    def run(self, args, common=None, changed=False, record=True, check=True):
        cmd = [self.executable] + (self.common if common is None else common) + args + ["--json"]
        if record:
            self.commands.append(cmd)
        rc, out, err = self.module.run_command(cmd, environ_update={"LANG": "C.UTF-8"})
        try:
            result = json.loads(out)
        except ValueError:
            if not check:
                return None
            self.module.fail_json(
                msg=f"dockercfg printed no JSON result (exit {rc}): {(err or out).strip()}",
                rc=rc, cmd=cmd, stdout=out, stderr=err, changed=changed,
            )  # fmt: skip
        if (rc != 0 or result.get("error")) and not check:
            return None
        if rc != 0 or result.get("error"):
            self.module.fail_json(
                msg=result.get("error") or f"dockercfg exited {rc}",
                rc=rc, cmd=cmd, problems=result.get("problems") or [], stderr=err,
                changed=changed, commands=self.commands,
            )  # fmt: skip
        return result

    def normalized(self, option, add_command, values, check=True):
        """The values as dockercfg stores them: its own dry run against an empty scratch root.

        None when check is False and dockercfg rejects a value."""
        if not values:
            return []
        scratch = tempfile.mkdtemp(prefix="dockercfg-normalize-")
        try:
            os.makedirs(os.path.join(scratch, "etc", "docker"))
            result = self.run(
                [add_command, "--dry-run"] + list(values),
                common=["--root", scratch, "--target", "daemon-json"],
                record=False,
                check=check,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if result is None:
            return None
        added = "".join(
            line[1:] + "\n"
            for line in (result.get("diff") or "").splitlines()
            if line.startswith("+") and not line.startswith("+++")
        )
        if not added.strip():
            return list(values)
        key = "insecure-registries" if option == "insecure_registries" else "registry-mirrors"
        return json.loads(added).get(key, [])


def plan(module, tool):
    """The dockercfg mutations that bring the host to the wanted state, in order."""
    params = module.params
    state = params["state"]
    steps = []
    shown = None
    for option, add, remove in KEYS:
        values = params[option]
        if values is None:
            continue
        if state == "present" and values:
            steps.append([add] + values)
        elif state == "absent" and values:
            steps.append([remove] + values)
        elif state == "exact":
            if shown is None:
                shown = tool.run(["show"], record=False)
            wanted = tool.normalized(option, add, values)
            in_file = [
                entry["value"]
                for entry in (shown.get("data") or {}).get(option, [])
                if entry.get("source") == shown.get("file")
            ]
            # An entry spelled differently from the wanted one (http://reg:5000 vs reg:5000) is
            # the same entry to dockercfg: removing it would remove the wanted one too.
            extra = [
                v
                for v in in_file
                if v not in wanted
                and not set(tool.normalized(option, add, [v], check=False) or []) & set(wanted)
            ]
            if extra:
                steps.append([remove] + extra)
            if values:
                steps.append([add] + values)
    return steps


def apply_unified_diff(before, diff):
    """The text after a unified diff that dockercfg computed against `before`."""
    source = before.splitlines(True)
    out = []
    i = 0
    for line in diff.splitlines(True):
        if line.startswith(("--- ", "+++ ")):
            continue
        hunk = re.match(r"@@ -(\d+)(?:,(\d+))? \+", line)
        if hunk:
            start = int(hunk.group(1)) - (0 if hunk.group(2) == "0" else 1)
            out.extend(source[i:start])
            i = start
        elif line.startswith(" "):
            out.append(source[i])
            i += 1
        elif line.startswith("-"):
            i += 1
        elif line.startswith("+"):
            out.append(line[1:])
    out.extend(source[i:])
    return "".join(out)


def read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def host_path(root, shown):
    if not shown:
        return None
    return os.path.join(root, shown.lstrip("/")) if root else shown


def main():
    module = AnsibleModule(
        argument_spec=dict(
            insecure_registries=dict(type="list", elements="str"),
            registry_mirrors=dict(type="list", elements="str"),
            state=dict(type="str", default="present", choices=["present", "absent", "exact"]),
            apply=dict(type="str", default="auto", choices=["auto", "reload", "restart", "none"]),
            config=dict(type="path"),
            target=dict(type="str"),
            root=dict(type="path"),
            executable=dict(type="path"),
        ),
        required_one_of=[("insecure_registries", "registry_mirrors")],
        supports_check_mode=True,
    )
    executable = module.params["executable"] or module.get_bin_path("dockercfg")
    if not executable or not os.access(executable, os.X_OK):
        module.fail_json(msg=NOT_INSTALLED)
    tool = Dockercfg(module, executable)

    steps = plan(module, tool)
    # Dry runs first: they validate every step and tell which ones change anything, so that only
    # the last changing step applies the file to dockerd (one reload, with dockercfg's rollback).
    dry = [(step, tool.run(step + ["--dry-run"])) for step in steps]
    changing = [(step, result) for step, result in dry if result.get("changed")]
    first = dry[0][1] if dry else tool.run(["show"], record=False)
    shown_file = first.get("file")
    path = host_path(module.params["root"], shown_file)
    before = read_text(path) if path else ""
    out = dict(
        changed=bool(changing), file=shown_file, target=first.get("target"), backup_file=None,
        applied=None, verified=None, commands=tool.commands, results=[],
    )  # fmt: skip
    for warning in dict.fromkeys(w for _step, result in dry for w in result.get("warnings") or []):
        module.warn(warning)

    if module.check_mode:
        out["results"] = [result for _step, result in changing]
        if module._diff and changing:
            if len(changing) == 1:
                after = apply_unified_diff(before, changing[0][1].get("diff") or "")
                out["diff"] = dict(
                    before=before, after=after, before_header=shown_file, after_header=shown_file
                )
            else:
                out["diff"] = [dict(prepared=result.get("diff") or "") for _s, result in changing]
        module.exit_json(**out)

    for index, (step, _dry) in enumerate(changing):
        last = index == len(changing) - 1
        apply = module.params["apply"] if last else "none"
        result = tool.run(step + ["--apply", apply], changed=index > 0)
        out["results"].append(result)
        if out["backup_file"] is None and index == 0:
            out["backup_file"] = result.get("backup")
        if result.get("changed"):
            out["file"] = result.get("file") or out["file"]
            out["target"] = result.get("target") or out["target"]
        if last:
            out["applied"] = result.get("applied")
            out["verified"] = result.get("verified")
    out["changed"] = any(result.get("changed") for result in out["results"])
    if module._diff and out["changed"]:
        after = read_text(path) if path else ""
        out["diff"] = dict(
            before=before, after=after, before_header=shown_file, after_header=shown_file
        )
    module.exit_json(**out)


if __name__ == "__main__":
    main()
