"""Marathon's own health checks (HTTP, HTTPS, TCP), which its leader runs against the
agent's host and the instance's host port; ``deploy`` runs them the same way."""

from __future__ import annotations

import socket
from typing import Any

import requests


def passes(check: dict[str, Any], timeout: float) -> bool:
    """One probe: HTTP(S) answers 200-399 (Marathon's rule), or TCP connects."""
    host, port = check["host"], int(check["port"])
    if check["protocol"] == "TCP":
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False
    try:
        resp = requests.get(check["url"], timeout=timeout, verify=False, allow_redirects=False)
    except requests.RequestException:
        return False
    return 200 <= resp.status_code < 400


def describe(check: dict[str, Any]) -> str:
    if check["protocol"] == "TCP":
        return f"TCP check of {check['host']}:{check['port']}"
    return f"{check['protocol']} check of {check['url']}"
