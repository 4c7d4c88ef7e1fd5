"""mppsolar_lib: talk to Voltronic / MPP-Solar inverters, JK and Daly BMSs and Victron devices."""

from __future__ import annotations

from mppsolar_lib.errors import (
    CRCError,
    DeviceTimeoutError,
    EchoError,
    FrameError,
    InvalidParameter,
    InvalidParameterError,
    MppSolarError,
    NAKError,
    PortError,
    ProtocolError,
    TransportError,
    TruncatedFrameError,
    UnknownCommandError,
    UnknownProtocolError,
)

__version__ = "0.1.0"

__all__ = [
    "CRCError",
    "DeviceTimeoutError",
    "EchoError",
    "FrameError",
    "InvalidParameter",
    "InvalidParameterError",
    "MppSolarError",
    "NAKError",
    "PortError",
    "ProtocolError",
    "TransportError",
    "TruncatedFrameError",
    "UnknownCommandError",
    "UnknownProtocolError",
    "__version__",
]
