"""Job priorities: their names, the default, and how often a thumbnailer serves each.

A job goes to the queue of its priority; a thumbnailer reads the three as one by SCHEDULE
(storage.queues.priority), so high work comes first without starving low work.
"""

from __future__ import annotations

HIGH, NORMAL, LOW = "high", "normal", "low"
PRIORITIES = (HIGH, NORMAL, LOW)  # highest first
DEFAULT = NORMAL  # what a submission without a priority gets, and where priority-blind callers send
# Each receive's first choice, in turn: four high, two normal, one low in every seven.
SCHEDULE = (HIGH, HIGH, NORMAL, HIGH, HIGH, NORMAL, LOW)
