"""One thumbnailer process per core: a supervisor that starts them, restarts one that
dies, and passes SIGTERM/SIGINT on so that each finishes its jobs in hand and exits.

Processes, not threads: rendering holds a core. Children are forked from a supervisor
that has no threads and no boto3 clients; each child builds its own clients.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time

import core.logs
import storage
from storage.access import check_access

log = logging.getLogger(__name__)
RESTART_DELAY_SECONDS = 1.0
PARENT_CHECK_SECONDS = 1.0
# The exit status of a thumbnailer whose credentials lack a permission it needs.
EXIT_NOT_PERMITTED = 3


def run_worker(settings: core.Settings, log_level: str, burst: bool = False, number: int = 0) -> None:
    """One thumbnailer process: its own clients, its own loop, its own metrics port
    (THUMBNAILER_METRICS_PORT + its number, when that is set)."""
    from thumbnailer import metrics
    from thumbnailer.worker import Worker

    core.logs.configure(log_level)
    if settings.metrics_port:
        metrics.serve(settings.metrics_port + number)
    backends = storage.connect(settings)
    try:
        try:
            backends.ensure()
            check_access(backends, receives=True)
        except core.PermissionDenied:
            raise
        except core.TransientError as error:
            log.warning("storage not reachable at start-up: %s", error)
        Worker(backends, settings).work(burst=burst)
    except core.PermissionDenied as error:
        # Waiting would not help: the policy lacks an action. Stop, naming it.
        log.error("thumbnailer stopped: %s", error, extra={"action": error.action})
        raise SystemExit(EXIT_NOT_PERMITTED) from error


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _exit_before_work(signum, frame) -> None:
    raise SystemExit(0)


def _child(settings: core.Settings, log_level: str, number: int) -> None:
    # Own process group: a terminal's Ctrl-C reaches the supervisor only, which passes it on
    # once, so that one Ctrl-C means "finish the jobs in hand" everywhere.
    os.setpgrp()
    # Stop signals were blocked while this process started; one that came meanwhile is
    # delivered now and simply exits (nothing is in hand). The worker installs its own.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _exit_before_work)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    run_worker(settings, log_level, number=number)


def _stop_when_orphaned(supervisor: int) -> None:
    """A supervisor killed outright (SIGKILL) cannot pass anything on: a child that finds
    itself re-parented stops as if it had been sent SIGTERM, finishing the jobs in hand."""
    while os.getppid() == supervisor:
        time.sleep(PARENT_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    def __init__(self, settings: core.Settings, log_level: str = "INFO"):
        self.settings = settings
        self.log_level = log_level
        self.count = settings.processes
        self._context = multiprocessing.get_context("fork")
        self._children: list[multiprocessing.Process] = []
        self._stopping = False

    def run(self) -> int:
        """Until every child has exited after a stop request; 0 if they all exited cleanly."""
        previous = {sig: signal.signal(sig, self._pass_on) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._children = [self._spawn(number) for number in range(self.count)]
            log.info("supervising %d thumbnailer processes", self.count)
            while any(child.is_alive() for child in self._children):
                multiprocessing.connection.wait([child.sentinel for child in self._children], timeout=1.0)
                if not self._stopping:
                    self._restart_dead()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if any(child.exitcode == EXIT_NOT_PERMITTED for child in self._children):
            return EXIT_NOT_PERMITTED
        return 0 if all(child.exitcode == 0 for child in self._children) else 1

    def _spawn(self, number: int) -> multiprocessing.Process:
        child = self._context.Process(target=_child, args=(self.settings, self.log_level, number),
                                      name=f"thumbnailer-{number}")
        # The child inherits the blocked mask, so a stop signal during its start-up waits
        # for it instead of killing it half-started.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return child

    def _restart_dead(self) -> None:
        for number, child in enumerate(self._children):
            if child.exitcode == EXIT_NOT_PERMITTED:
                # A restart cannot grant a permission: stop them all (the child's log names the action).
                log.error("%s lacks a permission it needs; stopping every thumbnailer", child.name)
                self._pass_on(signal.SIGTERM, None)
                return
            if child.exitcode is not None:
                log.error("%s exited with %s; restarting it", child.name, child.exitcode)
                time.sleep(RESTART_DELAY_SECONDS)
                self._children[number] = self._spawn(number)

    def _pass_on(self, signum, frame) -> None:
        self._stopping = True
        for child in self._children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signal.SIGTERM)
