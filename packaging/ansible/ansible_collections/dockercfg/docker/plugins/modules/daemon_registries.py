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
  - With I(state=exact) the task is one C(dockercfg set) (one process, one transaction); the
    file's lists become exactly the given ones, validated, written, applied and verified together,
    or not at all. A list left out is left alone; an empty list empties it. dockercfg normalises
    the values (C(http://reg:5000) and C(reg:5000) are the same entry).
  - With I(state=present) or I(state=absent) the task is one C(dockercfg add-insecure),
    C(add-mirror), C(remove-insecure) or C(remove-mirror). When both lists are given, that is two
    commands, two transactions, each applied and verified on its own (dockerd may then be reloaded
    twice); use I(state=exact) for one.
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
  force:
    description:
      - With I(state=present), add the mirrors without checking them first (C(add-mirror
        --force)). Without it, C(dockercfg add-mirror) checks each new mirror and fails the task
        when one is dead (no address, no connection, a TLS certificate dockerd refuses), with the
        check's reason; use it for a mirror this host cannot reach yet.
    type: bool
    default: false
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
    description: Returns each changed file's text before and after, as dockercfg reports them.
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
before:
  description: The file's lists before the task, normalised by dockercfg.
  returned: when dockercfg ran a changing command
  type: dict
  sample: {"insecure-registries": [], "registry-mirrors": []}
after:
  description: The file's lists after the task (in check mode, as they would be).
  returned: when dockercfg ran a changing command
  type: dict
  sample: {"insecure-registries": ["registry.lab:5000"], "registry-mirrors": []}
results:
  description: dockercfg's JSON result for each command.
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

from ansible.module_utils.basic import AnsibleModule

NOT_INSTALLED = (
    "dockercfg is not installed on this host; install it first (apt-get install "
    "./dockercfg_VERSION_all.deb on Debian and Ubuntu, or pipx install dockercfg), or set the "
    "executable option to its path"
)

# option -> (dockercfg set's flag, add command, remove command)
KEYS = (
    ("insecure_registries", "--insecure-registries", "add-insecure", "remove-insecure"),
    ("registry_mirrors", "--registry-mirrors", "add-mirror", "remove-mirror"),
)


def commands(params):
    """The dockercfg commands (without global options) that make the task's change."""
    state = params["state"]
    if state == "exact":
        # `--flag=value`: an empty list is an empty value, and no value is read as an option.
        lists = [
            f"{flag}={','.join(params[option])}"
            for option, flag, _add, _remove in KEYS
            if params[option] is not None
        ]
        return [["set"] + lists]
    steps = []
    for option, _flag, add, remove in KEYS:
        if params[option]:
            # `--` ends the options: a value starting with "-" is refused by dockercfg, not parsed.
            verb = add if state == "present" else remove
            forced = ["--force"] if verb == "add-mirror" and params.get("force") else []
            steps.append([verb, *forced, "--"] + params[option])
    return steps


def run(module, cmd, done):
    """One dockercfg run; its --json result, or fail_json with dockercfg's own message."""
    rc, out, err = module.run_command(cmd, environ_update={"LANG": "C.UTF-8"})
    changed = any(result.get("changed") for result in done)
    try:
        result = json.loads(out)
    except ValueError:
        module.fail_json(
            msg=f"dockercfg printed no JSON result (exit {rc}): {(err or out).strip()}",
            rc=rc, cmd=cmd, stdout=out, stderr=err, changed=changed,
        )  # fmt: skip
    if rc != 0 or result.get("error"):
        module.fail_json(
            msg=result.get("error") or f"dockercfg exited {rc}",
            rc=rc, cmd=cmd, problems=result.get("problems") or [], stderr=err,
            changed=changed, results=done + [result],
        )  # fmt: skip
    return result


def file_diffs(results):
    """Ansible diffs from dockercfg's data.files: each file's first "before", last "after"."""
    texts = {}
    for result in results:
        if not result.get("changed"):
            continue
        for entry in (result.get("data") or {}).get("files") or []:
            first = texts.setdefault(entry["path"], [entry.get("before"), None])
            first[1] = entry.get("after")
    diffs = [
        dict(before=before or "", after=after or "", before_header=path, after_header=path)
        for path, (before, after) in texts.items()
        if before != after
    ]
    return diffs[0] if len(diffs) == 1 else diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            insecure_registries=dict(type="list", elements="str"),
            registry_mirrors=dict(type="list", elements="str"),
            state=dict(type="str", default="present", choices=["present", "absent", "exact"]),
            force=dict(type="bool", default=False),
            apply=dict(type="str", default="auto", choices=["auto", "reload", "restart", "none"]),
            config=dict(type="path"),
            target=dict(type="str"),
            root=dict(type="path"),
            executable=dict(type="path"),
        ),
        required_one_of=[("insecure_registries", "registry_mirrors")],
        supports_check_mode=True,
    )
    params = module.params
    executable = params["executable"] or module.get_bin_path("dockercfg")
    if not executable or not os.access(executable, os.X_OK):
        module.fail_json(msg=NOT_INSTALLED)
    base = [executable]
    for option, flag in (("target", "--target"), ("config", "--config"), ("root", "--root")):
        if params[option]:
            base += [flag, params[option]]
    mode = ["--dry-run"] if module.check_mode else ["--apply", params["apply"]]

    steps = commands(params)
    if not steps:  # present/absent with empty lists: nothing to change, only say which file
        steps, mode = [["show"]], []
    cmds, results = [], []
    for step in steps:
        # The command's own options first: add/remove values follow a "--".
        cmd = base + [step[0]] + mode + ["--json"] + step[1:]
        cmds.append(cmd)
        results.append(run(module, cmd, results))
    changing = [result for result in results if result.get("changed")]
    last = changing[-1] if changing else results[-1]
    out = dict(
        changed=bool(changing), file=last.get("file"), target=last.get("target"),
        backup_file=next((r.get("backup") for r in changing if r.get("backup")), None),
        applied=last.get("applied") if changing else None,
        verified=last.get("verified") if changing else None,
        commands=cmds, results=results,
    )  # fmt: skip
    lists = [(r.get("data") or {}) for r in results if "after" in (r.get("data") or {})]
    if lists:
        out["before"], out["after"] = lists[0].get("before"), lists[-1].get("after")
    for warning in dict.fromkeys(w for result in results for w in result.get("warnings") or []):
        module.warn(warning)
    if module._diff and changing:
        out["diff"] = file_diffs(changing)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
