"""A Docker Registry HTTP API v2 client on requests + tenacity.

Plain http only for registries configured insecure or on loopback. Connection errors and
5xx are retried with exponential backoff within a bounded total time; 4xx are not.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path
from typing import Any

import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from mesos_hyper import config, log
from mesos_hyper.errors import IntegrityError, NotFoundError, RegistryError
from mesos_hyper.images.auth import credentials_for, parse_challenge
from mesos_hyper.images.blobs import BlobStore, check_digest
from mesos_hyper.images.manifest import ACCEPT, MAX_MANIFEST
from mesos_hyper.images.progress import Progress
from mesos_hyper.images.reference import HUB, HUB_ENDPOINT

LOG = log.get(__name__)
CHUNK = 1 << 20


class _Retryable(Exception):
    """A failure worth another try (connection error or 5xx)."""


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RegistryClient:
    def __init__(
        self,
        registry: str,
        *,
        insecure: bool | None = None,
        credentials: tuple[str, str] | None = None,
        timeout: float = 30,
        retry_seconds: float | None = None,
    ) -> None:
        self.registry = registry
        endpoint = HUB_ENDPOINT if registry == HUB else registry
        if insecure is None:
            insecure = is_loopback(registry) or registry in config.insecure_registries()
        self.base = f"{'http' if insecure else 'https'}://{endpoint}/v2"
        self.credentials = credentials if credentials is not None else credentials_for(registry)
        self.timeout = timeout
        self.retry_seconds = (
            retry_seconds if retry_seconds is not None else config.registry_retry_seconds()
        )
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}

    # ---- plumbing ---------------------------------------------------------------

    def _request(
        self, method: str, url: str, scope: str, what: str, **kw: Any
    ) -> requests.Response:
        """One request with auth and bounded retries; raises RegistryError/NotFoundError."""
        headers = dict(kw.pop("headers", {}))

        def attempt() -> requests.Response:
            if scope in self._tokens:
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            try:
                resp = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kw
                )
                if resp.status_code == 401 and self._authenticate(resp, scope, headers):
                    resp = self.session.request(
                        method, url, headers=headers, timeout=self.timeout, **kw
                    )
            except (requests.ConnectionError, requests.Timeout) as err:
                raise _Retryable(f"cannot reach {self.registry}: {type(err).__name__}") from err
            if resp.status_code >= 500:
                raise _Retryable(f"{self.registry} answered {resp.status_code} for {what}")
            return resp

        try:
            for att in Retrying(
                retry=retry_if_exception_type(_Retryable),
                stop=stop_after_delay(self.retry_seconds),
                wait=wait_exponential(multiplier=0.2, max=5),
                reraise=False,
            ):
                with att:
                    resp = attempt()
        except RetryError as err:
            cause = err.last_attempt.exception()
            raise RegistryError(f"{cause} (gave up after {self.retry_seconds:.0f}s)") from err
        if resp.status_code == 404:
            raise NotFoundError(f"{what}: not found on {self.registry}")
        if resp.status_code in (401, 403):
            hint = "" if self.credentials else " (no credentials for it in the Docker config)"
            raise RegistryError(f"{what}: access denied by {self.registry}{hint}")
        if resp.status_code >= 400:
            raise RegistryError(f"{what}: {self.registry} answered {resp.status_code}")
        return resp

    def _authenticate(self, resp: requests.Response, scope: str, headers: dict[str, str]) -> bool:
        scheme, params = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.credentials:
                return False
            self.session.auth = self.credentials
            headers.pop("Authorization", None)
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = {"service": params.get("service", "")}
        if scope:
            query["scope"] = scope
        token_resp = self.session.get(
            params["realm"], params=query, auth=self.credentials, timeout=self.timeout
        )
        if token_resp.status_code != 200:
            raise RegistryError(
                f"token service of {self.registry} refused us ({token_resp.status_code})"
                + ("" if self.credentials else "; no credentials in the Docker config")
            )
        try:
            doc = token_resp.json()
            token = doc.get("token") or doc.get("access_token")
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token service of {self.registry} sent no token")
        self._tokens[scope] = token
        headers["Authorization"] = f"Bearer {token}"
        return True

    @staticmethod
    def _pull_scope(repository: str) -> str:
        return f"repository:{repository}:pull"

    # ---- reading ----------------------------------------------------------------

    def get_manifest(self, repository: str, ref: str) -> tuple[str, bytes, str]:
        what = f"manifest {self.registry}/{repository}:{ref}".replace(":sha256:", "@sha256:")
        resp = self._request(
            "GET",
            f"{self.base}/{repository}/manifests/{ref}",
            self._pull_scope(repository),
            what,
            headers={"Accept": ACCEPT},
            stream=True,
        )
        raw = resp.raw.read(MAX_MANIFEST + 1, decode_content=True)
        resp.close()
        if len(raw) > MAX_MANIFEST:
            raise IntegrityError(f"{what} is larger than {MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise IntegrityError(f"{what} does not match its digest (got {digest})")
        advertised = resp.headers.get("Docker-Content-Digest")
        if advertised and advertised.startswith("sha256:") and advertised != digest:
            raise IntegrityError(
                f"{what}: Docker-Content-Digest {advertised} does not match {digest}"
            )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        return media_type, raw, digest

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        store: BlobStore,
        *,
        size: int | None = None,
        progress: Progress | None = None,
    ) -> Path:
        check_digest(digest)
        if store.has(digest):
            if progress:
                progress.done(digest, cached=True)
            return store.path(digest)
        what = f"blob {digest} of {self.registry}/{repository}"
        resp = self._request(
            "GET",
            f"{self.base}/{repository}/blobs/{digest}",
            self._pull_scope(repository),
            what,
            stream=True,
        )
        if progress:
            progress.start(digest, size or int(resp.headers.get("Content-Length") or 0))

        def chunks() -> Any:
            try:
                for chunk in resp.iter_content(CHUNK):
                    if progress:
                        progress.advance(digest, len(chunk))
                    yield chunk
            except requests.RequestException as err:
                raise RegistryError(f"{what}: download broke off ({type(err).__name__})") from err

        try:
            path = store.write_stream(digest, chunks(), size=size)
        finally:
            resp.close()
        if progress:
            progress.done(digest)
        log.event(LOG, "blob fetched", digest=digest[:19], registry=self.registry)
        return path

    def tags(self, repository: str) -> list[str]:
        resp = self._request(
            "GET",
            f"{self.base}/{repository}/tags/list",
            self._pull_scope(repository),
            f"tags of {self.registry}/{repository}",
        )
        tags = resp.json().get("tags") or []
        return [t for t in tags if isinstance(t, str)]

    # ---- writing (image builder, tests) -------------------------------------------

    def push_blob(self, repository: str, data: bytes | Path, digest: str) -> None:
        scope = f"repository:{repository}:pull,push"
        what = f"blob {digest} to {self.registry}/{repository}"
        head = self.session.head(f"{self.base}/{repository}/blobs/{digest}", timeout=self.timeout)
        if head.status_code == 200:
            return
        start = self._request("POST", f"{self.base}/{repository}/blobs/uploads/", scope, what)
        location = start.headers.get("Location", "")
        if location.startswith("/"):
            location = self.base.rsplit("/v2", 1)[0] + location
        sep = "&" if "?" in location else "?"
        body = data.read_bytes() if isinstance(data, Path) else data
        self._request(
            "PUT",
            f"{location}{sep}digest={digest}",
            scope,
            what,
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        )

    def push_manifest(self, repository: str, ref: str, raw: bytes, media_type: str) -> str:
        scope = f"repository:{repository}:pull,push"
        self._request(
            "PUT",
            f"{self.base}/{repository}/manifests/{ref}",
            scope,
            f"manifest {self.registry}/{repository}:{ref}",
            data=raw,
            headers={"Content-Type": media_type},
        )
        return "sha256:" + hashlib.sha256(raw).hexdigest()
