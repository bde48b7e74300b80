"""Stand-in for ansible-test's get-pip-X.py bootstrap script, which it downloads from a host
this machine cannot reach. ansible-test runs it as `python get_pip.py [pip options] PACKAGES`
inside a fresh venv: install pip with ensurepip, then pip-install the requested packages.

The environment is copied first: ensurepip sets PIP_CONFIG_FILE=/dev/null, which would drop the
machine's pip settings (CA bundle, indexes) for the pip install that follows.
"""

import os
import subprocess
import sys

ENV = dict(os.environ)


def main() -> None:
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, env=ENV)
    if args:
        subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True, env=ENV)


if __name__ == "__main__":
    main()
