"""The machine's real OpenSSH server, for the tests that need something that is not a registry
on a registry's port: it sends its banner at once, as every sshd does.

It listens on [::1]:PORT inside the sandbox's network namespace, with a host key made for it, no
PAM and no pid file; its privilege-separation directory /run/sshd is made in the sandbox's own
/run (a tmpfs), so nothing of this machine's is touched.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SSHD = "/usr/sbin/sshd"  # sshd refuses to re-exec itself unless started by its full path


def start_sshd(sandbox, port: int) -> subprocess.Popen:
    if not Path("/run/systemd/system").exists():  # made by Sandbox.start in its /run tmpfs
        raise RuntimeError("start_sshd needs a started sandbox (its private /run)")
    key = sandbox.t / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True, capture_output=True, timeout=30)  # fmt: skip
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = open(sandbox.t / "sshd.log", "ab")  # noqa: SIM115 - the child keeps it
    cmd = ["nsenter", f"--net={sandbox.netns}", SSHD, "-D", "-e", "-f", "/dev/null",
           "-h", str(key), "-o", f"ListenAddress=[::1]:{port}", "-o", "PidFile=none",
           "-o", "UsePAM=no"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=sandbox.cgroup.mover("aux"))
    log.close()
    return proc
