"""A Hub that misbehaves: every fault falls back to the bundled copy (shipped names) or is a typed error,
within 10 s, never a hang and never a raw network exception."""
from __future__ import annotations

import socket
import threading
import time

import pytest

import translator
from translator import hub

RESPONSES = {
    "500": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!",
    "garbage": b"SSH-2.0-OpenSSH_9.2 this is not HTTP\r\n\r\n",
    "redirect-loop": b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
    "short-body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nETag: \"x\"\r\nX-Repo-Commit: " + b"a" * 40 +
                   b"\r\nConnection: close\r\n\r\n{\"family\": \"cyc"),
}


class FaultyHub:
    """A TCP server that answers every connection with one kind of fault."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.connections: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket):
        try:
            conn.settimeout(30)
            conn.recv(65536)
            if self.mode == "silent":
                self.stop.wait(60)  # accept, read the request, never answer
            elif self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
            elif self.mode == "trickle":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n")
                while not self.stop.is_set():
                    conn.sendall(b"X")
                    time.sleep(1)
            else:
                conn.sendall(RESPONSES[self.mode])
                if self.mode == "redirect-loop":
                    while not self.stop.is_set() and conn.recv(65536):
                        conn.sendall(RESPONSES[self.mode])
        except OSError:
            pass

    def close(self):
        self.stop.set()
        for conn in self.connections:
            try:
                conn.close()
            except OSError:
                pass
        self.sock.close()


MODES = ["silent", "reset", "trickle", "500", "garbage", "redirect-loop", "short-body"]


@pytest.fixture(params=MODES)
def faulty_hub(request, monkeypatch):
    from huggingface_hub import constants

    server = FaultyHub(request.param)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    hub._reachable.clear()
    yield server
    server.close()
    hub._reachable.clear()


def test_a_shipped_model_falls_back_to_its_bundled_copy_within_10_s(faulty_hub):
    start = time.perf_counter()
    t = translator.load("cyclegan-noto2twemoji", warm_up=False)
    assert time.perf_counter() - start < 10, faulty_hub.mode
    assert t.provenance.source == "bundled" and t.provenance.summary == "using the bundled copy; Hub not reachable"


def test_any_other_repo_is_a_typed_error_within_10_s(faulty_hub):
    start = time.perf_counter()
    with pytest.raises(translator.WeightsNotFoundError):
        translator.load("someone/tiny", warm_up=False)
    assert time.perf_counter() - start < 10, faulty_hub.mode


def test_the_app_starts_quickly_beside_a_silent_hub(monkeypatch):
    """Every shipped model behind a Hub that accepts and never answers: the first waits out the deadline,
    the rest ask the cache only, so the app is up in about one deadline, not one per model."""
    from huggingface_hub import constants

    import app

    server = FaultyHub("silent")
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    hub._reachable.clear()
    try:
        start = time.perf_counter()
        app.build_demo()
        assert time.perf_counter() - start < hub.hub_deadline() + 8
    finally:
        server.close()
        hub._reachable.clear()
