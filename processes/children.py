"""Children never outlive their supervisor.

Two nets. On Linux the kernel sends a child SIGTERM when its supervisor dies, however it dies
(SIGKILL, the OOM killer): `prctl(PR_SET_PDEATHSIG)`, set between fork and exec. Where that is
not armed (another OS), a Python child started with SUPERVISOR_PID_VARIABLE in its environment
watches its parent and stops itself, as if sent SIGTERM, once it has been re-parented.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping

SUPERVISOR_PID_VARIABLE = "THUMBNAILS_SUPERVISOR_PID"
PARENT_CHECK_SECONDS = 1.0
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2  # <linux/prctl.h>
DEATH_SIGNAL = signal.SIGTERM  # the graceful stop: the job in hand is finished, gunicorn drains

_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None) if sys.platform.startswith("linux") else None


def die_with(supervisor: int) -> Callable[[], None]:
    """A Popen preexec_fn: in the child, ask for DEATH_SIGNAL when the supervisor dies. The
    supervisor may already have died before the request was made; then stop at once."""

    def in_child() -> None:
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0)
        if os.getppid() != supervisor:
            os.kill(os.getpid(), DEATH_SIGNAL)

    return in_child


def stop_when_orphaned(environ: Mapping[str, str] = os.environ) -> None:
    """In a supervised child: a thread that sends this process DEATH_SIGNAL once its supervisor
    (named by SUPERVISOR_PID_VARIABLE) is no longer its parent. Does nothing when unsupervised."""
    supervisor = environ.get(SUPERVISOR_PID_VARIABLE, "")
    if supervisor.isdigit() and not _death_signal_armed():
        threading.Thread(target=_watch, args=(int(supervisor),), name="orphan-check", daemon=True).start()


def _death_signal_armed() -> bool:
    """True when the kernel will signal this process at its parent's death: then a second
    signal from the watch would only cut the graceful stop short."""
    if _prctl is None:
        return False
    armed = ctypes.c_int(0)
    return _prctl(PR_GET_PDEATHSIG, ctypes.byref(armed), 0, 0, 0) == 0 and armed.value != 0


def _watch(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(PARENT_CHECK_SECONDS)
    os.kill(os.getpid(), DEATH_SIGNAL)
