"""x509: what a certificate says, read by `cryptography` and compared with openssl's own answers;
anything else is BadCertificate, never a traceback; `cryptography` is loaded only when a
certificate is read.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings

import pytest
from certkit import REPO, built, make_pki, openssl, pem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockercfg import x509
from dockercfg.errors import EnvironmentProblem

CN, O_, OU = "2.5.4.3", "2.5.4.10", "2.5.4.11"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_parser_agrees_with_openssl(pki):
    path = pem(pki, "server")
    cert = x509.parse_der(x509.pem_blocks(path.read_bytes())[0].der)
    fingerprint = openssl("x509", "-in", str(path), "-noout", "-fingerprint", "-sha256")
    serial = openssl("x509", "-in", str(path), "-noout", "-serial")
    end = openssl("x509", "-in", str(path), "-noout", "-enddate", "-dateopt", "iso_8601")
    assert cert.sha256 == fingerprint.decode().strip().split("=", 1)[1]
    assert cert.serial == serial.decode().strip().split("=", 1)[1]
    assert cert.not_after.strftime("%Y-%m-%d %H:%M:%SZ") == end.decode().strip().split("=")[1]
    assert cert.subject == "CN=registry.test" and cert.issuer == "CN=dockercfg test CA"
    assert cert.names == ["DNS:registry.test", "DNS:*.apps.test", "IP:127.0.0.1", "IP:::1"]
    assert cert.ca is False and not cert.is_ca and not cert.self_issued and cert.version == 3
    assert cert.to_pem() == path.read_bytes()  # byte for byte what openssl writes


def test_ca_flags(pki):
    ca = x509.parse_der(x509.pem_blocks(pem(pki, "ca").read_bytes())[0].der)
    assert ca.is_ca and ca.self_issued and ca.names == []
    v1 = openssl("req", "-x509", "-key", str(pki.dir / "stray.key"), "-subj", "/CN=v1/O=A, B",
                 "-days", "2", "-config", "/dev/null")  # fmt: skip
    cert = x509.parse_der(x509.pem_blocks(v1)[0].der)
    assert cert.subject == "CN=v1, O=A, B" and cert.version in (1, 3)


@pytest.mark.parametrize(
    "host, expected",
    [
        ("registry.test", True),
        ("REGISTRY.test", True),
        ("x.apps.test", True),
        ("apps.test", False),
        ("a.b.apps.test", False),
        ("127.0.0.1", True),
        ("::1", True),
        ("0:0::1", True),
        ("127.0.0.2", False),
        ("other.test", False),
    ],
)
def test_matches_host_like_go(pki, host, expected):
    cert = x509.parse_der(x509.pem_blocks(pem(pki, "server").read_bytes())[0].der)
    assert x509.matches_host(cert, host) is expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), cut=st.integers(min_value=0, max_value=2000))
def test_parser_never_crashes(pki, data, cut):
    """Anything: either a Certificate or BadCertificate, never another exception; a certificate
    cut short is always refused (DER states every length), and the whole one always parses."""
    real = x509.pem_blocks(pem(pki, "server").read_bytes())[0].der
    for candidate in (data, real[:cut] + data, b"\x30\x82" + data):
        with contextlib.suppress(x509.BadCertificate):
            x509.parse_der(candidate)
    if cut < len(real):
        with pytest.raises(x509.BadCertificate):
            x509.parse_der(real[:cut])
    else:
        assert x509.parse_der(real[:cut]).der == real


def test_pem_blocks_and_headers(pki):
    encrypted = openssl("pkey", "-in", str(pki.dir / "stray.key"), "-aes256", "-passout",
                        "pass:secret", "-traditional")  # fmt: skip
    blocks = x509.pem_blocks(b"junk before\n" + encrypted + pem(pki, "ca").read_bytes())
    assert [b.label for b in blocks] == ["EC PRIVATE KEY", "CERTIFICATE"]
    assert blocks[0].headers and not blocks[1].headers
    with pytest.raises(x509.BadCertificate, match="base64"):
        x509.pem_blocks(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")


def test_trailing_or_missing_bytes_are_refused_as_go_does(pki):
    real = x509.pem_blocks(pem(pki, "server").read_bytes())[0].der
    for broken in (real + b"\x00", real[:-1], b"\x30\x03\x02\x01\x00"):
        with pytest.raises(x509.BadCertificate, match="not a valid DER certificate") as caught:
            x509.parse_der(broken)
        assert "\n" not in caught.value.args[0] and len(caught.value.args[0]) < 200


def test_names_keep_certificate_order_and_lose_control_characters():
    hostile = "evil\n\x1b[31mred\x00"
    der = built([(CN, hostile), (O_, "A, B"), (OU, "Zürich"), ("1.2.3.4", "x")], san=["r.test"])
    cert = x509.parse_der(der)
    assert cert.subject == "CN=evil\\x0a\\x1b[31mred\\x00, O=A, B, OU=Zürich, 1.2.3.4=x"
    assert cert.subject.isprintable() and cert.self_issued and cert.names == ["DNS:r.test"]
    assert cert.ca is None and not cert.is_ca  # no basicConstraints, and v3: not a CA
    long = x509.parse_der(built([(CN, "a" * 500)]))
    assert long.subject.startswith("CN=aaa") and long.subject.endswith("...")
    assert len(long.subject) == len("CN=") + 100


def test_a_negative_serial_is_shown_without_a_warning(pki):
    text = openssl("req", "-x509", "-key", str(pki.dir / "stray.key"), "-subj", "/CN=neg",
                   "-set_serial", "-5", "-days", "2", "-config", "/dev/null")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be an extra line on stderr
        cert = x509.parse_der(x509.pem_blocks(text)[0].der)
    assert cert.serial == "-5"


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=REPO)  # fmt: skip


def test_cryptography_is_imported_on_the_first_parse_only(pki):
    code = (
        "import sys\n"
        "from dockercfg import certs, netprobe, x509\n"
        "assert 'cryptography' not in sys.modules, 'imported with the modules'\n"
        f"x509.parse_der(x509.pem_blocks(open({str(pem(pki, 'ca'))!r}, 'rb').read())[0].der)\n"
        "assert 'cryptography' in sys.modules\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr


def test_without_cryptography_one_line_and_exit_3(pki):
    blocked = "import sys; sys.modules['cryptography'] = None\n"  # as if it were not installed
    code = blocked + (
        "from dockercfg import x509\n"
        f"x509.parse_der(x509.pem_blocks(open({str(pem(pki, 'ca'))!r}, 'rb').read())[0].der)\n"
    )
    done = run_python(code)
    assert "EnvironmentProblem" in done.stderr and "python3-cryptography" in done.stderr
    assert EnvironmentProblem.exit_code == 3
    cli = blocked + (
        "from dockercfg.entry import main\n"
        f"sys.argv = ['dockercfg', 'trust-ca', 'r.test:5443', '--offline', '--ca',"
        f" {str(pem(pki, 'ca'))!r}, '--root', {str(pki.dir / 'root')!r}]\n"
        "main()\n"
    )
    done = run_python(cli)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dockercfg: "), done.stderr
    assert lines[0].endswith(x509.NO_CRYPTOGRAPHY), done.stderr
    assert not (pki.dir / "root/etc/docker/certs.d").exists()


@pytest.mark.parametrize(
    "names, host, words",
    [
        (("DNS:other.test", "IP:192.0.2.7"), "r.test",
         "certificate is valid for other.test, not r.test"),
        (("DNS:other.test", "IP:192.0.2.7", "IP:::1"), "10.0.0.1",
         "certificate is valid for 192.0.2.7, ::1, not 10.0.0.1"),
        (("DNS:other.test",), "10.0.0.1",
         "cannot validate certificate for 10.0.0.1 because it doesn't contain any IP SANs"),
        (("IP:192.0.2.7",), "r.test",
         "certificate is not valid for any names, but wanted to match r.test"),
        ((), "r.test", "certificate relies on legacy Common Name field, use SANs instead"),
    ],
)  # fmt: skip
def test_hostname_error_in_go_words(pki, names, host, words):
    """Go's x509.HostnameError, which `docker push` prints: the expectations are Go's texts."""
    if names:
        cert_path = pki.server(f"names{len(names)}{host}", names=names)
    else:  # no subjectAltName at all, only the CN people used to rely on
        cert_path = pem(pki, "cn-only")
        if not cert_path.exists():
            cert_path.write_bytes(
                openssl(
                    "req",
                    "-x509",
                    "-key",
                    str(pki.dir / "stray.key"),
                    "-subj",
                    "/CN=r.test",
                    "-days",
                    "2",
                    "-config",
                    "/dev/null",
                )  # fmt: skip
            )
    cert = x509.parse_der(x509.pem_blocks(cert_path.read_bytes())[0].der)
    assert not x509.matches_host(cert, host)
    assert x509.hostname_error(cert, host) == f"x509: {words}"
