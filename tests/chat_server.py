"""A real OpenAI-compatible chat server on loopback for tests: it replies as a test tells it
(streamed as server-sent events or as one JSON body), fails with a status, or stalls mid-stream."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    """What the server does with the next requests."""

    reply: str = ""
    pieces: int = 0  # stream the reply in this many pieces (0: one piece per character)
    delay: float = 0.0  # seconds between pieces
    statuses: list[int] = field(default_factory=list)  # statuses answered first, one per request, before the reply
    stall_after: int | None = None  # pieces sent before the stream stalls (the connection stays open)
    stall_seconds: float = 5.0
    retry_after: str = ""


class LoopbackChatServer:
    """``/v1/chat/completions`` on 127.0.0.1, with ``script`` deciding the reply; records requests."""

    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization", "")})
                s = outer.script
                if s.statuses:
                    status = s.statuses.pop(0)
                    data = json.dumps({"error": {"message": f"scripted failure {status}"}}).encode()
                    self.send_response(status)
                    if s.retry_after:
                        self.send_header("Retry-After", s.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if not body.get("stream"):
                    data = json.dumps({"choices": [{"message": {"role": "assistant", "content": s.reply}}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                text = s.reply
                n = s.pieces or max(1, len(text))
                size = max(1, -(-len(text) // n))
                chunks = [text[i:i + size] for i in range(0, len(text), size)]
                try:
                    self.wfile.write(b": keep-alive\n\n")
                    for i, chunk in enumerate(chunks):
                        if s.stall_after is not None and i >= s.stall_after:
                            self.wfile.flush()
                            time.sleep(s.stall_seconds)
                            return
                        event = {"choices": [{"index": 0, "delta": {"content": chunk}}]}
                        self.wfile.write(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
                        self.wfile.flush()
                        if s.delay:
                            time.sleep(s.delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
