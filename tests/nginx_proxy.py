"""nginx (Debian's package) in front of switchboard processes, with the site configuration that
docs/deploy.md shows: the test reads it from there (between `nginx:begin`/`nginx:end`), so the doc's
configuration is the tested one. Only the upstream servers and the listen address are replaced. The
main configuration around it is this test's own: pid, error log and temp files in a temp dir, a free
loopback port, `daemon off` (the process is ours to stop), and `user root` when run as root (the
workers must read their temp dir)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.server_process import ROOT, free_port

DEPLOY_DOC = ROOT / "docs" / "deploy.md"
BEGIN, END = "<!-- nginx:begin -->", "<!-- nginx:end -->"


def site_config() -> str:
    """The nginx site configuration in docs/deploy.md (the fenced block between the markers)."""
    text = DEPLOY_DOC.read_text()
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    match = re.search(r"```nginx\n(.*?)```", block, re.S)
    assert match, "docs/deploy.md: no ```nginx block between the nginx markers"
    return match.group(1)


def nginx_binary() -> str:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if binary is None:
        if os.environ.get("CI"):
            raise RuntimeError("nginx is not installed (.ci/run installs it)")
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does)")
    return binary


class Nginx:
    """nginx on a free loopback port proxying to `upstreams` (base URLs like http://127.0.0.1:8124)."""

    def __init__(self, upstreams: list[str]) -> None:
        self.binary = nginx_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-nginx-"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "".join(f"    server {u.split('://', 1)[1].rstrip('/')};\n" for u in upstreams)
        site = re.sub(r"(upstream switchboard \{\n(?:\s*hash [^\n]*\n)?)(?:\s*server [^\n]*\n)+", lambda m: m.group(1) + servers, site_config())
        site = re.sub(r"listen [^;]+;", f"listen 127.0.0.1:{self.port};", site)
        assert servers in site and f"127.0.0.1:{self.port}" in site, site
        temp = "".join(f"    {name}_temp_path {self.dir}/{name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.config = self.dir / "nginx.conf"
        self.config.write_text(
            f"{user}worker_processes 1;\npid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log warn;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}{site}}}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        cmd = [self.binary, "-p", str(self.dir), "-c", str(self.config), "-e", str(self.dir / "error.log"), "-g", "daemon off;"]
        test = subprocess.run([*cmd[:-2], "-t"], capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, f"nginx -t: {test.stderr}\n{self.config.read_text()}"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=20, interval=0.02)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx exited {self.proc.returncode}: {self.error_log()}")
        try:
            httpx.get(f"{self.url}/ok", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()
