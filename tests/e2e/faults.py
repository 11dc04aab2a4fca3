"""Fault injection for the tests: a server that never answers, a proxy that can freeze, doubles.

Everything listens on loopback only, holds a bounded number of connections and stops within its
lifetime even if a test forgets to close it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from types import TracebackType
from typing import Any

from bot.ports import StaffAlert

MAX_CONNECTIONS = 64
LIFETIME_S = 120.0


class HungServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte: a hung database or Redis."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=MAX_CONNECTIONS)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hung-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        ends = time.monotonic() + LIFETIME_S
        while not self._stop.is_set() and time.monotonic() < ends:
            if len(self._held) >= MAX_CONNECTIONS:
                time.sleep(0.1)
                continue
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)  # read nothing, answer nothing
        self._close_all()

    def _close_all(self) -> None:
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()
        self._held.clear()
        with contextlib.suppress(OSError):
            self._listener.close()

    @property
    def connections(self) -> int:
        return len(self._held)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> HungServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FreezableProxy:
    """Forwards 127.0.0.1:port to a real server until `freeze()`: then nothing moves either way.

    Connections opened before the freeze stay open and silent, like a database host that froze
    with the application's pooled connections to it.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=MAX_CONNECTIONS)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def _accept(self) -> None:
        ends = time.monotonic() + LIFETIME_S
        while not self._stop.is_set() and time.monotonic() < ends:
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if len(self._sockets) >= 2 * MAX_CONNECTIONS or not self._flowing.is_set():
                self._sockets.append(client)  # frozen: accepted, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self.close()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            if not self._flowing.is_set():
                time.sleep(0.05)  # frozen: hold whatever arrives
                continue
            try:
                readable, _, _ = select.select([a, b], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
            except (OSError, ValueError):
                return

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()
        with contextlib.suppress(OSError):
            self._listener.close()


class RecordingAlerter:
    """A staff alert channel that keeps what it was asked to send."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[StaffAlert] = []

    def send(self, alert: StaffAlert) -> None:
        self.sent.append(alert)


class RecordingMessenger:
    """A Messenger that records each text instead of calling Twilio."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def send_text(self, to: str, body: str, *, status_callback: str | None) -> tuple[str, str]:
        self.texts.append((to, body))
        return f"SM{len(self.texts):032d}", "queued"

    def send_template(self, to: str, template: Any, *, status_callback: str | None
                      ) -> tuple[str, str]:
        self.texts.append((to, f"template:{template.content_sid}"))
        return f"SM{len(self.texts):032d}", "queued"
