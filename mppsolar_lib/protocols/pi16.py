r"""PI16: the Voltronic dialect of early InfiniSolar-type hybrid grid-tie inverters.

Answers are framed as in PI30 (``(`` payload CRC-16/XMODEM CR, see
:mod:`~mppsolar_lib.protocols.voltronic`), but requests carry **no** CRC: ``QPIGS`` is sent as
``QPIGS\r``. The energy queries (``QEY``/``QEM``/``QED``/``QEH`` + a date) instead end with a
three-digit decimal check: the sum of every byte of the command text, modulo 256
(``QED20150620`` -> sum 618 -> ``QED20150620106\r``).

Of PI30 only the identical commands (``QID``, ``QGMN``) and answer layouts are shared; status,
ratings and modes are laid out differently. The units know no setter commands that we have
evidence for, so the settings model is empty.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

from mppsolar_lib.crc import sum8_digits
from mppsolar_lib.errors import InvalidParameterError
from mppsolar_lib.protocols import pi30
from mppsolar_lib.protocols.base import table
from mppsolar_lib.protocols.command import Command, Date, Pattern, query
from mppsolar_lib.protocols.fields import DIAGNOSTIC, Custom, Float, Hints, Int, Keyed, Out, Str
from mppsolar_lib.protocols.pi30max import DATE, HOUR, MONTH, PERIOD_ENERGY, YEAR
from mppsolar_lib.protocols.voltronic import VoltronicProtocol

# -- parameters and decoders -------------------------------------------------------------------


class Day(Date):
    """QED's ``YYYYMMDD``; a wrong length gets a pointer to the command that takes it."""

    #: Digits given -> the command meant. The reference sent hour/month/year queries as QED.
    OTHERS: ClassVar[dict[int, str]] = {10: "QEH (YYYYMMDDHH)", 6: "QEM (YYYYMM)", 4: "QEY (YYYY)"}

    def validate(self, text: str) -> None:
        """Check as :data:`~mppsolar_lib.protocols.pi30max.DATE` does, with a hint on length."""
        try:
            super().validate(text)
        except InvalidParameterError as err:
            other = self.OTHERS.get(len(text)) if text.isdigit() else None
            if other is None:
                raise
            raise InvalidParameterError(f"{err}; that many digits are for {other}") from None


DAY = Day(DATE.regex.pattern, DATE.fmt, DATE.description)


def _firmware(token: str, spec: Custom, out: Out) -> None:
    """``VERFW:00000.27`` -> ``00000.27``: the version without the label the unit puts first."""
    value = token.rpartition(":")[2]
    if value:
        out[spec.key] = value


def _keyed(spec: Str, key: str) -> Str:
    """Give ``spec`` another key than its name's (a reference key that makes a poor name)."""
    spec.key = key
    return spec


def _energy(name: str, description: str, param: Pattern) -> Command:
    # checksum=True: the request ends with the three-digit byte sum instead of nothing.
    return query(
        name, description, Int("Energy produced", "Wh", PERIOD_ENERGY), param=param, checksum=True
    )


SOLAR_POWER = pi30.SOLAR_POWER

DEVICE_MODES = {
    "B": "Inverter (Battery) Mode",
    "C": "PV charging Mode",
    "D": "Shutdown Mode",
    "F": "Fault Mode",
    "G": "Grid Mode",
    "L": "Line Mode",
    "P": "Power on Mode",
    "S": "Standby Mode",
    "Y": "Bypass Mode",
}

# -- commands ----------------------------------------------------------------------------------

QUERIES = (
    _energy("QEY", "Energy produced in one year (QEY + YYYY)", YEAR),
    _energy("QEM", "Energy produced in one month (QEM + YYYYMM)", MONTH),
    _energy("QED", "Energy produced on one day (QED + YYYYMMDD)", DAY),
    _energy("QEH", "Energy produced in one hour (QEH + YYYYMMDDHH)", HOUR),
    # Same command and layout as PI30: shared, not copied.
    pi30.COMMANDS["QID"],
    pi30.COMMANDS["QGMN"],
    query("QMOD", "Operating mode", Keyed("Device Mode", DEVICE_MODES)),
    query(
        "QPIBI",
        "Battery information",
        Int("Unknown", hints=DIAGNOSTIC),
        Int("Number of batteries", hints=DIAGNOSTIC),
        Int("Battery total capacity", "Ah", DIAGNOSTIC),
        Int("Unknown 2", hints=DIAGNOSTIC),
        Int("Battery remaining time", "min"),
    ),
    query(
        "QPIGS",
        "Live status: grid, output, buses, battery, three PV inputs",
        Float("Grid voltage", "V", Hints("voltage", "measurement", icon="mdi:transmission-tower")),
        Int("Output power", "W"),
        Float("Grid frequency", "Hz"),
        Float("Output current", "A"),
        Float("AC output voltage R", "V"),
        Int("AC output power R", "W"),
        Float("AC output frequency", "Hz"),
        Float("AC output current R", "A"),
        Int("Output load percent", "%"),
        Float("PBUS voltage", "V", Hints("voltage", "measurement", "diagnostic")),
        Float("SBUS voltage", "V", Hints("voltage", "measurement", "diagnostic")),
        Float("Positive battery voltage", "V"),
        Float("Negative battery voltage", "V"),
        Int("Battery capacity", "%", Hints("battery", "measurement")),
        Int("PV1 input power", "W", SOLAR_POWER),
        Int("PV2 input power", "W", SOLAR_POWER),
        Int("PV3 input power", "W", SOLAR_POWER),
        Float("PV1 input voltage", "V"),
        Float("PV2 input voltage", "V"),
        Float("PV3 input voltage", "V"),
        Float("Max temperature", "°C"),
        # A mode letter and status characters whose meaning is not published: kept as sent,
        # under the key the reference gives it.
        _keyed(Str("Status (undocumented)", hints=DIAGNOSTIC), "status_todo"),
    ),
    query("QPI", "Protocol id", Str("Protocol Version", hints=pi30.ID)),
    query(
        "QPIRI",
        "Ratings",
        Float("Grid Input Voltage Rating", "V", DIAGNOSTIC),
        Float("Grid Input Frequency Rating", "Hz", DIAGNOSTIC),
        Float("Grid Input Current Rating", "A", DIAGNOSTIC),
        Float("AC Output Voltage Rating", "V", DIAGNOSTIC),
        Float("AC Output Current Rating", "A", DIAGNOSTIC),
        Float("Maximum input current per PV", "A", DIAGNOSTIC),
        Float("Battery Voltage Rating", "V", DIAGNOSTIC),
        Int("Number of MPP trackers", hints=DIAGNOSTIC),
        pi30.COMMANDS["QPIRI"].spec("machine_type"),
        pi30.COMMANDS["QPIRI"].spec("topology"),
    ),
    query(
        "QVFW",
        "Main CPU firmware version",
        Custom("Main CPU firmware version", _firmware, hints=pi30.ID),
    ),
    query(
        "QVFW2",
        "Secondary CPU firmware version",
        Custom("Secondary CPU firmware version", _firmware, hints=pi30.ID),
    ),
)

COMMANDS = MappingProxyType(table(*QUERIES))


class PI16(VoltronicProtocol):
    """PI16 protocol (early InfiniSolar-type hybrid inverters)."""

    id: ClassVar[str] = "pi16"
    description: ClassVar[str] = "Voltronic PI16 (InfiniSolar-type hybrid grid-tie inverters)"
    commands = COMMANDS
    status_commands = ("QPIGS", "QMOD", "QPIBI")
    # Ratings are all PI16 reports about its configuration.
    settings_commands = ("QPIRI",)
    id_commands = ("QPI", "QID", "QGMN", "QVFW")

    def frame(self, command: Command, text: str) -> bytes:
        """``text`` + CR, with the three-digit byte sum before the CR for energy queries."""
        data = text.encode("ascii")
        if command.options.get("checksum") is True:
            data += sum8_digits(data)
        return data + b"\r"
