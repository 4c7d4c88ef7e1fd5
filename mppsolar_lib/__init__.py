"""mppsolar_lib: talk to Voltronic / MPP-Solar inverters, JK and Daly BMSs and Victron devices."""

from __future__ import annotations

from mppsolar_lib.errors import (
    CRCError,
    EchoError,
    FrameError,
    InvalidParameter,
    InvalidParameterError,
    MppSolarError,
    NAKError,
    ProtocolError,
    TruncatedFrameError,
    UnknownCommandError,
    UnknownProtocolError,
)

__version__ = "0.1.0"

__all__ = [
    "CRCError",
    "EchoError",
    "FrameError",
    "InvalidParameter",
    "InvalidParameterError",
    "MppSolarError",
    "NAKError",
    "ProtocolError",
    "TruncatedFrameError",
    "UnknownCommandError",
    "UnknownProtocolError",
    "__version__",
]
