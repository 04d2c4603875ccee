"""gunicorn's gthread worker, with each new connection going to the worker that has the fewest.

gunicorn's workers share one listening socket, and whichever worker's main thread wakes first
takes a new connection: the worker already busiest wakes most often (its loop runs on every
request it finishes), so it takes most of them. Measured with 16 kept-alive connections on
2 workers × 4 threads: 14 on one worker and 2 on the other, for the whole run; that worker's
4 threads then share one interpreter lock while the other idles, and its clients wait
(bench/README.md, "Reads under load", round 10). A load balancer's or a proxy's kept-alive
connections to the web processes stay where they land in the same way.

Here the workers publish how many connections each holds in memory shared by every worker of
one gunicorn master (allocated when the master imports this module, before it forks). A worker
that holds more connections than another live worker waits ACCEPT_DELAY (2 ms unless the
environment's WEB_ACCEPT_DELAY_MS says otherwise) before accepting, so a
less busy worker takes the connection first; if none does in that time, it accepts it itself
(no connection waits longer than that, whatever state the others are in).

Run it with `--worker-class config.web_worker.ThreadWorker` (scripts/serve.sh,
docs/operations.md)."""

import ctypes
import multiprocessing
import os
import time

from gunicorn.workers import gthread

# Slots for the workers of one master, in memory shared across its fork()s: a worker's pid
# (0: free) and the connections it holds. More workers than slots go unbalanced, not wrong.
SLOTS = 128
# Seconds a busier worker leaves a new connection to the others (WEB_ACCEPT_DELAY_MS).
ACCEPT_DELAY = float(os.environ.get("WEB_ACCEPT_DELAY_MS", "2")) / 1000

_pids = multiprocessing.RawArray(ctypes.c_long, SLOTS)
_connections = multiprocessing.RawArray(ctypes.c_long, SLOTS)
_claim = multiprocessing.Lock()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_slot(pid):
    """A slot for this worker: a free one, or one whose worker has died (killed, never cleared).
    None when all are taken by live workers."""
    with _claim:
        for slot in range(SLOTS):
            if _pids[slot] == 0 or not _alive(_pids[slot]):
                _pids[slot], _connections[slot] = pid, 0
                return slot
    return None


def release_slot(slot):
    with _claim:
        _pids[slot], _connections[slot] = 0, 0


def fewest_elsewhere(own_slot):
    """The fewest connections any other live worker holds (None if there is no other)."""
    fewest = None
    for slot in range(SLOTS):
        pid = _pids[slot]
        if slot == own_slot or pid == 0 or not _alive(pid):
            continue
        held = _connections[slot]
        fewest = held if fewest is None else min(fewest, held)
    return fewest


class ThreadWorker(gthread.ThreadWorker):
    """gthread, with the connection count published (nr_conns) and accepts deferred to less
    busy workers (module docstring)."""

    _slot = None

    @property
    def nr_conns(self):
        return self._nr_conns

    @nr_conns.setter
    def nr_conns(self, value):
        # gthread counts every connection opened, kept alive and closed through this attribute.
        self._nr_conns = value
        if self._slot is not None:
            _connections[self._slot] = value

    def init_process(self):
        self._slot = claim_slot(os.getpid())
        if self._slot is not None:
            _connections[self._slot] = self._nr_conns
        try:
            super().init_process()  # runs the worker's loop until it stops
        finally:
            if self._slot is not None:
                release_slot(self._slot)

    def accept(self, listener):
        if self._slot is not None:
            fewest = fewest_elsewhere(self._slot)
            if fewest is not None and fewest < self._nr_conns:
                # Then the accept finds nothing (gthread ignores EAGAIN) if another took it.
                time.sleep(ACCEPT_DELAY)
        super().accept(listener)
