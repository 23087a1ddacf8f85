"""StopSignal: how the caller of a long job, gone (cancelled or past its deadline), tells the
job to stop between its steps (windows, tokens, sentences)."""

from __future__ import annotations

import threading

from voxserve.server.errors import Cancelled

StopSignal = threading.Event


def check_stop(stop: StopSignal | None) -> None:
    """Raise Cancelled once `stop` is set; jobs call this between steps."""
    if stop is not None and stop.is_set():
        raise Cancelled("the call ended (cancelled or past its deadline); its work was stopped")
