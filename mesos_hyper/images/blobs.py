"""A content-addressed blob cache: nothing lands in it before its digest is verified."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mesos_hyper.errors import HyperError, IntegrityError

_DIGEST = re.compile(r"^sha256:([a-f0-9]{64})$")


def check_digest(digest: str) -> str:
    match = _DIGEST.match(digest)
    if not match:
        raise IntegrityError(f"unsupported or malformed digest {digest!r}")
    return match.group(1)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._dir = self.root / "sha256"

    def path(self, digest: str) -> Path:
        return self._dir / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def write_stream(
        self, digest: str, chunks: Iterable[bytes], *, size: int | None = None
    ) -> Path:
        """Hash while writing a temp file, verify, then rename: all or nothing."""
        expected = check_digest(digest)
        self._dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=self._dir)
        hasher = hashlib.sha256()
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if size is not None and written > size:
                        raise IntegrityError(
                            f"blob {digest} is larger than its declared {size} bytes"
                        )
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size is not None and written != size:
                raise IntegrityError(f"blob {digest}: got {written} bytes, expected {size}")
            if hasher.hexdigest() != expected:
                raise IntegrityError(
                    f"blob {digest} failed verification: its content hashes to "
                    f"sha256:{hasher.hexdigest()}"
                )
            final = self._dir / expected
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            return final
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise HyperError(f"disk full while storing blob {digest} in {self.root}") from err
            raise HyperError(f"cannot store blob {digest}: {err}") from err
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def write_bytes(self, digest: str, data: bytes) -> Path:
        return self.write_stream(digest, [data], size=len(data))

    def read_bytes(self, digest: str, *, max_size: int = 64 << 20) -> bytes:
        path = self.path(digest)
        try:
            if path.stat().st_size > max_size:
                raise IntegrityError(f"blob {digest} is larger than {max_size} bytes")
            return path.read_bytes()
        except FileNotFoundError as err:
            raise HyperError(f"blob {digest} is not in the cache") from err

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> list[str]:
        if not self._dir.is_dir():
            return []
        return sorted(
            f"sha256:{p.name}" for p in self._dir.iterdir() if _DIGEST.match(f"sha256:{p.name}")
        )
