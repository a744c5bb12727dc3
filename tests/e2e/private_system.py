"""A whole Atende started by `make run` on its own ports and run dir, apart from anything else here.

`make run` with KAFKA_PORT, PG_PORT, <SERVICE>_PORT, SIM_*_PORT and ATENDE_RUN_DIR starts a second,
private Kafka and PostgreSQL and the five services beside whatever else uses this machine; `make
stop` with the same variables ends exactly that. This module picks the ports, runs the make
targets, and tells what is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "sla", "survey", "analytics")

# Variables of the caller that would point the private system at shared servers or ports.
INHERITED_PREFIXES = (
    "INTAKE_",
    "ROUTING_",
    "SLA_",
    "SURVEY_",
    "ANALYTICS_",
    "SIM_",
    "KAFKA_",
    "PG_",
    "ATENDE_",
)
KEPT = {"ATENDE_CACHE_DIR", "ATENDE_VENV"}  # the jar cache is shared on purpose
MAKE_VARIABLES = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "SIMULATE"}


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now, all different (held together while chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class PrivateSystem:
    """The run dir, ports and environment of one private `make run`."""

    run_dir: Path
    kafka_port: int
    controller_port: int
    pg_port: int
    service_ports: dict[str, int]
    smtp_port: int
    webhook_port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, extra_env: dict[str, str]) -> PrivateSystem:
        # Under /tmp, not pytest's tmp_path: PostgreSQL runs as the `postgres` user, which must
        # enter every parent directory, and its socket path must stay short.
        run_dir = Path(tempfile.mkdtemp(prefix="atende-e2e-", dir="/tmp"))
        run_dir.chmod(0o755)
        ports = free_ports(10)
        return cls(
            run_dir=run_dir,
            kafka_port=ports[0],
            controller_port=ports[1],
            pg_port=ports[2],
            service_ports=dict(zip(SERVICES, ports[3:8], strict=True)),
            smtp_port=ports[8],
            webhook_port=ports[9],
            extra_env=extra_env,
        )

    @property
    def ports(self) -> list[int]:
        return [
            self.kafka_port,
            self.controller_port,
            self.pg_port,
            *self.service_ports.values(),
            self.smtp_port,
            self.webhook_port,
        ]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.service_ports[service]}"

    def env(self, *, bare: bool = False) -> dict[str, str]:
        """What a person would type before `make run`, on top of a clean environment; bare:
        only the run dir, as for a later `make status` whose ports must be remembered."""
        env = {
            name: value
            for name, value in os.environ.items()
            if name in KEPT or not (name.startswith(INHERITED_PREFIXES) or name in MAKE_VARIABLES)
        }
        if bare:
            return env | {"ATENDE_RUN_DIR": str(self.run_dir)}
        env |= {
            "ATENDE_RUN_DIR": str(self.run_dir),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "PG_PORT": str(self.pg_port),
            "SIM_SMTP_PORT": str(self.smtp_port),
            "SIM_WEBHOOK_PORT": str(self.webhook_port),
            **{f"{s.upper()}_PORT": str(port) for s, port in self.service_ports.items()},
            **self.extra_env,
        }
        return env

    def make(
        self, *targets: str, label: str, timeout: float = 900, bare: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run make with the private environment; keep the output for the failure report."""
        return self.run(["make", *targets], label=label, timeout=timeout, bare=bare)

    def run(
        self, command: list[str], *, label: str, timeout: float = 900, bare: bool = False
    ) -> subprocess.CompletedProcess[str]:
        # Output to a file, not a pipe: a daemon that kept the pipe open would hang us.
        out = self.run_dir / f"{label}.out"
        with out.open("w") as sink:
            process = subprocess.run(
                command,
                cwd=ROOT,
                env=self.env(bare=bare),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
        text = out.read_text(errors="replace")
        self.outputs[label] = text
        return subprocess.CompletedProcess(command, process.returncode, text, "")

    def pid(self, name: str) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.run_dir / f"{name}.pid").read_text().strip())
        return None

    def leftovers(self) -> list[str]:
        """Processes that belong to this system: they mention its run dir or ports, or carry its
        ATENDE_RUN_DIR in their environment."""
        marker = f"ATENDE_RUN_DIR={self.run_dir}".encode()
        ports = {str(port) for port in self.ports}
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                raw = (proc / "cmdline").read_bytes()
                environ = (proc / "environ").read_bytes()
            except OSError:
                continue  # gone meanwhile, or a kernel thread
            args = raw.decode(errors="replace").split("\0")
            mentions_port = any(arg in ports or arg.rsplit(":", 1)[-1] in ports for arg in args)
            if (
                str(self.run_dir) in " ".join(args)
                or mentions_port
                or marker in environ.split(b"\0")
            ):
                found.append(f"{proc.name}: {' '.join(args)[:200]}")
        return found

    def open_ports(self) -> list[int]:
        return [port for port in self.ports if port_open(port)]

    def remains(self) -> list[str]:
        """Whatever of this system still runs or listens."""
        return self.leftovers() + [f"port {port} answers" for port in self.open_ports()]

    def log_tails(self, lines: int = 40) -> str:
        """The end of every log and make output, to tell why something failed."""
        parts = []
        for label, text in self.outputs.items():
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"----- output of {label} (last {lines} lines) -----\n{tail}")
        logs = sorted(self.run_dir.glob("logs/**/*.log")) + sorted(
            self.run_dir.glob("logs/**/*.out")
        )
        for path in logs:
            try:
                text = path.read_text(errors="replace")
            except OSError as exc:
                text = f"(unreadable: {exc})"
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(
                f"----- {path.relative_to(self.run_dir)} (last {lines} lines) -----\n{tail}"
            )
        return "\n".join(parts)

    def remove(self, *, keep_logs: bool = False) -> None:
        """Delete the run dir; or only the servers' data, keeping the logs to read."""
        if not keep_logs:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            return
        for data in ("kafka", "pg"):
            shutil.rmtree(self.run_dir / data, ignore_errors=True)
