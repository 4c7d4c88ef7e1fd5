"""The library's exception hierarchy.

Callers catch :class:`MppSolarError` for anything the library raises on purpose. The split between
permanent and transient errors is what the retrying ``Device`` uses to decide whether to try again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mppsolar_lib.protocols.fields import Result, Value


class MppSolarError(Exception):
    """Base class of every error raised by mppsolar_lib."""

    #: Whether trying the same exchange again can succeed (timeouts, CRC errors, disconnects).
    transient: bool = False


class ProtocolError(MppSolarError):
    """A frame or a command could not be handled by the protocol layer."""


class FrameError(ProtocolError):
    """A received frame is malformed: wrong start/end byte, unparsable field, bad layout."""

    transient = True


class TruncatedFrameError(FrameError):
    """A received frame is shorter than its framing requires."""


class EchoError(FrameError):
    """The device (or a serial adapter) sent our own request back instead of an answer."""


class CRCError(FrameError):
    """A received frame's checksum does not match its content."""


class StaleReplyError(FrameError):
    """A valid answer that belongs to another command (a late reply to an earlier request)."""


class NAKError(ProtocolError):
    """The device refused the command (``(NAK``, ``^0``, …)."""


class UnknownCommandError(ProtocolError):
    """The protocol has no command of that name."""


class InvalidParameterError(ProtocolError):
    """A command parameter or setting value is not allowed; nothing was sent."""


#: Short alias used in documentation and by callers that prefer the spec's wording.
InvalidParameter = InvalidParameterError


class UnknownProtocolError(MppSolarError):
    """No protocol is registered under that id."""


class TransportError(MppSolarError):
    """The link to the device failed: closed, reset, unreachable. Reopening may help."""

    transient = True


class DeviceTimeoutError(TransportError):
    """The device did not complete its answer in time (silence or a cut-off frame)."""


class PortError(MppSolarError):
    """The port cannot be used as configured (missing, no permission, not a device).

    Permanent: retrying cannot help; the message says what would (a path, a udev rule, a group).
    """


class ConfirmationRequiredError(MppSolarError):
    """A safety setting (battery voltages, charging currents, load supply) was not confirmed.

    Nothing was sent. :attr:`change` describes what would be written, so a front-end can show it,
    ask, and apply it (``Device.apply_setting(change, confirm=True)``).
    """

    def __init__(self, message: str, change: object = None) -> None:
        """Keep the planned change (a ``mppsolar_lib.device.SettingChange``) with the message."""
        super().__init__(message)
        self.change = change


#: The spec's wording for :class:`ConfirmationRequiredError`.
SafetyConfirmationRequired = ConfirmationRequiredError


class SettingNotAppliedError(MppSolarError):
    """The device acknowledged a setting but reading it back shows another value.

    Permanent: sending it again is unlikely to help (the unit may refuse it in its current mode,
    or need another setting first).

    It carries what the read-back found, so a front-end shows the device's actual value without
    asking again: :attr:`setting` (the setting's key), :attr:`requested` (the value written),
    :attr:`reported` (the value the device reports: a label, a bool or a number; ``None`` if the
    answer lacks it) and :attr:`result` (the whole decoded answer to the setting's read command,
    a ``mppsolar_lib.protocols.fields.Result``, whose other fields may have changed too).
    """

    def __init__(
        self,
        message: str,
        *,
        setting: str | None = None,
        requested: Value = None,
        reported: Value = None,
        result: Result | None = None,
    ) -> None:
        """Keep what was asked for and what the device reports after the ACK."""
        super().__init__(message)
        self.setting = setting
        self.requested = requested
        self.reported = reported
        self.result = result


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """Return ``"did you mean A or B?"`` naming the options close to ``word`` (``""``: none)."""
    # Imported on the error path only: difflib would add ~1 ms to every start-up.
    from difflib import get_close_matches  # noqa: PLC0415

    close = get_close_matches(word, list(options), n=3)
    return f"did you mean {' or '.join(close)}?" if close else ""
