"""Exception types. Every user-facing error names the offending file, line, key or value."""

import functools
import os
import sys

TRACEBACK_ENV = "KVSCHED_TRACEBACK"   # =1: a failure in user or module code shows its whole traceback


def whole_traceback() -> bool:
    """Whether ``$KVSCHED_TRACEBACK=1`` asks for whole tracebacks instead of short reports."""
    return os.environ.get(TRACEBACK_ENV) == "1"


class KvschedError(Exception):
    """Base class for all kvsched errors."""


class ConfigError(KvschedError):
    """A configuration key or value is invalid (unknown key, unknown name, bad range)."""


class TraceFormatError(KvschedError):
    """A trace file is malformed. The message names the file and the line."""


class DataError(KvschedError):
    """A data file is missing or fails its checksum."""


class PolicyError(KvschedError):
    """A policy returned an infeasible or invalid decision."""


class SimulationError(KvschedError):
    """The simulation cannot make progress (e.g. a policy deadlock)."""


class ExperimentError(KvschedError):
    """An experiment module failed; the message names it, the failing line and the changed values."""


def exits_on_error(main):
    """Decorator for a module's ``main(argv) -> int``: a KvschedError is printed as
    ``kvsched: error: ...`` (no traceback) and the exit status is 2."""
    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv)
        except KvschedError as e:
            print(f"kvsched: error: {e}", file=sys.stderr)
            return 2
    return wrapped
