"""Starts examples/a2a_server as a child process on a free port, for the tests and the latency
measurement. The server is configured by the environment, like any bindu app (memory by default;
STORAGE_TYPE / SCHEDULER_TYPE / DATABASE_URL / REDIS_URL select other backends)."""

import os
import pathlib
import selectors
import signal
import subprocess
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("A2A_SERVER_BIN", str(ROOT / "target" / "debug" / "examples" / "a2a_server"))
BANNER = "A2A server listening on "


class Server:
    """A running server; `url` is its base URL."""

    def __init__(self, startup_timeout: float = 120.0):
        # The tests' webhook receiver listens on loopback, which webhooks reach only when allowed.
        env = dict(os.environ, A2A_LISTEN="127.0.0.1:0", WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8,::1")
        self.process = subprocess.Popen(
            [BINARY], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.output: list[str] = []
        self.url = self._wait_for_banner(startup_timeout)
        # Keep reading stdout so that the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_banner(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited with {self.process.wait()}: {''.join(self.output)}")
            self.output.append(line)
            if line.startswith(BANNER):
                return line[len(BANNER):].split()[0].rstrip("/")
        self.process.kill()
        raise RuntimeError(f"the server did not start within {timeout} s: {''.join(self.output)}")

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self, timeout: float = 20.0) -> int:
        """Stops it as a user would (SIGTERM) and returns its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
