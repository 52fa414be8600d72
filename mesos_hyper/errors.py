"""Errors that reach a user as one clear line instead of a traceback."""


class HyperError(Exception):
    """An expected failure: the CLI prints ``str(err)`` on one line and exits non-zero."""

    exit_code = 1


class UsageError(HyperError):
    """The user asked for something malformed (bad reference, bad flag value)."""

    exit_code = 2


class NotFoundError(HyperError):
    """A named thing (image, tag, container) does not exist."""


class RegistryError(HyperError):
    """A registry refused, failed or could not be reached."""


class IntegrityError(HyperError):
    """Content did not match its digest or was otherwise corrupt."""


class UnsafeArchiveError(HyperError):
    """A layer tried to write outside its rootfs or carried a forbidden entry."""


class VMError(HyperError):
    """libvirt or QEMU failed, or the guest misbehaved."""


class UnsafePathError(HyperError):
    """A path under a guest-writable directory was a link, a special file or escaped it."""
