"""A small Chrome DevTools Protocol client over --remote-debugging-pipe.

Chromium started with --remote-debugging-pipe reads protocol commands from
file descriptor 3 and writes responses and events to descriptor 4, each
message one JSON object followed by a NUL byte. That needs nothing beyond
the Python standard library (no WebSocket client), so the browser checks run
with Debian's chromium and /usr/bin/python3 alone.

Not thread-safe: one caller drives one Browser.
"""

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

# Flags for a quiet, reproducible headless run: no GPU, no sandbox (CI runs
# as root), and no background traffic (update checks, sync, QUIC probes),
# which would otherwise show up as refused connections.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]


class BrowserError(RuntimeError):
    """The browser could not be started or stopped answering."""


def find_chromium():
    """Returns the path of the chromium binary, or None when not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with a fresh profile, driven over the pipe."""

    def __init__(self, chromium, timeout_s=30.0):
        self._timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="pagekv-chromium-")
        # Chromium's own log; read back only to explain a crash.
        self._log = tempfile.TemporaryFile()
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Move the child's ends above 10 so the dup2 onto 3 and 4 in the child
        # cannot clobber one with the other.
        child_in = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
        os.close(to_child_r)
        os.close(from_child_w)

        def wire_fds():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self._proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            close_fds=False,
            preexec_fn=wire_fds,
        )
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._next_id = 0
        self.events = []  # every event received, in order

    def close(self):
        """Stops the browser and removes its profile."""
        try:
            if self._proc.poll() is None:
                try:
                    self.call("Browser.close", timeout_s=5)
                except BrowserError:
                    pass
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
        finally:
            os.close(self._to_child)
            os.close(self._from_child)
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, method, params=None, session=None, timeout_s=None):
        """Sends one command and returns its result; raises BrowserError on
        a protocol error or when no answer arrives in time."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        while True:
            reply = self._read(deadline, f"{method} (id {self._next_id})")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, session, timeout_s=None):
        """Returns the first event `method` of `session` not yet waited for,
        reading more messages until it comes or the time runs out."""
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        seen = 0
        while True:
            for i in range(seen, len(self.events)):
                e = self.events[i]
                if (e.get("method") == method and
                        e.get("sessionId") == session and
                        not e.get("_waited")):
                    e["_waited"] = True
                    return e
            seen = len(self.events)
            self.events.append(self._read(deadline, method))

    def _read(self, deadline, what):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from chromium for {what}")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                raise BrowserError(
                    f"chromium exited (status {self._proc.poll()}) while "
                    f"waiting for {what}: {err[-2000:]}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)
