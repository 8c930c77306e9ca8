"""A tiny stand-in for the Hugging Face Hub on 127.0.0.1, enough for `hf_hub_download`:
HEAD/GET /<repo_id>/resolve/<revision>/<filename>, with the headers the client reads
(X-Repo-Commit, ETag, Content-Length) and the X-Error-Code it turns into typed errors. Anything else
(the client's other API calls) gets a 404. Every request is recorded, so tests can tell a cache hit
from a download."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict[str, dict[str, bytes]]] = {}  # repo -> commit sha -> files
        self.refs: dict[str, dict[str, str]] = {}  # repo -> branch -> commit sha
        self.requests: list[tuple[str, str]] = []
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

        return Handler
