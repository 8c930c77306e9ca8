"""Two stand-ins for the Hugging Face Hub on 127.0.0.1, for the tests and for `python -m training.probe hub`.

FakeHub: a working Hub, enough for `hf_hub_download` and for
`HfApi.create_repo` + `upload_folder`:
- HEAD/GET /<repo_id>/resolve/<revision>/<filename>, with the headers the client reads
  (X-Repo-Commit, ETag, Content-Length) and the X-Error-Code it turns into typed errors;
- POST /api/repos/create, /api/validate-yaml, /api/models/<repo_id>/preupload/<revision> (every file is
  "regular", sent inline, so no LFS/Xet server is needed) and /api/models/<repo_id>/commit/<revision>
  (the ndjson commit: header + base64 files on top of the branch's last commit).
Anything else gets a 404. Every request is recorded, so tests can tell a cache hit from a download.

FaultyHub: a TCP server that meets every connection with one network fault (MODES): it accepts and never
answers, resets, trickles a body, answers 500, answers something that is not HTTP, redirects forever, or
sends a body shorter than it declared."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict[str, dict[str, bytes]]] = {}  # repo -> commit sha -> files
        self.refs: dict[str, dict[str, str]] = {}  # repo -> branch -> commit sha
        self.requests: list[tuple[str, str]] = []
        self.commit_messages: dict[str, list[str]] = {}  # repo -> summaries of commits made through the API
        self.stalled: set[str] = set()  # repos whose files are never sent (the request hangs until close)
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, repo_id: str, files: dict[str, bytes] | Path, branch: str = "main") -> str:
        """Publish a commit (a folder or a dict of files); returns its sha and moves `branch` to it."""
        if isinstance(files, Path):
            files = {p.name: p.read_bytes() for p in files.iterdir() if p.is_file()}
        sha = hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode()
                           + repo_id.encode() + str(len(self.repos.get(repo_id, {}))).encode()).hexdigest()
        self.repos.setdefault(repo_id, {})[sha] = dict(files)
        self.refs.setdefault(repo_id, {})[branch] = sha
        return sha

    def downloads(self, filename: str) -> int:
        return sum(1 for method, path in self.requests if method == "GET" and path.endswith("/" + filename))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _lookup(self):
                path = self.path.split("?")[0].lstrip("/")
                if "/resolve/" not in path:
                    return 404, {"X-Error-Code": "EntryNotFound"}, b""
                repo_id, rest = path.split("/resolve/", 1)
                revision, _, filename = rest.partition("/")
                if repo_id not in hub.repos:
                    return 404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"}, b""
                sha = hub.refs[repo_id].get(revision, revision)
                if sha not in hub.repos[repo_id]:
                    return 404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"}, b""
                files = hub.repos[repo_id][sha]
                if filename not in files:
                    return 404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found",
                                 "X-Repo-Commit": sha}, b""
                body = files[filename]
                return 200, {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                             "Content-Type": "application/octet-stream"}, body

            def _answer(self, with_body: bool):
                hub.requests.append((self.command, self.path))
                if self.path.lstrip("/").split("/resolve/")[0] in hub.stalled:
                    hub.closing.wait(60)  # one stalled repo: this request hangs, the others are served
                    return
                status, headers, body = self._lookup()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

            def do_POST(self):
                hub.requests.append((self.command, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0].lstrip("/")
                if path == "api/validate-yaml":
                    return self._json(200, {})
                if path == "api/repos/create":
                    request = json.loads(body)
                    repo_id = "/".join(p for p in (request.get("organization"), request["name"]) if p)
                    hub.repos.setdefault(repo_id, {})
                    hub.refs.setdefault(repo_id, {})
                    return self._json(200, {"url": f"{hub.url}/{repo_id}"})
                if path.startswith("api/models/") and ("/preupload/" in path or "/commit/" in path):
                    repo_id, _, revision = path.removeprefix("api/models/").rpartition("/")
                    repo_id, _, action = repo_id.rpartition("/")
                    if repo_id not in hub.repos:
                        return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    if action == "preupload":
                        files = json.loads(body)["files"]
                        return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                           "shouldIgnore": False} for f in files]})
                    return self._commit(repo_id, revision, body)
                return self._json(404, {"error": "not served by the fake Hub"})

            def _commit(self, repo_id: str, branch: str, body: bytes):
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                parent = hub.refs[repo_id].get(branch)
                files = dict(hub.repos[repo_id][parent]) if parent else {}
                for line in lines:
                    if line["key"] == "file":
                        files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                    elif line["key"] in ("deletedFile", "deletedFolder"):
                        files.pop(line["value"]["path"], None)
                    elif line["key"] != "header":
                        return self._json(400, {"error": f"fake Hub: no {line['key']} operations"})
                sha = hub.add(repo_id, files, branch)
                hub.commit_messages.setdefault(repo_id, []).append(lines[0]["value"]["summary"])
                return self._json(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}", "commitOid": sha,
                                        "pullRequestUrl": None})

            def _json(self, status: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


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
