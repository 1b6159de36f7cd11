"""The README works verbatim: every shell command in it is either run here as written, or listed in NOT_RUN with
the reason it cannot run offline in a test (and what is checked instead).

Commands run with the project's virtual environment first on PATH, in scratch directories. The only changes to
a command are these, each listed in SUBSTITUTE: `/tmp/...` paths are moved into the test's own directory, the
example paths of the cron line and the metrics example (`/srv/model`, `/data`) point at the scratch directory,
and fixed ports (8000, 8080, 9464) become free ones. `make` targets run in a fresh clone of the working tree
(tests/fresh_clone.py) with VENV set to this environment, which is what `make` would have created.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from sentinel_tui.simulate.tabular import ROLES, generate, write_reference

from .fresh_clone import ROOT, fresh_clone, is_checkout, status
from .helpers import wait_until

README = ROOT / "README.md"
BIN = Path(sys.executable).parent  # the environment's `sentinel` and `python`
VENV = BIN.parent
SHELL_FENCES = {"", "sh", "bash", "shell", "console", "cron"}

# Commands that are not run, with the reason; what is checked instead is in the test named after the colon.
NOT_RUN = {
    "make test": "runs this suite (and creates .venv from PyPI): `make -n test` is checked (test_make_targets)",
    "make bench": "minutes of benchmarks: `make -n bench` is checked (test_make_targets)",
    "make dist": "needs `build` and setuptools from PyPI: `make -n dist` is checked (test_make_targets)",
    "bash .ci/run": "runs `make test` and builds a venv of the oldest Textual from PyPI: `bash -n` is checked",
    "bash .ci/run oldest-textual": "builds a venv of the oldest Textual from PyPI: `bash -n` is checked",
    "pipx install '.[frames,web]'": "installs the dependencies from PyPI: the extras are checked (test_install_lines)",
    "pipx install .": "installs the dependencies from PyPI (test_install_lines)",
    "pip install '.[frames,web]'": "installs the dependencies from PyPI (test_install_lines)",
    "pipx install --force '.[frames,web]'": "installs from PyPI (test_install_lines)",
    "pipx inject sentinel-tui tensorflow-cpu pillow textual-serve": "installs from PyPI: the packages are the "
                                                                    "extras' (test_install_lines)",
    "pip install '.[web]'": "installs from PyPI (test_install_lines)",
    "pip install '.[dask,s3]'": "installs from PyPI (test_install_lines)",
    "docker build -t sentinel-tui .": "needs a Docker engine and PyPI; CI builds the image",
    "docker build --build-arg EXTRAS=frames -t sentinel-tui:frames .": "needs a Docker engine and PyPI",
    "docker run -d --name sentinel -v /srv/model/batches:/data:ro -v sentinel-state:/state -v "
    "\"$PWD/baselines\":/baselines:ro -e SENTINEL_BASELINE=credit -e SLACK_WEBHOOK_URL -v "
    "\"$PWD/sentinel.toml\":/config/sentinel.toml:ro -e SENTINEL_CONFIG=/config/sentinel.toml -p "
    "127.0.0.1:9464:9464 sentinel-tui": "needs a Docker engine and the image",
    "docker logs -f sentinel": "needs a Docker engine and the container",
    "docker exec -it sentinel sentinel watch /data --state-dir /state": "needs a Docker engine and the container",
}

# Commands run by the tests below (the test that runs each is named).
RUN = {
    "make demo": "test_make_demo",
    "make lint": "test_make_lint",
    "make screenshot": "test_screenshot_is_current",
    "python -m sentinel_tui --help": "test_quick_start",
    "sentinel baseline create reference.csv --name credit --target default --prediction pred": "test_quick_start",
    "sentinel check batch_0042.csv --baseline credit": "test_quick_start",
    "sentinel check batch_*.csv --baseline credit --format json": "test_quick_start",
    "echo $?": "test_quick_start",
    "sentinel baseline create reference.csv --name credit --baselines-dir ./baselines": "test_quick_start",
    "sentinel simulate /tmp/stream --scenario covariate --drift-after 3 --batches 6 --reference /tmp/ref.csv":
        "test_simulated_data",
    "sentinel baseline create /tmp/ref.csv --name credit --target default --prediction pred --score score --id id "
    "--timestamp ts": "test_simulated_data",
    "sentinel check /tmp/stream/*.csv --baseline credit": "test_simulated_data",
    "sentinel watch watch_dir --baseline credit --once": "test_watch_and_alerts",
    "cd /srv/model && sentinel watch /data/batches --baseline credit --once --format json > "
    "/var/log/sentinel/last.json": "test_watch_and_alerts",
    "sentinel alerts watch_dir": "test_watch_and_alerts",
    "sentinel alerts watch_dir --all": "test_watch_and_alerts",
    "sentinel alerts watch_dir --format json": "test_watch_and_alerts",
    "sentinel alerts watch_dir ack 12 14": "test_watch_and_alerts",
    "sentinel alerts watch_dir ack --all": "test_watch_and_alerts",
    "sentinel watch watch_dir --baseline credit --headless": "test_followers",
    "sentinel watch /data --baseline credit --headless --metrics-port 9464": "test_followers",
    "sentinel serve watch_dir --baseline credit": "test_followers",
    "sentinel serve watch_dir --baseline credit --port 8080 --metrics-port 9464": "test_followers",
    "sentinel simulate /tmp/cams --kind frames --scenario low_light --drift-after 3 --batches 6 --reference "
    "/tmp/ref_frames": "test_frames",
    "sentinel baseline create --frames /tmp/ref_frames --name cams": "test_frames",
    "sentinel check /tmp/cams/frames_* --baseline cams": "test_frames",
    "sentinel watch /tmp/cams --baseline cams": "test_frames",
    "dask scheduler &": "test_readme_scale",
    "dask worker tcp://127.0.0.1:8786 --nworkers 2 &": "test_readme_scale",
    "sentinel baseline create s3://models/credit/reference/ --name credit --target default --prediction pred "
    "--engine dask --scheduler tcp://127.0.0.1:8786": "test_readme_scale",
    "sentinel check s3://models/credit/batches/2026-12-01/ --baseline credit --engine dask": "test_readme_scale",
}


# reading the README ---------------------------------------------------------------------------------------
def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced block and every indented block (4 spaces after a blank line)."""
    blocks: list[tuple[str, list[str]]] = []
    fence: str | None = None
    current: list[str] | None = None
    previous_blank = True
    for line in text.splitlines():
        if fence is not None:
            if line.startswith("```"):
                blocks.append((fence, current or []))
                fence, current = None, None
            else:
                current.append(line)
            continue
        if line.startswith("```"):
            fence, current = line[3:].strip(), []
        elif line.startswith("    ") and (current is not None or previous_blank):
            current = current if current is not None else []
            current.append(line[4:])
        elif current is not None and not line.strip():
            current.append("")
        elif current is not None:
            blocks.append(("", current))
            current = None
        previous_blank = not line.strip()
    if current is not None and fence is None:
        blocks.append(("", current))
    return blocks


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a # outside quotes, after a space)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands(text: str) -> list[str]:
    commands: list[str] = []
    for language, lines in code_blocks(text):
        if language not in SHELL_FENCES:
            continue
        joined = "\n".join(lines).replace("\\\n", " ")
        for line in joined.splitlines():
            command = " ".join(strip_comment(line).split())
            if not command:
                continue
            if language == "cron":
                command = command.split(maxsplit=5)[5]
            commands.append(command)
    return commands


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_every_readme_command_is_run_or_excused():
    commands = readme_commands(readme())
    assert len(commands) > 30  # the parser found the blocks
    unknown = [c for c in commands if c not in RUN and c not in NOT_RUN]
    assert not unknown, f"README commands no test runs: add them to RUN (and run them) or to NOT_RUN: {unknown}"
    gone = sorted((set(RUN) | set(NOT_RUN)) - set(commands))
    assert not gone, f"no longer in the README: {gone}"
    assert not set(RUN) & set(NOT_RUN)


# running commands -----------------------------------------------------------------------------------------
def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINEL_", "PYTEST_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1", TZ="UTC", **extra)
    env.pop("VIRTUAL_ENV", None)
    return env


def substitute(command: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        command = command.replace(old, new)
    return command


def run_block(commands: list[str], cwd: Path, mapping: dict[str, str] | None = None,
              timeout: float = 240) -> tuple[list[int], str, str]:
    """The commands in one bash process, as a user pastes them (``echo $?`` sees the status before it); returns
    each command's exit status, stdout and stderr."""
    script = []
    for c in commands:
        assert c in RUN, c
        script += [substitute(c, mapping or {}), '__rc=$?; echo "::rc $__rc" >&2; (exit $__rc)']
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=timeout)
    codes = [int(m) for m in re.findall(r"^::rc (\d+)$", proc.stderr, re.M)]
    assert len(codes) == len(commands), proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return codes, proc.stdout, proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""


class Follower:
    """A command that runs until interrupted: started, waited for, then stopped with SIGINT (Ctrl-C)."""

    def __init__(self, command: str, cwd: Path, mapping: dict[str, str] | None = None):
        assert command in RUN, command
        self.proc = subprocess.Popen(["bash", "-c", "exec " + substitute(command, mapping or {})], cwd=cwd,
                                     env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=lambda s=s, o=o: o.extend(s), daemon=True)
                        for s, o in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for r in self.readers:
            r.start()

    def wait_until(self, ready, timeout: float = 60) -> None:
        wait_until(lambda: ready() or self.proc.poll() is not None, timeout)
        assert ready(), ("exited: " if self.proc.poll() is not None else "not ready in time: ") + "".join(self.err)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=30)
        for r in self.readers:
            r.join(timeout=5)
        assert "Traceback" not in "".join(self.err), "".join(self.err)
        return code


# the commands -----------------------------------------------------------------------------------------------
def block(first: str) -> list[str]:
    """The README's commands from ``first`` to the end of its block."""
    for language, lines in code_blocks(readme()):
        if language not in SHELL_FENCES:
            continue
        commands = readme_commands("```sh\n" + "\n".join(lines) + "\n```\n")
        if first in commands:
            return commands[commands.index(first):]
    raise AssertionError(f"not in the README: {first}")


def test_quick_start(tmp_path):
    write_reference(tmp_path / "reference.csv", rows=5000)
    rng = np.random.default_rng(42)
    for name in ("batch_0042.csv", "batch_0043.csv"):
        generate(1000, rng).to_csv(tmp_path / name, index=False)
    codes, out, _ = run_block(["python -m sentinel_tui --help"], tmp_path)
    assert codes == [0] and "baseline" in out and "watch" in out
    codes, out, err = run_block(block("sentinel baseline create reference.csv --name credit --target default "
                                      "--prediction pred"), tmp_path)
    assert codes == [0, 0, 0, 0], err  # healthy batches: 0 OK
    assert (tmp_path / "baselines" / "credit" / "baseline.json").exists()
    report = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert [b["status"] for b in report["batches"]] == ["ok", "ok"]
    assert out.rstrip().endswith("0")  # echo $?
    host = tmp_path / "host"  # the Container section's baseline step, in a directory of its own
    host.mkdir()
    shutil.copy(tmp_path / "reference.csv", host)
    codes, _, err = run_block(["sentinel baseline create reference.csv --name credit --baselines-dir ./baselines"],
                              host)
    assert codes == [0] and (host / "baselines" / "credit" / "baseline.json").exists(), err


def input_features() -> set[str]:
    return set(generate(10, np.random.default_rng(0)).columns) - set(ROLES.values())


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """'Try it on simulated data', as written (in a scratch directory instead of /tmp)."""
    cwd = tmp_path_factory.mktemp("simulated")
    mapping = {"/tmp/": f"{cwd}/"}
    codes, out, err = run_block(block("sentinel simulate /tmp/stream --scenario covariate --drift-after 3 "
                                      "--batches 6 --reference /tmp/ref.csv"), cwd, mapping)
    return cwd, mapping, codes, out, err


def test_simulated_data(simulated):
    cwd, _, codes, out, err = simulated
    assert codes == [0, 0, 2], err  # the shift is critical
    assert "drift 2/9 features" in out and "prediction drift in score" in out
    proc = subprocess.run(["sentinel", "check", *sorted(map(str, (cwd / "stream").glob("*.csv"))), "--baseline",
                           "credit", "--format", "json"], cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=120)
    last = json.loads(proc.stdout)["batches"][-1]
    # the score is the model's output: prediction drift, never an input feature
    assert set(last["drift"]["features"]) == input_features()
    assert {n for n, f in last["drift"]["features"].items() if f["drifted"]} == {"income", "credit_score"}
    assert last["prediction_drift"]["features"]["score"]["drifted"]


def test_readme_describes_the_simulator_as_it_is():
    text = readme()
    counts = {int(n) for n in re.findall(r"(\d+) input features", text)}
    assert counts == {len(input_features())} == {9}
    from sentinel_tui.simulate import demo
    from sentinel_tui.simulate.tabular import DEMO_PLAN

    assert f"{sum(n for _, n in DEMO_PLAN)} batches of 2,000 rows" in text
    assert f"{sum(n for _, n in demo.FRAME_PLAN)} frame batches" in text


def test_watch_and_alerts(simulated):
    cwd, _, _, _, _ = simulated
    watch_dir = cwd / "watch_dir"
    watch_dir.mkdir(exist_ok=True)
    for f in (cwd / "stream").glob("*.csv"):
        shutil.copy(f, watch_dir)
    codes, out, err = run_block(["sentinel watch watch_dir --baseline credit --once"], cwd)
    assert codes == [2] and "batch_00005.csv" in out, err  # the drift alerts are open
    (cwd / "log").mkdir(exist_ok=True)
    cron = "cd /srv/model && sentinel watch /data/batches --baseline credit --once --format json > " \
           "/var/log/sentinel/last.json"
    codes, _, err = run_block([cron], cwd, {"/srv/model": str(cwd), "/data/batches": str(watch_dir),
                                            "/var/log/sentinel": str(cwd / "log")})
    assert codes == [2], err  # nothing new, the same status: it comes from the open alerts
    assert json.loads((cwd / "log" / "last.json").read_text())["status"] == "critical"
    codes, out, err = run_block(block("sentinel alerts watch_dir"), cwd)
    # open alerts: 2; --all: 2; JSON: its status is in the document; ack of ids that are not open: 3; ack --all: 0
    assert codes[:2] == [2, 2] and codes[2] in (0, 2) and codes[3] in (0, 3) and codes[4] == 0, err
    assert "credit_score" in out and "acknowledged" in out


def test_followers(simulated):
    cwd, _, _, _, _ = simulated
    (cwd / "watch_dir").mkdir(exist_ok=True)
    headless = Follower("sentinel watch watch_dir --baseline credit --headless", cwd)
    headless.wait_until(lambda: any("watching" in line for line in headless.err))
    assert headless.interrupt() == 0

    port = free_port()
    metrics = Follower("sentinel watch /data --baseline credit --headless --metrics-port 9464", cwd,
                       {"/data": "watch_dir", "9464": str(port)})
    metrics.wait_until(lambda: get(f"http://127.0.0.1:{port}/health")[0] == 200)
    assert json.loads(get(f"http://127.0.0.1:{port}/health")[1])["monitor"] == "running"
    assert "sentinel_status" in get(f"http://127.0.0.1:{port}/metrics")[1]
    assert metrics.interrupt() == 0

    for command in block("sentinel serve watch_dir --baseline credit"):
        port, metrics_port = free_port(), free_port()
        mapping = ({"--port 8080": f"--port {port}", "9464": str(metrics_port)} if "--port" in command
                   else {"--baseline credit": f"--baseline credit --port {port}"})
        serve = Follower(command, cwd, mapping)
        serve.wait_until(lambda p=port: get(f"http://127.0.0.1:{p}/")[0] == 200)
        if "--metrics-port" in command:
            assert get(f"http://127.0.0.1:{metrics_port}/health")[0] == 200
        assert serve.interrupt() == 0


def test_install_lines():
    """The pip and pipx lines name extras that exist, and `pipx inject` adds exactly their packages."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    lines = [c for c in NOT_RUN if c.startswith(("pip ", "pipx "))]
    for line in lines:
        for spec in re.findall(r"'\.\[([a-z,]+)\]'", line):
            assert set(spec.split(",")) <= set(extras) - {"dev"}, line
    inject = next(c for c in lines if c.startswith("pipx inject")).split()
    assert inject[2] == project["name"]  # pipx names the venv after the project

    def names(requirements: list[str]) -> set[str]:
        x86 = [r for r in requirements if "platform_machine != " not in r]  # the x86_64 line of each
        return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in x86}

    assert set(inject[3:]) == names(extras["frames"]) | names(extras["web"])


# make -------------------------------------------------------------------------------------------------------
def make(target: str, cwd: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`make TARGET` with this environment as the venv (-o: never reinstall it from PyPI)."""
    return subprocess.run(["make", "-o", f"{VENV}/.installed", *args, target], cwd=cwd,
                          env=environment(VENV=str(VENV)), capture_output=True, text=True, **kwargs)


needs_checkout = pytest.mark.skipif(not is_checkout() or shutil.which("make") is None,
                                    reason="needs the git checkout and make")


@needs_checkout
def test_make_targets():
    """Every `make X` the README mentions exists; the ones not run say what they would run."""
    text = readme()
    targets = set(re.findall(r"`make (\w+)`", text)) | {c.split()[1] for c in readme_commands(text)
                                                         if c.startswith("make ")}
    assert {"demo", "test", "bench", "lint", "dist", "screenshot"} <= targets
    for target in targets:
        proc = make(target, ROOT, "-n")
        assert proc.returncode == 0, (target, proc.stderr)
    assert "pytest" in make("test", ROOT, "-n").stdout
    assert "sentinel_tui.tui.screenshot docs/screenshot.svg" in make("screenshot", ROOT, "-n").stdout
    for args in (["bash", "-n", ".ci/run"],):
        assert subprocess.run(args, cwd=ROOT).returncode == 0


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return fresh_clone(tmp_path_factory.mktemp("clone") / "sentinel")


@needs_checkout
def test_screenshot_is_current(clone):
    """`make screenshot` in a fresh clone changes nothing: docs/screenshot.svg is what the dashboard draws now."""
    proc = make("screenshot", clone, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert status(clone) == "", ("docs/screenshot.svg is stale: run `make screenshot`, look at the picture and "
                                 "commit it")


@needs_checkout
def test_make_lint(clone):
    proc = make("lint", clone, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@needs_checkout
def test_make_demo(tmp_path):
    """`make demo` as a first-time user runs it (piped, so headless), stopped with Ctrl-C once batches flow:
    it exits cleanly, leaves nothing running and leaves the checkout clean."""
    clone = fresh_clone(tmp_path / "sentinel")
    proc = subprocess.Popen(["make", "-o", f"{VENV}/.installed", "demo"], cwd=clone,
                            env=environment(VENV=str(VENV)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    lines: list[str] = []
    errors: list[str] = []
    readers = [threading.Thread(target=lambda s=s, o=o: o.extend(s), daemon=True)
               for s, o in ((proc.stdout, lines), (proc.stderr, errors))]
    for r in readers:
        r.start()

    def table_batches() -> list[str]:
        return [x for x in lines if " batch " in x and ".csv" in x]

    wait_until(lambda: len(table_batches()) >= 3 or proc.poll() is not None, 240)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches make and the demo, as in a terminal
    proc.wait(timeout=60)
    for r in readers:
        r.join(timeout=5)
    err = "".join(errors)
    assert len(table_batches()) >= 3, err
    assert "status=ok" in table_batches()[0] and "Traceback" not in err
    def group_gone() -> bool:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_gone, 10)
    with pytest.raises(ProcessLookupError):  # the demo and its simulator threads are gone
        os.killpg(proc.pid, 0)
    assert status(clone) == ""  # baselines/demo, demo_data/ and watch_dir/ are git-ignored


# frames: TensorFlow ---------------------------------------------------------------------------------------
def dashboard_quits(command: str, cwd: Path, mapping: dict[str, str]) -> int:
    """The dashboard in a pseudo-terminal: wait until it has drawn, press q, return its exit status."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(["bash", "-c", "exec " + substitute(command, mapping)], cwd=cwd,
                            env=environment(TERM="xterm-256color"), stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)

    threading.Thread(target=read, daemon=True).start()
    wait_until(lambda: b"Alert log" in screen or proc.poll() is not None, 60)
    assert b"Alert log" in screen, screen[-2000:]
    os.write(master, b"q")
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)


@pytest.mark.slow
@pytest.mark.frames
def test_frames(tmp_path):
    pytest.importorskip("tensorflow")
    mapping = {"/tmp/": f"{tmp_path}/"}
    commands = block("sentinel simulate /tmp/cams --kind frames --scenario low_light --drift-after 3 --batches 6 "
                     "--reference /tmp/ref_frames")
    codes, out, err = run_block(commands[:3], tmp_path, mapping)
    assert codes == [0, 0, 2], err  # darker frames: critical
    assert "darker" in out
    assert dashboard_quits(commands[3], tmp_path, mapping) == 0
