"""moby's insecure-registry and mirror rules (reference/dockerd.md §3), plus safe characters."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockercfg.model import (
    MIRROR_HUB_ONLY_NOTE,
    InvalidValue,
    Normalized,
    dedupe,
    default_insecure_cidrs,
    insecure_covers,
    is_cidr,
    normalize_insecure,
    normalize_mirror,
)
from dockercfg.versions import NEWEST

INSECURE_SAFE = re.compile(r"[A-Za-z0-9.:\[\]/-]+")
MIRROR_SAFE = re.compile(r"[A-Za-z0-9._~:/\[\]%-]+")
OLD = (20, 10, 24)
NO_SCHEME_HINT = "must use either 'https://' or 'http://'"


def insecure_error(raw: str) -> str:
    with pytest.raises(InvalidValue) as info:
        normalize_insecure(raw)
    return info.value.message


def mirror_error(raw: str, version=NEWEST) -> str:
    with pytest.raises(InvalidValue) as info:
        normalize_mirror(raw, version)
    return info.value.message


# --- insecure registries: moby's own examples -------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["2001:db8::1", "[2001:db8::1]:80", "myregistry.example.com", "myregistry.example.com:5000",
     "localhost:5000", "reg:0", "reg:65535", "::ffff:1.2.3.4", "10.0.0.0/8"],
)  # fmt: skip
def test_valid_insecure_entries_are_kept_as_written(raw):
    assert normalize_insecure(raw) == Normalized(raw, ())


@pytest.mark.parametrize(
    "raw, value, scheme",
    [
        ("http://myregistry.example.com", "myregistry.example.com", "http://"),
        ("https://myregistry.example.com:5000", "myregistry.example.com:5000", "https://"),
        ("HTTP://10.0.0.0/8", "10.0.0.0/8", "http://"),
    ],
)
def test_http_scheme_is_stripped_with_moby_warning(raw, value, scheme):
    result = normalize_insecure(raw)
    assert result.value == value
    assert result.warnings == (
        f"insecure registry {raw} should not contain '{scheme}' and '{scheme}' "
        "has been removed from the insecure registry config",
    )


@pytest.mark.parametrize(
    "raw, value",
    [
        ("10.1.2.3/16", "10.1.0.0/16"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.168.1.77/32", "192.168.1.77/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("2001:DB8::1/32", "2001:db8::/32"),
        ("fe80::1/64", "fe80::/64"),
        ("::ffff:10.1.2.3/112", "10.1.0.0/16"),  # what /info shows (net.IPNet.String)
    ],
)
def test_cidr_is_masked(raw, value):
    assert normalize_insecure(raw) == Normalized(value, ())
    assert is_cidr(value)


@pytest.mark.parametrize(
    "raw, message",
    [
        ("[fe80::]/64", 'insecure registry [fe80::]/64 is not valid: invalid host "[fe80::]/64"'),
        ("mytest-.com", 'insecure registry mytest-.com is not valid: invalid host "mytest-.com"'),
        ("myregistry.example.com:500000",
         'insecure registry myregistry.example.com:500000 is not valid: invalid port "500000"'),
        ("1200:0000:AB00:1234:0000:2552:7777:1313:8080",
         "insecure registry 1200:0000:AB00:1234:0000:2552:7777:1313:8080 is not valid: "
         'invalid host "1200:0000:AB00:1234:0000:2552:7777:1313:8080"'),
        ('"myregistry.example.com"', 'insecure registry "myregistry.example.com" is not valid: '
         'invalid host "\\"myregistry.example.com\\""'),
        ("host/path", 'insecure registry host/path is not valid: invalid host "host/path"'),
        (" myregistry:5000",
         'insecure registry  myregistry:5000 is not valid: invalid host " myregistry"'),
        ("http//x", 'insecure registry http//x is not valid: invalid host "http//x"'),
        ("host:99999", 'insecure registry host:99999 is not valid: invalid port "99999"'),
        ("-bad-.com:5000",
         "invalid index name (-bad-.com:5000). Cannot begin or end with a hyphen"),
        ("-example.com", "invalid index name (-example.com). Cannot begin or end with a hyphen"),
        ("example.com-", "invalid index name (example.com-). Cannot begin or end with a hyphen"),
        ("a b", 'insecure registry a b is not valid: invalid host "a b"'),
        ("$(reboot)", 'insecure registry $(reboot) is not valid: invalid host "$(reboot)"'),
        ("`id`:5000", 'insecure registry `id`:5000 is not valid: invalid host "`id`"'),
        ("svn://x", "insecure registry svn://x should not contain '://'"),
        ("svn://myregistry.example.com",
         "insecure registry svn://myregistry.example.com should not contain '://'"),
        ("", 'insecure registry  is not valid: invalid host ""'),
        ("a\x00b", 'insecure registry a\\x00b is not valid: invalid host "a\\x00b"'),
        ("reg\n", 'insecure registry reg\\n is not valid: invalid host "reg\\n"'),
        ("fe80::1%eth0",
         'insecure registry fe80::1%eth0 is not valid: invalid host "fe80::1%eth0"'),
        ("10.0.0.0/08", 'insecure registry 10.0.0.0/08 is not valid: invalid host "10.0.0.0/08"'),
        ("10.0.0.0/33", 'insecure registry 10.0.0.0/33 is not valid: invalid host "10.0.0.0/33"'),
        ("[::1]:abc",
         'insecure registry [::1]:abc is not valid: strconv.Atoi: parsing "abc": invalid syntax'),
        ("[::1]:+5", 'insecure registry [::1]:+5 is not valid: invalid port "+5"'),
        ("[::1]:-5", 'insecure registry [::1]:-5 is not valid: invalid port "-5"'),
    ],
)  # fmt: skip
def test_invalid_insecure_entries_use_moby_messages(raw, message):
    assert insecure_error(raw) == message


def test_docker_hub_cannot_be_made_insecure_so_it_warns():
    result = normalize_insecure("docker.io")
    assert result.value == "docker.io"
    assert "no effect" in result.warnings[0]


def test_messages_stay_short_and_on_one_line_for_huge_input():
    message = insecure_error("a b" * 1_000_000)
    assert len(message) < 600 and "\n" not in message


@pytest.mark.parametrize(
    "raw",
    ["a" * 200_000 + "!", "a-" * 100_000 + "!", "a." * 100_000 + "!", "[" + ":" * 200_000,
     "1." * 100_000, "x:" + "0" * 100_000 + "1"],
)  # fmt: skip
def test_no_catastrophic_backtracking(raw):
    start = time.monotonic()
    for call in (normalize_insecure, normalize_mirror, lambda v: insecure_covers([v], v)):
        for value in (raw, "http://" + raw + "/"):
            with contextlib.suppress(InvalidValue):
                call(value)
    assert time.monotonic() - start < 5


# --- mirrors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, message",
    [
        ("mirror-1.example.com",
         f'invalid mirror: no scheme specified for "mirror-1.example.com": {NO_SCHEME_HINT}'),
        ("host:5000", f'invalid mirror: no scheme specified for "host:5000": {NO_SCHEME_HINT}'),
        ("://host", f'invalid mirror: no scheme specified for "://host": {NO_SCHEME_HINT}'),
        ("!invalid!://%as%", 'invalid mirror: "!invalid!://%as%" is not a valid URI: '
         'parse "!invalid!://%as%": first path segment in URL cannot contain colon'),
        ("ftp://mirror-1.example.com", 'invalid mirror: unsupported scheme "ftp" in '
         f'"ftp://mirror-1.example.com": {NO_SCHEME_HINT}'),
        ("http://mirror-1.example.com/?q=foo",
         'invalid mirror: query or fragment at end of the URI "http://mirror-1.example.com/?q=foo"'),
        ("http://mirror-1.example.com/#frag",
         'invalid mirror: query or fragment at end of the URI "http://mirror-1.example.com/#frag"'),
        ("http://foo:bar@mirror-1.example.com/", "invalid mirror: username/password not allowed "
         'in URI "http://foo:xxxxx@mirror-1.example.com/"'),
        ("http://foo@mirror-1.example.com/", "invalid mirror: username/password not allowed "
         'in URI "http://foo:xxxxx@mirror-1.example.com/"'),
        ("http://h:abc/", 'invalid mirror: "http://h:abc/" is not a valid URI: '
         'parse "http://h:abc/": invalid port ":abc" after host'),
        ("http://[::1/", 'invalid mirror: "http://[::1/" is not a valid URI: '
         "parse \"http://[::1/\": missing ']' in host"),
        ("http://h\x00/", 'invalid mirror: "http://h\\x00/" is not a valid URI: '
         'parse "http://h\\x00/": net/url: invalid control character in URL'),
        ("http://h /", 'invalid mirror: "http://h /" is not a valid URI: '
         'parse "http://h /": invalid character " " in host name'),
        ("http://h/%zz", 'invalid mirror: "http://h/%zz" is not a valid URI: '
         'parse "http://h/%zz": invalid URL escape "%zz"'),
        # Stricter than moby: these would reach a root-sourced file or are not a usable host.
        ("http://h:99999/", 'invalid mirror: invalid port "99999" in "http://h:99999/"'),
        ("http:///x", 'invalid mirror: no host in "http:///x"'),
        ("http://bad-.example/", 'invalid mirror: invalid host "bad-.example" in "http://bad-.example/"'),
        ("http://[1.2.3.4]/", 'invalid mirror: invalid host "1.2.3.4" in "http://[1.2.3.4]/"'),
        ("http://h/a b", 'invalid mirror: "http://h/a b" contains " "; '
         "only letters, digits and . - _ ~ : / [ ] % are allowed"),
        ("http://h/$(reboot)", 'invalid mirror: "http://h/$(reboot)" contains "$"; '
         "only letters, digits and . - _ ~ : / [ ] % are allowed"),
        ("http://h/?", 'invalid mirror: query or fragment at end of the URI "http://h/?"'),
    ],
)  # fmt: skip
def test_invalid_mirrors_use_moby_messages(raw, message):
    assert mirror_error(raw) == message


@pytest.mark.parametrize(
    "raw, value",
    [
        ("https://m.example.com", "https://m.example.com/"),
        ("https://m.example.com/", "https://m.example.com/"),
        ("http://10.0.0.1:5000", "http://10.0.0.1:5000/"),
        ("http://[::1]:5000/", "http://[::1]:5000/"),
        ("https://mirror-1.example.com/v1/", "https://mirror-1.example.com/v1/"),
        ("https://mirror-1.example.com/v1", "https://mirror-1.example.com/v1/"),
        ("https://m.example.com//", "https://m.example.com//"),  # TrimSuffix removes one "/"
        ("HTTPS://M.example.com", "HTTPS://M.example.com/"),  # moby keeps the text as given
    ],
)
def test_mirrors_get_one_trailing_slash(raw, value):
    assert normalize_mirror(raw) == value
    assert MIRROR_SAFE.fullmatch(value)


def test_mirror_paths_need_24_0_8():
    assert normalize_mirror("https://m.example.com/v1/", (24, 0, 8)) == "https://m.example.com/v1/"
    assert normalize_mirror("https://m.example.com/v1/", (25, 0, 0)) == "https://m.example.com/v1/"
    for version in (OLD, (24, 0, 7)):
        assert mirror_error("https://m.example.com/v1/", version) == (
            'invalid mirror: path, query, or fragment at end of the URI "https://m.example.com/v1/"'
        )
    assert normalize_mirror("https://m.example.com/", OLD) == "https://m.example.com/"
    assert mirror_error("http://m/?q=foo", OLD).startswith("invalid mirror: path, query, or")


def test_older_daemons_have_no_scheme_fast_path_nor_hint():
    # The fast path and the hint came in v28.3.0; before that url.Parse decided.
    assert mirror_error("mirror-1.example.com", (28, 2, 2)) == (
        'invalid mirror: unsupported scheme "" in "mirror-1.example.com"'
    )
    assert (
        mirror_error("host:5000", OLD) == 'invalid mirror: unsupported scheme "host" in "host:5000"'
    )
    assert (
        mirror_error("ftp://m", (28, 2, 2))
        == 'invalid mirror: unsupported scheme "ftp" in "ftp://m"'
    )
    assert mirror_error("ftp://m", (28, 3, 0)).endswith(NO_SCHEME_HINT)
    # Before v23 the url.Parse error was not included.
    assert (
        mirror_error("http://h:abc/", OLD) == 'invalid mirror: "http://h:abc/" is not a valid URI'
    )


def test_mirror_note():
    assert "Docker Hub" in MIRROR_HUB_ONLY_NOTE and "pushes" in MIRROR_HUB_ONLY_NOTE


# --- is_cidr, defaults, coverage, dedupe ------------------------------------------------------


def test_is_cidr():
    assert is_cidr("10.0.0.0/8") and is_cidr("::1/128") and is_cidr("10.1.2.3/16")
    for value in ("10.0.0.1", "myreg:5000", "[fe80::]/64", "10.0.0.0/08", "fe80::%1/64", "a/8", ""):
        assert not is_cidr(value)


def test_default_insecure_cidrs():
    assert default_insecure_cidrs((27, 5, 1)) == ["127.0.0.0/8"]
    assert default_insecure_cidrs((28, 0, 0)) == ["127.0.0.0/8", "::1/128"]
    assert default_insecure_cidrs(NEWEST) == ["127.0.0.0/8", "::1/128"]


@pytest.mark.parametrize(
    "entries, registry, version, covered",
    [
        (["myreg:5000"], "myreg:5000", NEWEST, True),
        (["myreg:5000"], "myreg", NEWEST, False),  # exact string match only
        (["myreg"], "myreg:5000", NEWEST, False),
        (["http://myreg:5000"], "myreg:5000", NEWEST, True),  # entries are normalised
        (["10.0.0.0/8"], "10.1.2.3:5000", NEWEST, True),
        (["10.0.0.0/8"], "10.1.2.3", NEWEST, True),
        (["10.0.0.0/8"], "11.1.2.3:5000", NEWEST, False),
        ([], "127.0.0.1:5000", OLD, True),
        ([], "[::1]:5000", NEWEST, True),
        ([], "[::1]:5000", (28, 0, 0), True),
        ([], "[::1]:5000", (27, 5, 1), False),
        (["::1/128"], "[::1]:5000", (27, 5, 1), True),
        ([], "[::ffff:127.0.0.1]:5000", OLD, True),  # Unmap()
        (["2001:db8::/32"], "[2001:db8::5]:443", NEWEST, True),
        (["2001:db8::/32"], "2001:db8::5", NEWEST, True),
        ([], "localhost:5000", NEWEST, False),  # needs DNS: not resolved here
        (["docker.io"], "docker.io", NEWEST, False),  # Docker Hub is forced secure
        (["0.0.0.0/0"], "index.docker.io", NEWEST, False),
        (["bad entry", "10.0.0.0/8"], "10.0.0.1", NEWEST, True),
    ],
)
def test_insecure_covers(entries, registry, version, covered):
    assert insecure_covers(entries, registry, version) is covered


def test_dedupe_keeps_first():
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert dedupe([]) == []


# --- properties -------------------------------------------------------------------------------

TOKENS = ["http", "https", "HTTP", "ftp", "://", ":", "/", "//", "[", "]", "::1", "::", "1.2.3.4",
          "10.0.0.0", "/8", "/64", "example.com", "a", "-", ".", "%", "%41", "%zz", "?", "#", "@",
          "u:p@", "5000", "99999", "0", " ", "\x00", "\n", "\x7f", "é", "$", "`", "'", '"', ";",
          "\\", "+", "_", "~", "fe80::1", "%25eth0", "docker.io", "index.docker.io"]  # fmt: skip
anything = st.one_of(
    st.text(),
    st.lists(st.sampled_from(TOKENS), max_size=12).map("".join),
    st.binary().map(lambda b: b.decode("latin-1")),
)
versions = st.sampled_from(
    [NEWEST, OLD, (24, 0, 7), (24, 0, 8), (27, 5, 1), (28, 2, 2), (28, 3, 0)]
)


@given(anything)
def test_insecure_raises_only_invalid_value_and_output_is_safe_and_stable(raw):
    try:
        result = normalize_insecure(raw)
    except InvalidValue as err:
        assert err.message and "\n" not in err.message and "\r" not in err.message
        return
    assert INSECURE_SAFE.fullmatch(result.value)
    assert normalize_insecure(result.value).value == result.value
    assert all("\n" not in warning for warning in result.warnings)


@given(anything, versions)
def test_mirror_raises_only_invalid_value_and_output_is_safe_and_stable(raw, version):
    try:
        value = normalize_mirror(raw, version)
    except InvalidValue as err:
        assert err.message.startswith("invalid mirror: ")
        assert "\n" not in err.message and "\r" not in err.message
        return
    assert MIRROR_SAFE.fullmatch(value) and value.endswith("/")
    assert normalize_mirror(value, version) == value


@given(st.lists(anything, max_size=4), anything, versions)
def test_insecure_covers_and_is_cidr_never_raise(entries, registry, version):
    assert insecure_covers(entries, registry, version) in (True, False)
    assert is_cidr(registry) in (True, False)


@settings(deadline=None, max_examples=10, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(TOKENS), st.integers(10_000, 300_000))
def test_huge_inputs_raise_only_invalid_value(token, count):
    raw = token * count
    for call in (normalize_insecure, normalize_mirror, lambda v: normalize_mirror("http://" + v)):
        try:
            call(raw)
        except InvalidValue as err:
            assert len(err.message) < 1000


LABEL = st.from_regex(r"\A[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?\Z")
hostnames = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535).map(str)


@given(st.one_of(hostnames, ipv4), st.one_of(st.none(), ports))
def test_valid_hosts_and_ports_round_trip(host, port):
    raw = host if port is None else f"{host}:{port}"
    assert normalize_insecure(raw).value == raw
    assert normalize_insecure(f"http://{raw}").value == raw


@given(ipv6, st.one_of(st.none(), ports))
def test_ipv6_round_trips(address, port):
    raw = f"[{address}]:{port}" if port is not None else address
    assert normalize_insecure(raw).value == raw
    assert normalize_mirror(f"https://[{address}]") == f"https://[{address}]/"


@given(st.ip_addresses(), st.integers(0, 128))
def test_cidrs_are_masked_like_ipaddress(address, bits):
    bits = min(bits, address.max_prefixlen)
    value = normalize_insecure(f"{address}/{bits}").value
    expected = ipaddress.ip_network(f"{address}/{bits}", strict=False)
    mapped = getattr(expected.network_address, "ipv4_mapped", None)
    if mapped:  # an IPv4-mapped prefix is stored as the IPv4 prefix it means to dockerd
        expected = ipaddress.ip_network(f"{mapped}/{expected.prefixlen - 96}")
    assert ipaddress.ip_network(value) == expected
    assert is_cidr(value) and normalize_insecure(value).value == value


@given(
    st.sampled_from(["http", "https"]),
    st.one_of(hostnames, ipv4, ipv6.map(lambda a: f"[{a}]")),
    st.one_of(st.none(), ports),
    st.lists(st.from_regex(r"\A[A-Za-z0-9._~-]{1,8}\Z"), max_size=3).map("/".join),
    st.booleans(),
)
def test_valid_mirrors_round_trip(scheme, host, port, path, slash):
    raw = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    raw += (f"/{path}" if path else "") + ("/" if slash else "")
    assert normalize_mirror(raw) == (raw[:-1] if raw.endswith("/") else raw) + "/"


# --- values as users type them ----------------------------------------------------------------
# Expectations come from moby's rules, written out here: validHostPortRegex takes host[:port]
# only (no path); isSecureIndex is an exact string lookup, then a CIDR match on IP literals;
# 127.0.0.0/8 is always insecure, ::1/128 from v28.0.0; labels are [A-Za-z0-9] with inner hyphens.

PATH_SUFFIXES = ["/", "/v2", "/v2/"]


@pytest.mark.parametrize("suffix", PATH_SUFFIXES)
@pytest.mark.parametrize("scheme", ["", "http://", "https://"])
def test_registry_api_paths_are_removed_with_the_reason(scheme, suffix):
    raw = f"{scheme}192.168.199.100:5000{suffix}"
    result = normalize_insecure(raw, typed=True)
    assert result.value == "192.168.199.100:5000"
    assert any("takes host[:port] only; using 192.168.199.100:5000" in w for w in result.warnings)
    assert not any("strconv" in w for w in result.warnings)
    # In a file dockerd refuses it at start: still an error, now with the fix.
    assert insecure_error(raw).endswith("; use 192.168.199.100:5000")


def test_other_paths_are_still_refused():
    # moby's own message: SplitHostPort takes everything before the last colon as the host.
    assert (
        insecure_error("h:5000/v1/")
        == 'insecure registry h:5000/v1/ is not valid: invalid host "h"'
    )


@pytest.mark.parametrize(
    "raw, loopback, v6",
    [("127.0.0.1", True, False), ("127.0.0.1:8080", True, False), ("127.255.0.1:5000", True, False),
     ("127.0.0.0/8", True, False), ("127.1.0.0/16", True, False), ("[::1]:5000", True, True),
     ("[::1]", True, True), ("::1/128", True, True), ("::ffff:127.0.0.1", True, False),
     ("128.0.0.1", False, False), ("126.0.0.0/7", False, False), ("[::2]:5000", False, False),
     ("localhost:5000", False, False), ("::/0", False, False)],
)  # fmt: skip
def test_loopback_is_accepted_with_a_warning(raw, loopback, v6):
    warnings = normalize_insecure(raw).warnings
    notes = [w for w in warnings if "always treats it as insecure" in w]
    assert bool(notes) is loopback
    assert any("28.0" in w for w in notes) is v6


@pytest.mark.parametrize("raw", ["MyReg:5000", "Registry.Example.com", "REG"])
def test_upper_case_names_are_never_reported_as_matching_the_lower_case_name(raw):
    result = normalize_insecure(raw)
    assert result.value == raw  # dockerd keeps the case, and so matches only this spelling
    assert any(raw.lower() in w and "letter for letter" in w for w in result.warnings)
    assert not insecure_covers([raw], raw.lower())


@pytest.mark.parametrize(
    "raw, fixed",
    [("bücher.example:5000", "xn--bcher-kva.example:5000"), ("bücher", "xn--bcher-kva"),
     ("例え.jp", "xn--r8jz45g.jp")],
)  # fmt: skip
def test_internationalised_names_are_refused_with_the_punycode_form(raw, fixed):
    assert insecure_error(raw) == f"insecure registry {raw}: use the punycode form {fixed}"
    assert normalize_insecure(fixed).value == fixed


def moby_accepts_hostport(text: str) -> bool:
    """The table of moby's rules, independent of model.py."""
    host, _, port = text.rpartition(":") if ":" in text else (text, "", None)
    if port is not None and not (port.isdigit() and port.isascii() and int(port) <= 65535):
        return False
    labels = host.split(".")
    return all(
        len(label) > 0 and label.isascii() and label.replace("-", "a").isalnum()
        and label[0] != "-" and label[-1] != "-" for label in labels
    )  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    ["reg:65535", "reg:65536", "reg:0", "reg:", "-reg", "reg-", "a-b", "a" * 63, "a" * 64,
     "a." * 10 + "b", "a..b", ".a", "a.", "x-.y", "x.-y"],
)  # fmt: skip
def test_boundaries_follow_the_table(raw):
    try:
        normalize_insecure(raw)
        accepted = True
    except InvalidValue:
        accepted = False
    if raw == "a" * 64:
        # distribution's DomainRegexp puts no limit on label length, and moby neither: dockerd
        # accepts a 64-character label, so dockercfg does too (DNS would never resolve it).
        assert accepted
    elif raw == "reg:":
        assert not accepted or normalize_insecure(raw).value == "reg:"
    else:
        assert accepted is moby_accepts_hostport(raw)


@given(st.lists(st.sampled_from(["a", "Z", "0", "-", ".", ":", "5000", "65536", "é"]), max_size=8))
def test_generated_names_follow_the_table(pieces):
    raw = "".join(pieces)
    if not raw or raw.endswith(":") or raw.count(":") > 1:
        return
    try:
        normalize_insecure(raw)
        accepted = True
    except InvalidValue:
        accepted = False
    if ":" not in raw and raw.replace(".", "").isdigit():
        return  # an IP literal or digits: net.ParseIP's rules, covered above
    assert accepted is moby_accepts_hostport(raw), raw
