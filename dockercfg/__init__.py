"""dockercfg: safely manage the Docker daemon's registry settings."""

__version__ = "0.1.0"
