"""Ctrl-C, SIGTERM and SIGHUP as a request to stop: the first one is a flag the training loop checks (it checkpoints,
then exits with status 4); a second one exits at once, also with status 4.

Importable before any framework (standard library only): the training entry points install the handlers
before their heavy imports, so that a Ctrl-C while torch or TensorFlow loads is never lost or turned into a
traceback recorded as a failure.
"""
from __future__ import annotations

import os
import signal
import sys

EXIT_INTERRUPTED = 4  # runs.EXIT_CODES["interrupted"]


class StopRequest:
    """The process's stop request; ``install()`` sets the handlers once and returns it, ``restore()`` puts the
    previous handlers back."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal closed
    _active: "StopRequest | None" = None

    def __init__(self):
        self.signal: int | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    @classmethod
    def install(cls) -> "StopRequest":
        if cls._active is None:
            cls._active = cls()
        return cls._active

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:
            print(f"{signal.Signals(signum).name} again: exiting now, without a checkpoint", file=sys.stderr,
                  flush=True)
            os._exit(EXIT_INTERRUPTED)
        self.signal = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if StopRequest._active is self:
            StopRequest._active = None
