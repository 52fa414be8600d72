"""Real Docker Distribution registries on 127.0.0.1 for tests: plain, and behind token auth.

The token server is ours (a few lines of HTTP issuing RS256 JWTs); the registry that checks
the tokens is Debian's real ``docker-registry``.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Registry:
    host: str
    storage: Path
    proc: subprocess.Popen[bytes]
    user: str | None = None
    password: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_registry(workdir: Path, auth: dict[str, object] | None = None) -> Registry:
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    conf = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        conf["auth"] = auth
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(conf))  # YAML is a superset of JSON
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config_path)], stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError((workdir / "registry.log").read_text()[-2000:]) from None
            time.sleep(0.1)
    return Registry(f"127.0.0.1:{port}", storage, proc)


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    workdir = Path(tempfile.mkdtemp(prefix="mh-registry."))
    reg = start_registry(workdir)
    yield reg
    reg.stop()
    shutil.rmtree(workdir, ignore_errors=True)


# ---- token auth -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs registry tokens (RS256 JWT with an x5c chain) for one user/password."""

    def __init__(self, workdir: Path, user: str, password: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.user, self.password = user, password
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesos-hyper test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = workdir / "token.crt"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._der = self.cert.public_bytes(serialization.Encoding.DER)
        self.requests: list[dict[str, object]] = []

    def token(self, service: str, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(self._der).decode()]}
        claims = {
            "iss": "mh-test-issuer",
            "sub": self.user,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                expected = (
                    "Basic "
                    + base64.b64encode(f"{issuer.user}:{issuer.password}".encode()).decode()
                )
                issuer.requests.append({"auth": bool(auth), "scope": query.get("scope", [""])[0]})
                if auth != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(
                    {"token": issuer.token(query["service"][0], query.get("scope", [""])[0])}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/token"


@pytest.fixture(scope="session")
def token_registry() -> Iterator[Registry]:
    workdir = Path(tempfile.mkdtemp(prefix="mh-token-registry."))
    issuer = TokenIssuer(workdir, "alice", "s3cret")
    server, realm = issuer.serve()
    auth = {
        "token": {
            "realm": realm,
            "service": "mh-test-registry",
            "issuer": "mh-test-issuer",
            "rootcertbundle": str(issuer.cert_path),
        }
    }
    reg = start_registry(workdir, auth)
    reg.user, reg.password = issuer.user, issuer.password
    reg.extra["issuer"] = issuer
    yield reg
    reg.stop()
    server.shutdown()
    server.server_close()
    shutil.rmtree(workdir, ignore_errors=True)
