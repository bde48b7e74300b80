"""`dockercfg validate --docker-version X FILE` against what dockerd X really did with FILE.

The verdicts were recorded by tests/corpus/regenerate (one real start per file and version), so
this test needs no dockerd. dockercfg must exit 1 where dockerd refused to start, and 0 where it
started — except where expect.json says dockercfg is stricter on purpose (dockerd accepted the
file but ignores part of it: exit 1, with the problem code that says why) or warns (exit 0, with
that warning). Run this file directly to print the agreement per version.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
VERSIONS = ("20.10", "26.1")
EXPECT = {k: v for k, v in json.loads((HERE / "expect.json").read_text()).items() if k[0] != "_"}


def recorded(version: str) -> dict:
    return json.loads((HERE / f"verdicts-{version}.json").read_text())


def full_version(version: str) -> str:
    """'Docker version 26.1.5+dfsg1, build a72d7cd' -> '26.1.5'."""
    return recorded(version)["dockerd"].split()[2].split("+")[0].rstrip(",")


def run_validate(name: str, version: str, root: Path) -> tuple[int, list[dict]]:
    """dockercfg's exit status and problems for one corpus file."""
    from dockercfg import cli

    flags = EXPECT.get(name, {}).get("flags")
    if flags:
        # `validate FILE` knows no dockerd flags: the flag/file rule is the same code the
        # mutating commands and `validate` (without FILE) run with the service's real flags.
        from dockercfg.conflicts import find_conflicts, flag_settings
        from dockercfg.jsontext import parse_config
        from dockercfg.validate import validate_bytes
        from dockercfg.versions import parse_version

        data = (FILES / name).read_bytes()
        number = parse_version(full_version(version))
        found = validate_bytes(data, source=name, version=number)
        config = parse_config(data, name).value
        settings = flag_settings(["dockerd", *flags])
        found += find_conflicts(config, settings, file=name, source="-", version=number)
        return int(any(p.is_error for p in found)), [p.to_json() for p in found]
    out = io.StringIO()
    argv = ["--json", "--root", str(root), "--target", "daemon-json"]
    argv += ["--docker-version", full_version(version), "validate", str(FILES / name)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(argv)
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
    return code, json.loads(out.getvalue()).get("problems", [])


def expected(name: str, version: str) -> tuple[int, str | None, str]:
    """(exit status, problem code that must be present, why) for one file and version."""
    verdict = recorded(version)["files"][name]["verdict"]
    assert verdict in ("accept", "reject"), f"{name} on {version}: {verdict}"
    rule = EXPECT.get(name, {})
    applies = version in rule.get("versions", VERSIONS)
    if verdict == "reject":
        code = rule.get("code") if rule.get("flags") and applies else None
        return 1, code, "dockerd refused to start"
    if applies and rule.get("expect") == "error":
        return 1, rule["code"], f"dockerd accepted it but {rule['reason']}"
    if applies and rule.get("expect") == "warning":
        return 0, rule["code"], rule["reason"]
    return 0, None, "dockerd started"


def cases() -> list[tuple[str, str]]:
    return [(name, version) for version in VERSIONS for name in sorted(recorded(version)["files"])]


def test_every_file_has_a_verdict_for_both_versions():
    names = {path.name for path in FILES.iterdir()}
    assert 60 <= len(names) <= 120
    for version in VERSIONS:
        assert set(recorded(version)["files"]) == names, version
    assert set(EXPECT) <= names


@pytest.mark.parametrize(("name", "version"), cases())
def test_validate_agrees_with_dockerd(name, version, tmp_path, monkeypatch):
    # No dockerd on PATH: `validate` must reach the verdict by itself (`dockerd --validate` is
    # a bonus signal, and the installed one is a different version anyway).
    monkeypatch.setenv("PATH", str(tmp_path))
    code, problems = run_validate(name, version, tmp_path)
    want, problem_code, why = expected(name, version)
    assert code == want, f"{name} on dockerd {version}: {why}; dockercfg said {problems}"
    if problem_code:
        assert problem_code in {p["code"] for p in problems}, (name, version, problems)


def test_dockerd_validate_is_never_the_verdict():
    """26.1's `dockerd --validate` passes files its real start refuses; it never refuses one the
    start accepts. So its "configuration OK" proves nothing, while its errors are real."""
    files = recorded("26.1")["files"]
    checked = {n: v for n, v in files.items() if "dockerd_validate" in v}
    assert checked, "regenerate records `dockerd --validate` for 26.1"
    lenient = [
        n
        for n, v in checked.items()
        if v["verdict"] == "reject" and v["dockerd_validate"]["exit"] == 0
    ]
    strict = [
        n
        for n, v in checked.items()
        if v["verdict"] == "accept" and v["dockerd_validate"]["exit"] != 0
    ]
    assert lenient, "expected files that --validate passes and the real start refuses"
    assert strict == []


def agreement() -> dict[str, dict[str, int]]:
    import tempfile

    table: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, version in cases():
            code, problems = run_validate(name, version, Path(tmp))
            want, problem_code, _why = expected(name, version)
            real = 1 if recorded(version)["files"][name]["verdict"] == "reject" else 0
            row = table.setdefault(version, {"files": 0, "agree": 0, "same_as_dockerd": 0})
            row["files"] += 1
            codes = {p["code"] for p in problems}
            row["agree"] += code == want and (problem_code is None or problem_code in codes)
            row["same_as_dockerd"] += code == real
    return table


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    print(json.dumps(agreement(), indent=1))


def file_settings(name: str, version: str) -> dict:
    """The object dockerd `version` decodes: the last of duplicate keys; 20.10 stops after the
    first value (json.Decoder), so whatever follows it is never read."""
    text = (FILES / name).read_bytes().decode("utf-8-sig").strip() or "{}"
    value, _end = json.JSONDecoder().raw_decode(text)
    return value if isinstance(value, dict) else {}


def applied_by_model(config: dict, version: str) -> dict:
    from dockercfg import model
    from dockercfg.versions import parse_version

    number = parse_version(full_version(version))
    cidrs, names, mirrors = set(model.default_insecure_cidrs(number)), set(), set()
    for raw in config.get("insecure-registries") or []:
        value = model.normalize_insecure(raw).value
        (cidrs if model.is_cidr(value) else names).add(value)
    for raw in config.get("registry-mirrors") or []:
        try:
            value = model.normalize_mirror(raw, number)
        except model.InvalidValue:
            value = raw  # the placeholder dockerd takes as it is
        mirrors.add(value if value.endswith("/") else value + "/")
    return {"insecure_cidrs": cidrs, "insecure_names": names, "mirrors": mirrors}


@pytest.mark.parametrize("version", VERSIONS)
def test_what_dockerd_applied_is_what_dockercfg_reads_from_the_file(version):
    """Only the plural keys of the decoded object reach /info: singular keys, keys inside other
    objects and data after the object change nothing there."""
    files = recorded(version)["files"]
    compared = 0
    for name, verdict in sorted(files.items()):
        if verdict["verdict"] != "accept":
            continue
        live = {key: set(verdict["applied"][key]) for key in ("insecure_cidrs", "mirrors")}
        live["insecure_names"] = set(verdict["applied"]["insecure_names"])
        assert live == applied_by_model(file_settings(name, version), version), name
        compared += 1
    assert compared >= 50
