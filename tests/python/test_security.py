#!/usr/bin/env python3
"""End-to-end test of Strata's security from Python: TLS, tokens and mTLS as a grpcio client
sees them.

Makes a CA, a server certificate (localhost, 127.0.0.1) and a client certificate at test time
with the `cryptography` package, writes an --auth-tokens file holding the tokens' SHA-256,
starts the real `strata serve` with --tls-cert/--tls-key/--auth-tokens (and a second one
with --tls-client-ca), and checks a TLS round trip with `grpc.ssl_channel_credentials`, the
codes without a token and with a read-only token, a client that does not trust the server's
CA, and mTLS with and without a client certificate. Prints one line per test and a closing
line `N passed, M failed`; exits non-zero if any test failed.

Run: `.venv/bin/python tests/python/test_security.py` (scripts/test.sh does, after building
the binary). Reuses test_strata.py's binary lookup, stub generation and server process.
"""

import datetime
import hashlib
import ipaddress
import os
import sys
import tempfile
import traceback

# The refused handshakes below are expected; keep grpc's C core from logging them as errors.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from test_strata import (  # noqa: E402
    CALL_TIMEOUT,
    Server,
    expect_error,
    generate_stubs,
    run_tests,
    set_cell,
)

ADMIN = "py-admin-token"
READER = "py-reader-token"


# ---------------------------------------------------------------------------------------------
# Certificates and tokens
# ---------------------------------------------------------------------------------------------


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Ca:
    """A self-signed CA issuing server and client certificates (PEM bytes)."""

    def __init__(self, cn):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(cn)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn, server):
        """(certificate PEM, key PEM) for `cn`: a server certificate for localhost and
        127.0.0.1, or a client certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def write(root, name, data):
    path = os.path.join(root, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def tokens_file(root):
    """admin holds every permission, reader only read; the file holds SHA-256 hashes."""
    text = ""
    for name, token, perms in [("admin", ADMIN, '"admin"'), ("reader", READER, '"read"')]:
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        text += '[[principal]]\nname = "%s"\ntoken_sha256 = "%s"\npermissions = [%s]\n\n' % (
            name,
            digest.upper() if name == "reader" else digest,
            perms,
        )
    return write(root, "tokens.toml", text.encode("utf-8"))


def bearer(token):
    return (("authorization", "Bearer " + token),)


# ---------------------------------------------------------------------------------------------
# Tests: `tls` is the TLS + tokens server, `mtls` the one requiring client certificates
# ---------------------------------------------------------------------------------------------


def test_tls_round_trip_with_a_token(env):
    pb, stub = env.tls.pb, env.tls.stub
    stub.CreateTable(
        pb.CreateTableRequest(table="py_sec", families=[pb.FamilyOptions(name="f")]),
        timeout=CALL_TIMEOUT,
        metadata=bearer(ADMIN),
    )
    stub.Mutate(
        pb.MutateRequest(table="py_sec", row=b"r1", mutations=[set_cell(pb, "f", b"q", b"secret")]),
        timeout=CALL_TIMEOUT,
        metadata=bearer(ADMIN),
    )
    got = stub.Get(
        pb.GetRequest(table="py_sec", row=b"r1"), timeout=CALL_TIMEOUT, metadata=bearer(READER)
    )
    assert got.found and got.row.cells[0].value == b"secret", got


def test_no_token_or_a_wrong_one_is_unauthenticated(env):
    pb, stub = env.tls.pb, env.tls.stub
    for metadata in [(), bearer("guess"), (("authorization", "Basic YTpi"),)]:
        e = expect_error(
            lambda: stub.ListTables(pb.ListTablesRequest(), timeout=CALL_TIMEOUT, metadata=metadata),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        for name in ["admin", "reader"]:
            assert name not in e.details(), e.details()


def test_a_read_only_token_cannot_write(env):
    pb, stub = env.tls.pb, env.tls.stub
    stub.CreateTable(
        pb.CreateTableRequest(table="py_ro", families=[pb.FamilyOptions(name="f")]),
        timeout=CALL_TIMEOUT,
        metadata=bearer(ADMIN),
    )
    expect_error(
        lambda: stub.Mutate(
            pb.MutateRequest(table="py_ro", row=b"r", mutations=[set_cell(pb, "f", b"q", b"v")]),
            timeout=CALL_TIMEOUT,
            metadata=bearer(READER),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "write",
        '"py_ro"',
    )
    expect_error(
        lambda: stub.DeleteTable(
            pb.DeleteTableRequest(table="py_ro"), timeout=CALL_TIMEOUT, metadata=bearer(READER)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "create",
    )
    tables = stub.ListTables(pb.ListTablesRequest(), timeout=CALL_TIMEOUT, metadata=bearer(READER))
    assert "py_ro" in tables.tables, tables


def test_a_client_not_trusting_the_ca_is_refused(env):
    other = grpc.ssl_channel_credentials(root_certificates=Ca("Another CA").pem)
    channel = env.tls.connect(other)
    try:
        stub = env.tls.pb_grpc.StrataStub(channel)
        expect_error(
            lambda: stub.ListTables(env.tls.pb.ListTablesRequest(), timeout=5, metadata=bearer(ADMIN)),
            grpc.StatusCode.UNAVAILABLE,
        )
    finally:
        channel.close()


def test_mtls_needs_a_client_certificate(env):
    pb = env.mtls.pb
    # The server's own channel carries the client certificate (CN "py-client"): served.
    env.mtls.stub.CreateTable(
        pb.CreateTableRequest(table="py_mtls", families=[pb.FamilyOptions(name="f")]),
        timeout=CALL_TIMEOUT,
    )
    bare = env.mtls.connect(grpc.ssl_channel_credentials(root_certificates=env.ca.pem))
    try:
        stub = env.mtls.pb_grpc.StrataStub(bare)
        expect_error(
            lambda: stub.ListTables(pb.ListTablesRequest(), timeout=5),
            grpc.StatusCode.UNAVAILABLE,
        )
    finally:
        bare.close()


TESTS = [
    test_tls_round_trip_with_a_token,
    test_no_token_or_a_wrong_one_is_unauthenticated,
    test_a_read_only_token_cannot_write,
    test_a_client_not_trusting_the_ca_is_refused,
    test_mtls_needs_a_client_certificate,
]


class Env:
    def __init__(self, root, pb, pb_grpc):
        self.ca = Ca("Strata Python test CA")
        cert, key = self.ca.issue("strata-server", server=True)
        client_cert, client_key = self.ca.issue("py-client", server=False)
        ca_path = write(root, "ca.pem", self.ca.pem)
        cert_path = write(root, "server.pem", cert)
        key_path = write(root, "server.key", key)
        tls_args = ["--tls-cert", cert_path, "--tls-key", key_path]
        trust = grpc.ssl_channel_credentials(root_certificates=self.ca.pem)
        self.tls = Server(
            os.path.join(root, "tls"),
            pb,
            pb_grpc,
            extra_args=tls_args + ["--auth-tokens", tokens_file(root)],
            credentials=trust,
            metadata=bearer(ADMIN),
        )
        self.mtls = Server(
            os.path.join(root, "mtls"),
            pb,
            pb_grpc,
            extra_args=tls_args + ["--tls-client-ca", ca_path],
            credentials=grpc.ssl_channel_credentials(
                root_certificates=self.ca.pem, private_key=client_key, certificate_chain=client_cert
            ),
        )

    def servers(self):
        return [self.tls, self.mtls]


def main():
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="strata-py-sec-") as root:
        pb, pb_grpc = generate_stubs(os.path.join(root, "stubs"))
        for sub in ["tls", "mtls"]:
            os.makedirs(os.path.join(root, sub))
        env = Env(root, pb, pb_grpc)
        try:
            for srv in env.servers():
                srv.start()
            passed, failed = run_tests(TESTS, env)
        except Exception:  # noqa: BLE001
            failed += 1
            traceback.print_exc()
        finally:
            for srv in env.servers():
                if failed:
                    print("--- server log (%s)\n%s" % (srv.root, srv.stderr()), flush=True)
                srv.stop()
                srv.kill()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
