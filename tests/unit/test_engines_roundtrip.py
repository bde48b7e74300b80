"""Properties of the engine file edits: adding then removing what dockercfg owns gives back the
admin's settings and comments (blank lines between tables may move when mirrors are put first),
and a second identical edit changes nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dockercfg.engines import containerd_hosts as hosts_toml
from dockercfg.engines import podman
from dockercfg.formats import toml_rt

hosts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z]{2,5})?(:[1-9][0-9]{1,3})?", fullmatch=True)
mirror = hosts.map(lambda h: f"https://{h}")
ADMIN = (
    '# the admin\'s own file\nserver = "https://{reg}"\n\n'
    '[host."https://{reg}"]\n  capabilities = ["pull", "resolve"]  # kept\n  ca = "/x/ca.pem"\n'
)


@settings(max_examples=60, deadline=None)
@given(reg=hosts, mirrors=st.lists(mirror, max_size=3, unique=True), insecure=st.booleans())
def test_hosts_toml_add_then_remove_restores_the_admins_bytes(reg, mirrors, insecure):
    original = ADMIN.format(reg=reg).encode()
    have = hosts_toml.state_of(toml_rt.parse(original, "f"), reg)
    mirrors = [m for m in mirrors if m.rstrip("/") not in hosts_toml.own_urls(reg)]
    want = hosts_toml.HostsState(insecure=insecure, mirrors=mirrors, ca=have.ca)
    edited = hosts_toml.render(original, "f", reg, want)
    assert hosts_toml.render(edited, "f", reg, want) == edited
    state = hosts_toml.state_of(toml_rt.parse(edited, "f"), reg)
    assert (state.insecure, state.mirrors) == (insecure, mirrors)
    back = hosts_toml.render(edited, "f", reg, hosts_toml.HostsState(ca=have.ca))
    assert toml_rt.parse(back, "f").unwrap() == toml_rt.parse(original, "f").unwrap()
    assert b"# the admin's own file" in back and b"# kept" in back


@settings(max_examples=60, deadline=None)
@given(
    insecure=st.lists(hosts, max_size=4, unique=True),
    mirrors=st.dictionaries(hosts, st.lists(mirror, min_size=1, max_size=2, unique=True)),
)
def test_podman_dropin_state_round_trips(insecure, mirrors):
    text = podman.render(insecure, mirrors)
    if not insecure and not mirrors:
        assert text is None
        return
    assert podman.state(toml_rt.parse(text, "f")) == (insecure, mirrors)
