"""The one process supervisor, for `thumbnailer` (N thumbnailer processes) and `thumbnails
serve` (the api and N thumbnailers).

Policy:
- a restartable child (a thumbnailer) that dies is started again after a back-off with full
  jitter, longer with each death in a row; dying RestartPolicy.deaths_in_a_row times (5),
  each within stable_seconds (30) of its start, is a crash loop: everything stops with a
  message saying so;
- an essential child (the api) that dies stops everything;
- SIGTERM, SIGINT and SIGHUP (a closed terminal) ask each child once to stop gracefully
  (SIGTERM: a thumbnailer finishes the job in hand, gunicorn drains); a further signal is
  passed on again; whatever still runs stop_grace seconds later is killed;
- children run in a session of their own, so a terminal's Ctrl-C reaches only the supervisor,
  and die with it however it dies (processes.children).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from core.backoff import backoff
from processes.children import SUPERVISOR_PID_VARIABLE, die_with
from processes.waiting import stop

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# A child that exits with this status cannot work as configured (say, its credentials lack a
# permission): restarting it would only repeat the refusal, so everything stops with its status.
EXIT_DO_NOT_RESTART = 3
WATCH_SECONDS = 0.1


@dataclass(frozen=True)
class Program:
    """One child to keep running."""

    name: str
    command: Sequence[str]
    environ: Mapping[str, str]
    essential: bool = False  # its death stops everything; otherwise it is restarted
    pass_fds: tuple[int, ...] = ()


@dataclass(frozen=True)
class RestartPolicy:
    base_seconds: float = 0.5  # the first restart waits up to this long (full jitter) ...
    cap_seconds: float = 30.0  # ... doubling with each death in a row, up to this
    deaths_in_a_row: int = 5  # this many quick deaths in a row are a crash loop
    stable_seconds: float = 30.0  # a child that ran this long before dying died "not quickly"

    def delay(self, deaths: int) -> float:
        return backoff(deaths, self.base_seconds, self.cap_seconds)


@dataclass
class _Child:
    program: Program
    process: subprocess.Popen | None = None
    started: float = 0.0
    deaths: int = 0  # quick deaths in a row
    restart_at: float | None = None


def describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with {returncode}"


def printer(prefix: str) -> Callable[[str], None]:
    """Messages for a person at a terminal: one line each on stderr. A terminal that was closed
    (the SIGHUP case) cannot show them; that must not stop the supervisor stopping its children."""

    def say(message: str) -> None:
        with contextlib.suppress(OSError):
            print(f"{prefix}: {message}", file=sys.stderr, flush=True)

    return say


class Supervisor:
    def __init__(self, programs: Sequence[Program], policy: RestartPolicy | None = None,
                 stop_grace: float | None = 40.0, say: Callable[[str], None] | None = None,
                 on_death: Callable[[int], None] | None = None):
        """stop_grace: seconds the children get to stop before they are killed (None: no limit);
        on_death: told the process id of each child that died while running (processes.metrics)."""
        self.policy = policy or RestartPolicy()
        self.stop_grace = stop_grace
        self.say = say or printer("supervisor")
        self.on_death = on_death
        self.failure: str | None = None  # why it stops on its own (an essential child died, a crash loop)
        self.failure_status = 1
        self.stop_signal: int | None = None
        self.killed: list[str] = []
        self._children = [_Child(program) for program in programs]
        self._previous_handlers: dict = {}

    def run(self) -> int:
        """Start, watch until a stop signal or a failure, stop: 0 after a signal, 1 after a failure."""
        with self:
            code = self.watch()
        return 1 if self.killed else code

    def __enter__(self) -> Supervisor:
        self._previous_handlers = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            for child in self._children:
                self._spawn(child)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            killed = stop(*self.processes(), grace=self.stop_grace)
            for child in self._children:
                if child.process in killed:
                    self.killed.append(child.program.name)
                    self.say(f"{child.program.name} did not stop within {self.stop_grace:g} s; killed it")
        finally:
            for sig, handler in self._previous_handlers.items():
                signal.signal(sig, handler)

    def processes(self) -> list[subprocess.Popen]:
        """The children's current processes (none for a child waiting to be restarted)."""
        return [child.process for child in self._children if child.process is not None]

    def process(self, name: str) -> subprocess.Popen | None:
        return next((child.process for child in self._children if child.program.name == name), None)

    @property
    def finished(self) -> bool:
        return self.stop_signal is not None or self.failure is not None

    def poll(self) -> bool:
        """Notice deaths, restart what is due; True once everything is to stop."""
        now = time.monotonic()
        for child in self._children:
            if self.finished:
                break
            if child.restart_at is not None and now >= child.restart_at:
                self._spawn(child)
            elif child.process is not None and (returncode := child.process.poll()) is not None:
                self._died(child, returncode, now)
        return self.finished

    def watch(self) -> int:
        while not self.poll():
            time.sleep(WATCH_SECONDS)
        if self.failure:
            self.say(f"{self.failure}; stopping everything")
            return self.failure_status
        return 0

    def _spawn(self, child: _Child) -> None:
        program = child.program
        environ = dict(program.environ, **{SUPERVISOR_PID_VARIABLE: str(os.getpid())})
        child.process = subprocess.Popen(list(program.command), env=environ, pass_fds=program.pass_fds,
                                         start_new_session=True, preexec_fn=die_with(os.getpid()))
        child.started = time.monotonic()
        child.restart_at = None

    def _died(self, child: _Child, returncode: int, now: float) -> None:
        name = child.program.name
        if self.on_death is not None and child.process is not None:
            self.on_death(child.process.pid)
        child.process = None
        if child.program.essential:
            self.failure = f"{name} {describe(returncode)}"
            return
        if returncode == EXIT_DO_NOT_RESTART:
            self.failure = f"{name} {describe(returncode)}: it cannot work as configured (its log says why)"
            self.failure_status = EXIT_DO_NOT_RESTART
            return
        quick = now - child.started < self.policy.stable_seconds
        child.deaths = child.deaths + 1 if quick else 1
        if child.deaths >= self.policy.deaths_in_a_row:
            self.failure = (f"{name} {describe(returncode)}: {child.deaths} deaths in a row, each within "
                            f"{self.policy.stable_seconds:g} s of its start (a crash loop)")
            return
        delay = self.policy.delay(child.deaths)
        self.say(f"{name} {describe(returncode)}; restarting it in {delay:.1f} s")
        child.restart_at = now + delay

    def _on_signal(self, signum, frame) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum  # the watch loop stops everything, once
            return
        for process in self.processes():  # a further signal is passed on (a worker's "stop sooner")
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
