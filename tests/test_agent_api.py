"""The executor's side of the v1 executor API against an agent that says no: an agent
that does not know the executor makes it give up (nobody else would end it), and an update
refused while the agent recovers is sent again until it is taken."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mesos_hyper.executor.agent_api import REFUSALS_TO_GIVE_UP, AgentConnection
from tests.test_executor_parts import _settings


class _Agent(BaseHTTPRequestHandler):
    subscribe_code = 400
    update_codes: list[int] = []
    seen: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body["type"])
        if body["type"] == "SUBSCRIBE":
            code, text = self.subscribe_code, b"Executor cannot be found"
        else:
            codes = type(self).update_codes
            code, text = (codes.pop(0) if codes else 202), b""
        self.send_response(code)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *_args: object) -> None:
        pass


def _serve(handler: type[_Agent]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_agent_that_does_not_know_the_executor_makes_it_give_up():
    handler = type("Refusing", (_Agent,), {"seen": [], "update_codes": []})
    server = _serve(handler)
    events: list[dict] = []
    # checkpointing: without the refusal rule it would retry for the 15-minute recovery
    conn = AgentConnection(_settings(server.server_address[1], True, "15mins"), events.append)
    try:
        started = time.monotonic()
        conn.start()
        assert conn.gone.wait(20)
        assert time.monotonic() - started < 10
        assert events == [{"type": "AGENT_GONE"}]
        assert handler.seen.count("SUBSCRIBE") == REFUSALS_TO_GIVE_UP
    finally:
        conn.close()
        server.shutdown()
        server.server_close()


def test_an_update_refused_while_the_agent_recovers_is_sent_again():
    handler = type("Recovering", (_Agent,), {"seen": [], "update_codes": [503, 503]})
    server = _serve(handler)
    conn = AgentConnection(_settings(server.server_address[1], True, "15mins"), lambda e: None)
    try:
        conn.send_update("t1", "TASK_RUNNING")
        deadline = time.monotonic() + 20
        while handler.seen.count("UPDATE") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handler.seen.count("UPDATE") == 3  # two 503s, then taken: no more
        time.sleep(1.5)
        assert handler.seen.count("UPDATE") == 3
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
