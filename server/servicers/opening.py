"""The message a bidirectional stream must open with (its config), read with a time limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf.message import Message

from voxserve.server.errors import DeadlineExceeded, InvalidArgument


async def first_message(requests: AsyncIterator[Message], timeout_s: float, field: str,
                        stream: str = "stream", then: str = "") -> Any:
    """`field` of the stream's first message, which must carry it in the `streaming_request`
    oneof: DeadlineExceeded when none comes within `timeout_s` (--first-message-timeout-s),
    InvalidArgument naming `field` when the stream ends first or opens with something else
    (`then` adds what should follow it to that message)."""
    try:
        first = await asyncio.wait_for(anext(requests, None), timeout_s)
    except TimeoutError:
        raise DeadlineExceeded(
            f"no {field} within {timeout_s:g} s of the stream's start (--first-message-timeout-s)"
        ) from None
    if first is None:
        raise InvalidArgument(f"the stream ended before its first message, {field}", field=field)
    if first.WhichOneof("streaming_request") != field:
        raise InvalidArgument(f"the first message of a {stream} must carry {field}{then}",
                              field=field)
    return getattr(first, field)
