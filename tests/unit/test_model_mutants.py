"""Edges of moby's value rules that small changes to dockercfg/model.py would cross.

Every expected value here is written out by hand from Go's and moby's behaviour: net.SplitHostPort,
strconv.Atoi's range, url.Parse's error texts (`parse "...": invalid URL escape "%zz"`), Go's %q
escapes (\\x7f, \\u0080, \\U000e0001), and moby's validateHostPort / ValidateMirror messages. None
is computed with dockercfg's own helpers.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockercfg.model import InvalidValue, insecure_covers, normalize_insecure, normalize_mirror

V20 = (20, 10, 24)  # before the "not a valid URI" detail and before paths were allowed
V23 = (23, 0, 0)  # first with the url.Error detail
V25 = (25, 0, 0)  # paths allowed, no-scheme fast path not yet (28.3)
URI = 'invalid mirror: "{raw}" is not a valid URI: parse "{raw}": {why}'


def insecure_error(raw: str) -> str:
    with pytest.raises(InvalidValue) as info:
        normalize_insecure(raw)
    assert str(info.value) == info.value.message  # the exception prints its one line
    return info.value.message


def mirror_error(raw: str, version=None) -> str:
    with pytest.raises(InvalidValue) as info:
        normalize_mirror(raw) if version is None else normalize_mirror(raw, version)
    assert str(info.value) == info.value.message
    return info.value.message


# --- insecure registries: net.SplitHostPort and validateHostPort -------------------------------


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        # SplitHostPort(":5000") = ("", "5000"): validateHostPort names the empty host.
        (":5000", ""),
        # SplitHostPort fails (a second ']', a stray '[' or ']'): host = the whole text.
        ("[::1]]:5000", "[::1]]:5000"),
        ("[[::1]:5000", "[[::1]:5000"),
        ("]a:5000", "]a:5000"),
        ("a[b:5000", "a[b:5000"),
        ("a]b:5000", "a]b:5000"),
    ],
)
def test_invalid_host_is_named_as_go_splits_it(raw, host):
    assert insecure_error(raw) == f'insecure registry {raw} is not valid: invalid host "{host}"'


@pytest.mark.parametrize(
    ("port", "error"),
    [
        # strconv.Atoi: anything not digits (a leading X is no sign) is invalid syntax.
        ("X5", 'strconv.Atoi: parsing "X5": invalid syntax'),
        # int64 range: 2^63-1 parses (then is no port), 2^63 is out of range.
        ("9223372036854775807", 'invalid port "9223372036854775807"'),
        ("9223372036854775808", 'strconv.Atoi: parsing "9223372036854775808": value out of range'),
        ("9999999999999999999", 'strconv.Atoi: parsing "9999999999999999999": value out of range'),
        ("1000000000000000000", 'invalid port "1000000000000000000"'),
        ("65536", 'invalid port "65536"'),
        ("+5", 'invalid port "+5"'),
    ],
)
def test_port_errors_match_atoi_and_moby(port, error):
    # An IP host: validateHostPort's regexp fails on a non-digit port, net.ParseIP does not.
    assert insecure_error(f"10.0.0.1:{port}") == (
        f"insecure registry 10.0.0.1:{port} is not valid: {error}"
    )


def test_leading_zeros_do_not_count_towards_the_range():
    # Atoi("000000000000000000005000") == 5000: accepted, stored as written.
    value = "reg.test:" + "0" * 20 + "5000"
    assert normalize_insecure(value).value == value


@given(st.one_of(st.integers(0, 70000), st.sampled_from([0, 1, 65534, 65535, 65536, 65537, 99999])))
def test_port_boundary(port):
    if port <= 65535:
        assert normalize_insecure(f"reg.test:{port}").value == f"reg.test:{port}"
    else:
        assert insecure_error(f"reg.test:{port}") == (
            f'insecure registry reg.test:{port} is not valid: invalid port "{port}"'
        )


@given(st.sampled_from(["a", "ab", "a-b", "a" * 63, "a" * 64]), st.sampled_from(["", "-"]),
       st.sampled_from(["", "-"]))  # fmt: skip
def test_hyphens_at_either_end_of_a_label_are_refused(label, before, after):
    # distribution's domain regexp: a label starts and ends with a letter or digit; it has no
    # length limit (63 is DNS's, not dockerd's), so 64 letters pass.
    name = f"{before}{label}{after}.test"
    if before or after:
        with pytest.raises(InvalidValue):
            normalize_insecure(name)
    else:
        assert normalize_insecure(name).value == name


def test_a_scheme_is_only_the_text_before_the_first_separator():
    # moby strips "http://" once, then validates "x://y": SplitHostPort gives host "x".
    assert (
        insecure_error("http://x://y") == 'insecure registry x://y is not valid: invalid host "x"'
    )


def test_docker_hub_spellings_have_no_effect():
    for hub in ("docker.io", "index.docker.io"):
        assert normalize_insecure(hub).warnings == (
            f"insecure registry {hub} has no effect: dockerd always treats Docker Hub as secure",
        )
        assert insecure_covers([hub], hub) is False


def test_unicode_names_get_their_punycode_form():
    # RFC 3492's own example: "bücher" is "xn--bcher-kva".
    assert insecure_error("bücher:5000") == (
        "insecure registry bücher:5000: use the punycode form xn--bcher-kva:5000"
    )
    assert insecure_error("bücher.test") == (
        "insecure registry bücher.test: use the punycode form xn--bcher-kva.test"
    )


def test_upper_case_names_are_matched_letter_for_letter():
    assert normalize_insecure("Registry.Lab:5000").warnings == (
        "dockerd matches insecure registry Registry.Lab:5000 letter for letter: images named "
        "registry.lab:5000/... are not covered; add registry.lab:5000 unless your image names "
        "use exactly this case",
    )


@pytest.mark.parametrize(
    ("raw", "since"),
    [
        ("127.0.0.1:5000", ""),
        ("127.0.0.0/8", ""),
        ("[::1]:5000", " (::1 since dockerd 28.0; add it for older versions)"),
        ("::1", " (::1 since dockerd 28.0; add it for older versions)"),
    ],
)
def test_loopback_notes(raw, since):
    assert normalize_insecure(raw).warnings == (
        f"insecure registry {raw} is loopback: dockerd always treats it as insecure{since}",
    )


def test_long_values_are_clipped_at_200_characters_in_messages():
    exact = "-" + "a" * 199
    assert insecure_error(exact) == (
        f"invalid index name ({exact}). Cannot begin or end with a hyphen"
    )
    longer = "-" + "a" * 200
    assert insecure_error(longer) == (
        f"invalid index name ({longer[:200]}...). Cannot begin or end with a hyphen"
    )


# --- mirrors: url.Parse and ValidateMirror ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("https://%zz/", 'invalid URL escape "%zz"'),
        ("https://m.test/%", 'invalid URL escape "%"'),
        ("https://m.test/%4", 'invalid URL escape "%4"'),
        ("https://m.test/%g1", 'invalid URL escape "%g1"'),
        ("https://m.test/a%g1", 'invalid URL escape "%g1"'),
        ("https://m.test/%g12", 'invalid URL escape "%g1"'),
        ("https://m.test/ab%1g", 'invalid URL escape "%1g"'),
        ("https://m.test/%1gz", 'invalid URL escape "%1g"'),
        ("https://m.test/%41%zz", 'invalid URL escape "%zz"'),
        ("https://m.test/ab%41%zz", 'invalid URL escape "%zz"'),
        # Host mode: an escape below %80 other than %25 is refused.
        ("https://%41/", 'invalid URL escape "%41"'),
        ("https://%71/", 'invalid URL escape "%71"'),
        ("https://9%41/", 'invalid URL escape "%41"'),
        ("https://a{b/", 'invalid character "{" in host name'),
        ("https://a\x7f/", "net/url: invalid control character in URL"),
        ("https://[::1]x/", 'invalid port "x" after host'),
        ("https://a b@m.test/", "net/url: invalid userinfo"),
        ("https://a%zz@m.test/", 'invalid URL escape "%zz"'),
        ("//a{", 'invalid character "{" in host name'),
    ],
)
def test_url_parse_errors(raw, why):
    shown = raw.replace("\x7f", "\\x7f")
    assert mirror_error(raw, V25) == URI.format(raw=shown, why=why)


def test_a_bad_fragment_escape_names_the_whole_url():
    raw = "https://m.test/#%zz"
    assert mirror_error(raw, V25) == URI.format(raw=raw, why='invalid URL escape "%zz"')


def test_missing_scheme_before_and_after_28_3():
    assert mirror_error("://a", V25) == URI.format(raw="://a", why="missing protocol scheme")
    assert mirror_error("://a://b") == (
        "invalid mirror: no scheme specified for \"://a://b\": must use either 'https://' or "
        "'http://'"
    )


def test_the_url_error_detail_starts_with_23_0():
    assert mirror_error("https://%zz/", V23) == URI.format(
        raw="https://%zz/", why='invalid URL escape "%zz"'
    )
    assert (
        mirror_error("https://%zz/", (22, 99, 99))
        == 'invalid mirror: "https://%zz/" is not a valid URI'
    )
    assert mirror_error("https://%zz/", V20) == 'invalid mirror: "https://%zz/" is not a valid URI'


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://%25/", "%25"),
        ("https://%25a/", "%25a"),
        ("https://%80/", "%80"),
        ("https://%a0/", "%a0"),
        ("https://a\x80b/", "a\\u0080b"),
        ("https://a\U000e0001b/", "a\\U000e0001b"),
        ("https://[::1]]/", "::1]"),
        ("https://a:1:2/", "a:1"),
    ],
)
def test_hosts_that_parse_but_are_no_host(raw, host):
    shown = raw.replace("\x80", "\\u0080").replace("\U000e0001", "\\U000e0001")
    assert mirror_error(raw) == f'invalid mirror: invalid host "{host}" in "{shown}"'


@pytest.mark.parametrize("version", [V25, None])
def test_mirror_port_boundary(version):
    got = normalize_mirror if version is None else (lambda u: normalize_mirror(u, version))
    assert got("https://m.test:65535/") == "https://m.test:65535/"
    assert got("https://m.test:0000080/") == "https://m.test:0000080/"
    assert got("https://[::1]:65535/") == "https://[::1]:65535/"
    for raw, port in [
        ("https://m.test:65536/", "65536"),
        ("https://m.test:65540/", "65540"),
        ("https://m.test:100000/", "100000"),
        ("https://[::1]:65536/", "65536"),
    ]:
        assert mirror_error(raw, version) == f'invalid mirror: invalid port "{port}" in "{raw}"'


@pytest.mark.parametrize("raw", ["http:foo", "http:", "http:/a", "http:/ab/c", "https:///a"])
def test_no_host_before_28_3(raw):
    assert mirror_error(raw, V25) == f'invalid mirror: no host in "{raw}"'


def test_paths_before_24_0_8():
    assert normalize_mirror("https://m.test", V20) == "https://m.test/"
    assert normalize_mirror("https://m.test/", V20) == "https://m.test/"
    assert mirror_error("http:", V20) == 'invalid mirror: no host in "http:"'
    assert mirror_error("https://m.test/p", V20) == (
        'invalid mirror: path, query, or fragment at end of the URI "https://m.test/p"'
    )


def test_query_or_fragment():
    assert mirror_error("https://a?%zz") == (
        'invalid mirror: query or fragment at end of the URI "https://a?%zz"'
    )
    assert mirror_error("http:a?b", V25) == (
        'invalid mirror: query or fragment at end of the URI "http:a?b"'
    )


def test_a_colon_after_the_first_path_segment_is_a_path():
    # url.Parse only refuses a colon in the first segment of a scheme-less URL.
    assert mirror_error("1/2:3/x", V25) == 'invalid mirror: unsupported scheme "" in "1/2:3/x"'
    assert mirror_error("1:2/x", V25) == URI.format(
        raw="1:2/x", why="first path segment in URL cannot contain colon"
    )


def test_userinfo_is_what_comes_before_the_last_at_sign():
    assert mirror_error("https://u@v@m.test/") == (
        'invalid mirror: username/password not allowed in URI "https://u@v:xxxxx@m.test/"'
    )
    assert mirror_error("https://@m.test/") == (
        'invalid mirror: username/password not allowed in URI "https://:xxxxx@m.test/"'
    )


def test_valid_escapes_pass():
    assert normalize_mirror("https://m.test/%41/") == "https://m.test/%41/"
    assert normalize_mirror("https://m.test/%41") == "https://m.test/%41/"


def test_mirror_messages_are_clipped_at_200_characters():
    exact = "ftp://" + "a" * 194
    assert mirror_error(exact) == (
        f'invalid mirror: unsupported scheme "ftp" in "{exact}": must use either \'https://\' '
        "or 'http://'"
    )
    longer = exact + "a"
    assert mirror_error(longer) == (
        f'invalid mirror: unsupported scheme "ftp" in "{longer[:200]}...": must use either '
        "'https://' or 'http://'"
    )
