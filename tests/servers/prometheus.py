"""A private Prometheus, node-exporter (textfile collector only) and Pushgateway for tests.

Debian's ``prometheus``, ``prometheus-node-exporter`` and ``prometheus-pushgateway``, each
started on loopback on a free port with its state under a temporary directory; Prometheus
scrapes the other two every second. Tests are skipped only when a binary is missing
(scripts/test installs them).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.servers.mosquitto import free_port

#: Seconds a server gets to start answering.
START_TIMEOUT = 30.0


def binary(name: str) -> str | None:
    """Return the path of Debian's ``name`` binary (``/usr/bin``, then the PATH)."""
    path = f"/usr/bin/{name}"
    return path if os.access(path, os.X_OK) else shutil.which(name)


def need(name: str) -> str:
    """Return ``name``'s path, or skip the test when it is not installed."""
    path = binary(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (apt-get install {name.replace('promtool', 'prometheus')})"
        )
    return path


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Return status and body of ``GET url`` (any status; connection errors raise)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class Server:
    """One server process on 127.0.0.1:``port``, ready when ``ready_path`` answers 200."""

    def __init__(
        self, name: str, argv: list[str], port: int, ready: tuple[str, bytes], log: Path
    ) -> None:
        """Run ``argv`` once started; its output goes to ``log``.

        ``ready`` is the path that answers 200 once it serves, and a piece of that answer that
        only this kind of server gives.
        """
        self.name = name
        self.argv = argv
        self.port = port
        self.ready_path, self.ready_text = ready
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process and wait (bounded) until it answers."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv
                self.argv, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                status, body = http_get(self.url + self.ready_path, timeout=1.0)
                # Its own answer, not another server's that holds the port.
                if status == 200 and self.ready_text in body:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the process and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def node_exporter(directory: Path, textfile_dir: Path) -> Server:
    """Return (not started) a node-exporter exporting only ``textfile_dir``'s ``*.prom`` files."""
    port = free_port()
    argv = [
        need("prometheus-node-exporter"),
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={textfile_dir}",
        "--web.disable-exporter-metrics",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    ready = ("/metrics", b"node_exporter_build_info")
    return Server("node-exporter", argv, port, ready, directory / "node-exporter.log")


def pushgateway(directory: Path, port: int | None = None) -> Server:
    """Return (not started) a Pushgateway keeping its groups in a file of its own."""
    port = port or free_port()
    argv = [
        need("prometheus-pushgateway"),
        f"--web.listen-address=127.0.0.1:{port}",
        # Debian's default is one file for every instance (/var/lib/prometheus).
        f"--persistence.file={directory / f'pushgateway-{port}.data'}",
    ]
    ready = ("/-/ready", b"OK")
    return Server("pushgateway", argv, port, ready, directory / f"pushgateway-{port}.log")


class Stack:
    """Prometheus scraping a node-exporter and a Pushgateway every second."""

    def __init__(self, directory: Path) -> None:
        """Prepare the three servers under ``directory`` (nothing runs until :meth:`start`)."""
        self.directory = directory
        self.textfile_dir = directory / "textfile"
        self.textfile_dir.mkdir(parents=True, exist_ok=True)
        self.node = node_exporter(directory, self.textfile_dir)
        self.gateway = pushgateway(directory)
        port = free_port()
        config = directory / "prometheus.yml"
        scrape = {"scrape_interval": "1s", "scrape_timeout": "1s"}
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {**scrape, "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "node",
                            "static_configs": [{"targets": [f"127.0.0.1:{self.node.port}"]}],
                        },
                        {
                            "job_name": "pushgateway",
                            # Keep the job/instance labels the pushes carry.
                            "honor_labels": True,
                            "static_configs": [{"targets": [f"127.0.0.1:{self.gateway.port}"]}],
                        },
                    ],
                }
            )
        )
        argv = [
            need("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        self.prometheus = Server(
            "prometheus",
            argv,
            port,
            ("/-/ready", b"Prometheus Server is Ready"),
            directory / "prometheus.log",
        )

    def start(self) -> None:
        """Start the exporters, then Prometheus."""
        try:
            self.node.start()
            self.gateway.start()
            self.prometheus.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop all three."""
        for server in (self.prometheus, self.gateway, self.node):
            server.stop()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Return the instant vector ``expr`` evaluates to now (``/api/v1/query``)."""
        url = f"{self.prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {status} {body[:500]!r}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def wait_for(self, expr: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Query ``expr`` until it has at least ``count`` series (bounded), and return them."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if len(result) >= count:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expr!r} gave {result} after {timeout} s")
            time.sleep(0.2)
