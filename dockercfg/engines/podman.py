"""podman, buildah, skopeo and CRI-O (containers/image): a v2 drop-in of dockercfg's own in
`/etc/containers/registries.conf.d/`, read on every command (CRI-O: on reload).

The main registries.conf is never rewritten. A v1 file (`[registries.insecure]` and friends)
cannot be combined with a v2 drop-in — containers/image refuses the mix — so it is refused.
CA certificates go to `/etc/containers/certs.d/<host[:port]>/ca.crt`, read on every pull.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockercfg.engines import common
from dockercfg.engines.base import CAS, INSECURE, MIRRORS, FileChange, Found, RegistryEdit
from dockercfg.errors import ConfigInvalid
from dockercfg.formats import toml_rt
from dockercfg.problems import ERROR, WARNING, Problem

MAIN = "/etc/containers/registries.conf"
DROPIN_DIR = "/etc/containers/registries.conf.d"
DROPIN = DROPIN_DIR + "/50-dockercfg.conf"
CERTS_D = "/etc/containers/certs.d"
BINARIES = ("usr/bin/podman", "usr/bin/buildah", "usr/bin/skopeo", "usr/bin/crio")
V1_TABLES = ("registries",)  # [registries.search] / [registries.insecure] / [registries.block]
HEADER = (
    "# Written by dockercfg: registries it was asked to make usable (v2 format)."
    " Edit with dockercfg.\n"
)


def is_v1(doc: Any) -> bool:
    return any(key in doc for key in V1_TABLES)


def user_files(root: Path) -> list[Path]:
    """Rootless users' registries.conf, each of which replaces the system file for that user."""
    from dockercfg.errors import EnvironmentProblem
    from dockercfg.invoker import invoker

    users = []
    home = common.inside(root, "/home")
    if home.is_dir():
        users = [p / ".config/containers/registries.conf" for p in sorted(home.iterdir())]
    try:  # the invoking user's own (under sudo too), wherever their home is
        mine = invoker(root)
        if mine.uid != 0:
            users.append(common.inside(root, mine.config_home) / "containers/registries.conf")
    except EnvironmentProblem:
        pass
    return list(dict.fromkeys(p for p in users if common.visible_file(p)))


def render(insecure: list[str], mirrors: dict[str, list[str]]) -> bytes | None:
    """The whole drop-in for the given state (None: nothing left, the file goes)."""
    import tomlkit

    if not insecure and not any(mirrors.values()):
        return None
    doc = tomlkit.document()
    registries = tomlkit.aot()
    for location in list(dict.fromkeys(insecure + [r for r, m in mirrors.items() if m])):
        entry = tomlkit.table()
        entry["location"] = location
        if location in insecure:
            entry["insecure"] = True
        chain = tomlkit.aot()
        for url in mirrors.get(location, []):
            mirror = tomlkit.table()
            mirror["location"] = common.url_host(url)
            if url.startswith("http://"):
                mirror["insecure"] = True
            chain.append(mirror)
        if chain:
            entry["mirror"] = chain
        registries.append(entry)
    doc["registry"] = registries
    return HEADER.encode() + toml_rt.dump(doc)


def state(doc: Any) -> tuple[list[str], dict[str, list[str]]]:
    insecure, mirrors = [], {}
    for entry in toml_rt.plain(doc.get("registry", [])) or []:
        location = entry.get("location") or entry.get("prefix")
        if entry.get("insecure"):
            insecure.append(location)
        chain = [
            ("http://" if m.get("insecure") else "https://") + m["location"]
            for m in entry.get("mirror", [])
        ]
        if chain:
            mirrors[location] = chain
    return insecure, mirrors


class Podman:
    name = "podman"

    def find(self, root: Path) -> Found | None:
        evidence = [f"binary /{b}" for b in BINARIES if (root / b).exists()]
        main = common.inside(root, MAIN)
        if main.exists():
            evidence.append(f"config {MAIN}")
        if not evidence:
            return None
        units = common.systemd_units(root, ["crio"])
        return Found(
            engine=self.name,
            files={
                "main": main,
                "dropin": common.inside(root, DROPIN),
                "certs_dir": common.inside(root, CERTS_D),
            },
            root=root,
            service="systemd crio.service (reload)" if units else "none",
            evidence=evidence + [f"rootless {common.shown(root, p)}" for p in user_files(root)],
            extra={"units": units},
        )

    def _dropin(self, found: Found) -> tuple[bytes | None, Any]:
        path = found.files["dropin"]
        text = common.read(path)
        return text, toml_rt.parse(text, common.shown(found.root, path))

    def owned(self, found: Found) -> dict[str, Any]:
        insecure, mirrors = state(self._dropin(found)[1])
        return {INSECURE: insecure, MIRRORS: mirrors}

    def _check_main(self, found: Found) -> None:
        main = found.files["main"]
        shown = common.shown(found.root, main)
        doc = toml_rt.parse(common.read(main), shown)
        if is_v1(doc):
            raise ConfigInvalid(
                f"{shown} is in the v1 format ([registries.*]): containers/image refuses it"
                " together with a v2 drop-in; convert it to v2 ([[registry]]) first"
            )

    def plan(self, found: Found, edits: list[RegistryEdit]) -> list[FileChange]:
        self._check_main(found)
        before, doc = self._dropin(found)
        insecure, mirrors = state(doc)
        changes: list[FileChange] = []
        for edit in edits:
            if edit.key == INSECURE:
                insecure = common.edited(insecure, edit)
            elif edit.key == MIRRORS:
                registry = common.registry_of(edit)
                mirrors[registry] = common.edited(mirrors.get(registry, []), edit)
            elif edit.key == CAS:
                registry = common.registry_of(edit)
                path = found.files["certs_dir"] / registry / "ca.crt"
                pem = None if edit.mode == "remove" else "".join(edit.values).encode()
                c = common.change(found.root, path, common.read(path), pem)
                if c:
                    changes.append(c)
        c = common.change(found.root, found.files["dropin"], before, render(insecure, mirrors))
        return ([c] if c else []) + changes

    def problems(self, found: Found, changes: list[FileChange]) -> list[Problem]:
        out = []
        for path in user_files(found.root):
            shown = common.shown(found.root, path)
            out.append(
                Problem(
                    "podman-rootless-override",
                    shown,
                    "this user's registries.conf replaces the system one: rootless podman of"
                    " that user does not see the change",
                    WARNING,
                    f"add the same [[registry]] entries to {shown}",
                )
            )
        directory = common.inside(found.root, DROPIN_DIR)
        for path in sorted(directory.glob("*.conf")) if directory.is_dir() else []:
            shown = common.shown(found.root, path)
            if path != found.files["dropin"] and is_v1(toml_rt.parse(common.read(path), shown)):
                out.append(
                    Problem("registries-v1-dropin", shown, "drop-ins must be in the v2 format")
                )
        return out

    def validate(self, found: Found) -> list[Problem]:
        out = self.problems(found, [])
        main = found.files["main"]
        shown = common.shown(found.root, main)
        doc = toml_rt.parse(common.read(main), shown)
        if is_v1(doc) and "registry" in doc:
            out.append(Problem("registries-v1-v2-mixed", shown, "v1 ([registries.*]) and v2"
                               " ([[registry]]) tables in one file: containers/image refuses"
                               " it"))  # fmt: skip
        elif is_v1(doc):
            dropins = common.inside(found.root, DROPIN_DIR)
            mixed = dropins.is_dir() and any(dropins.glob("*.conf"))
            out.append(
                Problem(
                    "registries-v1",
                    shown,
                    "in the v1 format ([registries.*])"
                    + (": containers/image refuses it with the v2 drop-ins" if mixed else ""),
                    ERROR if mixed else WARNING,
                    "convert it to v2 ([[registry]] with location, insecure, blocked)",
                )
            )
        self._dropin(found)  # parses
        return out

    def applier(self, found: Found, changes: list[FileChange]) -> common.NoApply:
        def check() -> None:
            for c in changes:
                if c.path.suffix == ".conf" and c.path.exists():
                    toml_rt.parse(common.read(c.path), c.shown)

        units = found.extra.get("units", [])
        if units:
            return common.UnitApplier(self.name, found.root, units, "reload", check)
        return common.NoApply(self.name, check)
