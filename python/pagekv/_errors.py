"""Exceptions raised by pagekv.

Every failure of a pagekv call is a :class:`Error`. A failed call leaves the
object it was called on exactly as it was, so the caller may retry later
(for :class:`OutOfBlocks`) or fix the argument named in the message.
"""

__all__ = ["Error", "OutOfBlocks", "InvalidArgument", "FailedPrecondition",
           "NotFound"]


class Error(Exception):
    """Base class of every pagekv error. The message names the bad value."""


class OutOfBlocks(Error):
    """The pool has too few free or evictable blocks for the request.

    An ordinary result under memory pressure (C++ ``ResourceExhausted``):
    nothing changed; preempt a sequence or try again in a later step.
    """


class InvalidArgument(Error, ValueError):
    """An argument is out of range or unknown (a stale sequence id, a
    negative count, an unknown field); the message names it."""


class FailedPrecondition(Error, ValueError):
    """The call is not allowed in the current state (e.g. ``reset()`` while
    sequences are live)."""


class NotFound(Error, LookupError):
    """A named preset or file does not exist."""
