"""Virtual Voltronic inverters: PI16/17/18/30/41 and their variants, built from the command tables.

A :class:`VoltronicSimulator` reads a request the way a unit does — with the protocol's own
framing, CRC, length field and byte-sum digits, all checked by comparing the request with the
one our protocol builds for the same command — and answers from a state model:

* a :class:`~mppsolar_lib.simulator.plant.Plant` (sun, load, battery, heat) gives the live
  values of the status queries, moving with the injected clock;
* a store of written settings, filled through the protocol's settings model (the write
  templates of its :class:`~mppsolar_lib.protocols.settings.Setting` objects are read
  backwards), gives what the settings queries report;
* an answer template per query (:mod:`~mppsolar_lib.simulator.voltronic_templates`) gives the
  layout — token widths, decimals, placeholders — and every value nothing else moves.

Every field is written by :func:`~mppsolar_lib.simulator.encoding.encode`, the inverse of the
field's decoder, and framed with the family's CRC, so every answer decodes with our protocol.
A bad CRC, an unknown command or a refused value gets ``(NAK`` (``^0`` from ``^`` units).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
import re
import string
import time
from typing import ClassVar, Final

from mppsolar_lib.crc import chk8, crc16_xmodem, pi_crc, pi_crc_matches
from mppsolar_lib.errors import InvalidParameterError, ProtocolError, UnknownProtocolError
from mppsolar_lib.protocols.base import Protocol, walk
from mppsolar_lib.protocols.command import Command, Kind, Letters
from mppsolar_lib.protocols.fields import (
    EnableFlags,
    Flags,
    Int,
    Option,
    Result,
    Spec,
    Value,
    is_placeholder,
)
from mppsolar_lib.protocols.settings import Setting, SettingKind
from mppsolar_lib.protocols.voltronic import PERIOD_SPECS, CaretProtocol, VoltronicProtocol
from mppsolar_lib.protocols.voltronic_specs import Flag, LinkedSetting, TenthsSetting
from mppsolar_lib.simulator.base import Simulator
from mppsolar_lib.simulator.encoding import Raw, default_token, encode
from mppsolar_lib.simulator.plant import Plant, sun
from mppsolar_lib.simulator.voltronic_templates import PARENTS, TEMPLATES

#: Status queries whose fields come from the plant (None: any key; a set: only those keys).
LIVE: Final[Mapping[str, frozenset[str] | None]] = {
    **dict.fromkeys(
        (
            "QPIGS",
            "QPIGS2",
            "Q1",
            "QALL",
            "QMOD",
            "QBMS",
            "QLITH0",
            "QT",
            "GS",
            "PS",
            "INGS",
            "EMINFO",
            "MOD",
            "BMS",
            "T",
            "QID",
            "QSID",
            "ID",
        )
    ),
    "PQSE": frozenset(("year", "month", "day", "hour", "minute")),
}
#: Warning queries: every warning off but those the plant raises (low battery).
WARNINGS: Final = frozenset(("QPIWS", "WS", "FWS"))
#: Per-unit queries of a parallel system: the parameter is the unit's index.
PARALLEL: Final = frozenset(("QPGS", "QP2GS", "PGS", "PRI"))
#: Energy counters: (what, whether the parameter is a period).
ENERGY: Final[Mapping[str, tuple[str, bool]]] = {
    "QET": ("pv", False),
    "ET": ("pv", False),
    "QLT": ("load", False),
    **dict.fromkeys(("QEY", "QEM", "QED", "QEH", "EY", "EM", "ED", "EH"), ("pv", True)),
    **dict.fromkeys(("QLY", "QLM", "QLD"), ("load", True)),
}
#: How many PV inputs a model has (the plant's PV power is shared between them).
PV_INPUTS: Final[Mapping[str, int]] = {
    "pi30max": 2,
    "pi30m044": 2,
    "pi30m045": 2,
    "pi30mst": 3,
    "pi41": 2,
    "pi16": 2,
    "pi17": 2,
    "pi17infini": 2,
    "pi17m058": 2,
    "pi18": 2,
    "pi18sv": 2,
    "pi18lvx": 2,
}
#: Per-unit values of a parallel system that are shares of the whole.
_SHARED: Final = (
    "ac_output_apparent_power",
    "ac_output_active_power",
    "l1_ac_output_apparent_power",
    "l1_ac_output_active_power",
    "l2_ac_output_apparent_power",
    "l2_ac_output_active_power",
    "battery_charging_current",
    "battery_discharge_current",
    "l2_battery_charging_current",
    "pv_input_current",
    "pv1_input_current",
    "pv2_input_current",
    "pv1_charging_current",
    "pv2_charging_current",
    "pv1_input_power",
    "pv2_input_power",
)
_FALLBACK_SERIAL: Final = "92932004102443"
#: Rated output of the simulated unit (load percentages are of this).
RATED_VA: Final = 5000.0


class _Refused(Exception):
    """The unit refuses the request: NAK (``^0``)."""


def _pattern(template: str) -> re.Pattern[str]:
    """Read a settings write template backwards: ``"PBCV{value:04.1f}"`` -> a regex with ``value``."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        # {code}: any text; {value} / {partner}: a number; None: the literal after the last field.
        groups = {"code": "(?P<code>.+)", None: ""}
        parts.append(groups.get(name, f"(?P<{name}>[-+]?[0-9.]+)"))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class _Writer:
    """How one setting's write command is recognised: command, pattern, what it does."""

    setting: Setting
    #: The setter the write sends (POP, not POPLG, for ``POP{code}``).
    command: str
    pattern: re.Pattern[str]
    action: str


def _writers(protocol: Protocol) -> dict[str, tuple[_Writer, ...]]:
    """Recognisers for every write command of a protocol's settings model, by setter name."""
    names = sorted(protocol.commands, key=len, reverse=True)
    found: dict[str, list[_Writer]] = {}

    def add(setting: Setting, template: str, pattern: re.Pattern[str], action: str) -> None:
        literal = template.partition("{")[0]
        command = next((name for name in names if literal.startswith(name)), "")
        found.setdefault(command, []).append(_Writer(setting, command, pattern, action))

    for setting in protocol.settings.values():
        if isinstance(setting, LinkedSetting):
            rest = re.compile(re.escape(setting.write) + "(?P<rest>.+)")
            add(setting, setting.write, rest, "linked")
        elif setting.kind is SettingKind.SWITCH:
            add(setting, setting.on, re.compile(re.escape(setting.on)), "on")
            add(setting, setting.off, re.compile(re.escape(setting.off)), "off")
        else:
            for template in (setting.write, setting.write_large):
                if template:
                    add(setting, template, _pattern(template), setting.kind.value)
    return {name: tuple(writers) for name, writers in found.items()}


def _values(values: Mapping[str, object]) -> dict[str, Value]:
    """Return the plain values of ``values`` (a settings model's ``current``), Raw tokens left out."""
    return {k: v for k, v in values.items() if isinstance(v, int | float | str | bool | tuple)}


def _spec_for(command: Command, key: str) -> Spec:
    """Return the spec of ``command`` that produces field ``key``."""
    return next(spec for spec in command.fields if key in spec.field_keys())


def _off_value(spec: Spec, on_value: str) -> str:
    """Return what the read field shows when a switch is off (the other of its two labels)."""
    labels = spec.labels if isinstance(spec, Option) else ()
    return next((label for label in labels if label != on_value), "")


class VoltronicSimulator(Simulator):
    """A virtual Voltronic inverter speaking one PI-family protocol."""

    #: Queries in the table that this model nevertheless refuses.
    refused: ClassVar[frozenset[str]] = frozenset()
    #: Whether requests are taken both with and without a CRC (else exactly as the table says).
    crc_optional: ClassVar[bool] = False

    def __init__(
        self,
        protocol_id: str,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        parallel: int = 1,
        utc_offset: float | None = None,
        battery_ah: float = 200.0,
        pv_peak_w: float = 4000.0,
        soc: float = 80.0,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        """Simulate a ``protocol_id`` unit; ``parallel`` units answer QPGS0 … QPGS<n-1>.

        ``utc_offset`` (seconds, default: this machine's) places the sun; ``templates``
        replaces the built-in answer templates (command name -> payload).
        """
        super().__init__(protocol_id, clock=clock, seed=seed)
        if not isinstance(self.protocol, VoltronicProtocol | CaretProtocol):
            raise UnknownProtocolError(f"{protocol_id!r} is not a Voltronic (PI-family) protocol")
        if not 1 <= parallel <= 9:
            raise ValueError(f"parallel must be 1–9 units, got {parallel}")
        self.caret = isinstance(self.protocol, CaretProtocol)
        self.units = parallel
        #: PI18's PGS / PRI for an index past the last unit: answered "Not existent" (as a
        #: unit may) when set, else refused like every other per-unit query.
        self.report_absent = False
        now = clock()
        if utc_offset is None:
            utc_offset = float(time.localtime(now).tm_gmtoff)
        self.plant = Plant(
            now,
            self.random,
            utc_offset=utc_offset,
            battery_ah=battery_ah,
            pv_peak_w=pv_peak_w,
            rated_w=RATED_VA,
            soc=soc,
        )
        #: Seconds the device clock is ahead of ``clock`` (set by DAT / PSET).
        self.clock_offset = 0.0
        #: Written settings: command name -> field key -> value as the query reports it.
        self.store: dict[str, dict[str, object]] = {}
        self._own_templates = templates
        self._layouts: dict[str, tuple[tuple[Spec, ...], list[str]]] = {}
        self._template_values: dict[str, dict[str, Value]] = {}
        # Built on the first setter: compiling every write pattern would slow each start-up.
        self._writers: dict[str, tuple[_Writer, ...]] | None = None
        self.pv_inputs = PV_INPUTS.get(self.protocol.id, 1)
        identity = self.template_values("ID" if self.caret else "QID")
        self.serial = str(identity.get("serial_number") or _FALLBACK_SERIAL)

    # -- the wire ----------------------------------------------------------------------------

    def handle(self, request: bytes) -> bytes | None:
        """Answer one request (with its terminator); an empty line gets no answer."""
        frame = request.lstrip(b"\n")
        if not frame.strip(b"\r\n"):
            return None
        parsed = self.parse_request(frame)
        if parsed is None:
            return self.nak(frame)
        self._advance()
        try:
            return self._respond(*parsed)
        except _Refused:
            return self.nak(frame)

    def nak(self, request: bytes = b"") -> bytes:
        """Return the family's refusal: ``(NAK``, or ``^0`` to a ``^`` request."""
        if self.caret and request.startswith(b"^"):
            return self._caret(b"^0")
        return self._paren("NAK")

    def ack(self) -> bytes:
        """Return the family's acceptance of a setter: ``(ACK`` or ``^1``."""
        return self._caret(b"^1") if self.caret else self._paren("ACK")

    @staticmethod
    def _paren(payload: str) -> bytes:
        """``(payload`` + CRC (reserved bytes bumped) + CR."""
        body = b"(" + payload.encode("latin-1")
        return body + pi_crc(body) + b"\r"

    @staticmethod
    def _caret(body: bytes) -> bytes:
        """``body`` + plain CRC + CR: ``^`` units do not bump CRC bytes (one may be a CR)."""
        return body + crc16_xmodem(body).to_bytes(2, "big") + b"\r"

    def frame_payload(self, payload: str) -> bytes:
        """Frame an answer payload the way this family sends data."""
        if self.caret:
            data = payload.encode("latin-1")
            return self._caret(b"^D%03d" % (len(data) + 3) + data)
        return self._paren(payload)

    def parse_request(self, frame: bytes) -> tuple[Command, str] | None:
        """Return the command a request frame carries and its text; None if the unit cannot read it.

        The request must be exactly what our protocol builds for that command (CRC bytes
        compared by value, plain or bumped): a wrong CRC, length field, byte sum, ``^P`` for
        a setter or a missing CRC are all refused.
        """
        if self.caret:
            if frame[:2] not in (b"^P", b"^S") or not frame[2:5].isdigit():
                return None
            region = frame[5:-1]
        else:
            region = frame[:-1]
        candidates = [region]
        if len(region) > 2 and pi_crc_matches(frame[:-3], frame[-3:-1]):
            candidates.insert(0, region[:-2])
        for raw in candidates:
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                continue
            texts = [text]
            if len(text) > 3 and text[-3:].isdigit():
                texts.append(text[:-3])  # PI16/PI17 energy queries end with a byte sum
            for candidate in texts:
                found = self._match(candidate, frame)
                if found is not None:
                    return found, candidate
        return None

    def _match(self, text: str, frame: bytes) -> Command | None:
        """Return the command ``text`` names if ``frame`` is a valid request for it."""
        try:
            definition, param = self.protocol.resolve(text)
        except ProtocolError:
            return None
        if definition.name + param != text:
            return None  # units are case-sensitive
        for expected in self.expected_requests(definition, text):
            if expected == frame or (
                len(expected) == len(frame)
                and expected[:-3] == frame[:-3]
                and expected[-1:] == frame[-1:] == b"\r"
                and pi_crc_matches(expected[:-3], frame[-3:-1])
            ):
                return definition
        return None

    def expected_requests(self, definition: Command, text: str) -> tuple[bytes, ...]:
        """Return the request frames this unit accepts for ``text``."""
        frames: tuple[bytes, ...] = (self.protocol.build_request(text),)
        if self.crc_optional:
            crc = definition.options.get("crc", getattr(self.protocol, "request_crc", True))
            other = replace(definition, options={**definition.options, "crc": not crc})
            frames = (*frames, self.protocol.frame(other, text))
        return frames

    # -- answers -----------------------------------------------------------------------------

    def _respond(self, definition: Command, text: str) -> bytes:
        """Answer a parsed request: ACK/NAK for setters, data for queries."""
        param = text[len(definition.name) :]
        if definition.kind is Kind.SETTER:
            try:
                self.write(definition, param, text)
            except (ProtocolError, ValueError) as err:
                raise _Refused from err
            return self.ack()
        if definition.name in self.refused:
            raise _Refused
        return self.frame_payload(self.payload(definition, param))

    def payload(self, definition: Command, param: str = "") -> str:
        """Return the answer payload to query ``definition`` with parameter ``param``."""
        name = definition.name
        specs, template = self._layout(definition)
        live: dict[str, object] = {}
        if name in LIVE:
            snapshot = self.snapshot()
            keys = LIVE[name]
            live.update(snapshot if keys is None else {k: snapshot[k] for k in keys})
        if name in WARNINGS:
            live.update(self._warnings(definition))
        if name in PARALLEL:
            live.update(self._parallel(name, param))
        if name in ENERGY:
            live.update(self._energy(definition, param))
        stored = self.store.get(name, {})
        tokens = []
        for spec, token in zip(specs, template, strict=False):
            if not is_placeholder(token):
                token = encode(spec, live, token)
            tokens.append(encode(spec, stored, token))
        tokens.extend(template[len(specs) :])
        return ("," if self.caret else " ").join(tokens)

    def _layout(self, definition: Command) -> tuple[tuple[Spec, ...], list[str]]:
        """Return the command's specs and its template's tokens, aligned (rest spec takes the rest)."""
        cached = self._layouts.get(definition.name)
        if cached is None:
            specs = definition.fields
            if self.caret and definition.options.get("period"):
                specs = tuple(s for s in specs if s not in PERIOD_SPECS)
            separator = "," if self.caret else " "
            payload = self.template(definition)
            if definition.options.get("split_spaces"):
                payload = payload.replace(" ", ",")
            tokens = payload.split(separator)
            rest = next((i for i, s in enumerate(specs) if s.takes_rest), None)
            if rest is not None and len(tokens) > rest:
                tokens = [*tokens[:rest], separator.join(tokens[rest:])]
            cached = self._layouts[definition.name] = (specs, tokens)
        return cached[0], list(cached[1])

    def template(self, definition: Command) -> str:
        """Return the answer template of ``definition``: the first one that decodes.

        Looked up in this simulator's own templates, else the protocol's, its parent's …;
        failing all, one token per field that the field's decoder reads.
        """
        own = self._own_templates
        candidates: list[str | None] = []
        if own is not None:
            candidates.append(own.get(definition.name))
        else:
            protocol_id: str | None = self.protocol.id
            while protocol_id is not None:
                candidates.append(TEMPLATES.get(protocol_id, {}).get(definition.name))
                protocol_id = PARENTS.get(protocol_id)
        for payload in candidates:
            if payload is not None and self._decodes(definition, payload):
                return payload
        specs = definition.fields
        if self.caret and definition.options.get("period"):
            specs = tuple(s for s in specs if s not in PERIOD_SPECS)
        return ("," if self.caret else " ").join(default_token(s) for s in specs)

    def _decodes(self, definition: Command, payload: str) -> bool:
        """Whether our protocol reads ``payload`` with the command's layout."""
        try:
            self.protocol.parse(definition, payload)
        except (ProtocolError, ValueError, IndexError, KeyError):
            return False
        return True

    def template_values(self, name: str) -> dict[str, Value]:
        """Return the values the template of query ``name`` decodes to (empty if no such query)."""
        cached = self._template_values.get(name)
        if cached is None:
            definition = self.protocol.commands.get(name)
            cached = {}
            if definition is not None:
                cached = self.protocol.parse(definition, self._payload_of_template(definition))
            self._template_values[name] = cached
        return cached

    def _payload_of_template(self, definition: Command) -> str:
        """Return the template as sent (the layout joined back)."""
        specs, tokens = self._layout(definition)
        del specs
        return ("," if self.caret else " ").join(tokens)

    def value(self, command: str, key: str) -> object:
        """Return what query ``command`` reports for settings field ``key`` (written or template)."""
        stored = self.store.get(command, {})
        if key in stored:
            return stored[key]
        return self.template_values(command).get(key)

    # -- state -------------------------------------------------------------------------------

    def device_time(self) -> datetime:
        """Return the unit's clock (local time, as DAT set it)."""
        return self.plant.local(self.clock() + self.clock_offset)

    def _setting_label(self, key: str) -> str:
        """Return the current label of select setting ``key`` ("" when the model has none)."""
        setting = self.protocol.settings.get(key)
        if setting is None:
            return ""
        return str(self.value(setting.read_command, setting.read_field) or "")

    def _advance(self) -> None:
        """Hand the settings that steer the plant to it, then let it catch up with the clock."""
        plant = self.plant
        plant.utility_first = (
            self._setting_label("output_source_priority").lower().startswith("utility")
        )
        charger = self._setting_label("charger_source_priority").lower()
        plant.ac_charge_allowed = "utility" in charger and "only" not in charger
        plant.max_charge_a = None
        for key in ("max_charging_current", "battery_maximum_charge_current"):
            setting = self.protocol.settings.get(key)
            limit = None if setting is None else self.value(setting.read_command, key)
            if isinstance(limit, int | float) and limit > 0:
                plant.max_charge_a = float(limit)
        for setting in self.protocol.settings.values():
            if setting.kind is SettingKind.SWITCH and setting.on.startswith("LON"):
                current = self.value(setting.read_command, setting.read_field)
                plant.load_enabled = current == setting.on_value
        plant.advance(self.clock())

    def snapshot(self) -> dict[str, object]:
        """Return the live values every status query draws from, keyed by field key."""
        plant = self.plant
        gauss = self.random.gauss
        line = plant.mode == "line"
        nominal = self.value("QPIRI", "ac_output_frequency")
        frequency = nominal if isinstance(nominal, float) and nominal in (50.0, 60.0) else 50.0
        grid_v = 230.0 + gauss(0, 1.2)
        grid_f = frequency + gauss(0, 0.02)
        out_v = 230.0 + gauss(0, 0.3)
        load = plant.load_w
        apparent = load / 0.93
        percent = apparent * 100 / RATED_VA
        current = plant.battery_current
        charge, discharge = max(0.0, current), max(0.0, -current)
        battery_v = plant.battery_voltage
        soc = round(plant.soc)
        temperature = plant.temperature
        pv_each = plant.pv_w / self.pv_inputs
        hour = plant.hour(plant.last)
        pv_v = 0.0 if pv_each < 1 else 300.0 + 60.0 * sun(hour) + gauss(0, 2)
        pv_a = pv_each / pv_v if pv_v else 0.0
        grid_w = load + plant.ac_charge_w if line else 0.0
        ac_charge_a = plant.ac_charge_w / battery_v
        moment = self.device_time()
        stamp = Raw(moment.strftime("%Y%m%d%H%M%S"))
        values: dict[str, object] = {
            "serial_number": self.serial,
            "device_time": stamp,
            "datetime": stamp,
            "year": Raw(moment.strftime("%Y")),
            "month": Raw(moment.strftime("%m")),
            "day": Raw(moment.strftime("%d")),
            "hour": Raw(moment.strftime("%H")),
            "minute": Raw(moment.strftime("%M")),
            "device_mode": Raw("L" if line else "B"),
            "working_mode": Raw("05" if line else "03"),
            "fault_code": Raw("00"),
            "warning_code": Raw("00"),
            "bus_voltage": 395 + gauss(0, 2),
            "pbus_voltage": 405 + gauss(0, 1),
            "sbus_voltage": 405 + gauss(0, 1),
            "pbusvolt": 380 + gauss(0, 1),
            "nbusvolt": 380 + gauss(0, 1),
            "pbusavgv": 380.0,
            "nbusavgv": 380.0,
            "battery_voltage": battery_v,
            "positive_battery_voltage": battery_v,
            "l2_battery_voltage": battery_v,
            "battery_voltage_from_bms": battery_v,
            "battery_voltage_from_scc": battery_v if pv_each else 0.0,
            "battery_charging_current": charge,
            "battery_charge_current": charge,
            "total_charging_current": charge,
            "total_battery_charging_current": charge,
            "battery_charging_current_from_bms": charge,
            "battery_discharge_current": discharge,
            "battery_discharging_current": discharge,
            "battery_discharge_current_from_bms": discharge,
            "battery_current": current,
            "battery_power": current * battery_v,
            "battery_capacity": soc,
            "l2_battery_capacity": soc,
            "battery_capacity_from_bms": soc,
            "soc": soc,
            "ac_output_active_power_r": load,
            "ac_output_power_r": load,
            "output_power": load,
            "ac_output_total_active_power": load,
            "actpvpow": plant.pv_w,
            "pv_power": plant.pv_w,
            "pv_input_power": plant.pv_w,
            "scc_charge_power": plant.pv_w,
            "pv_total_charging_power": plant.pv_w,
            "daily_power_generated": plant.pv_today_wh,
            "daily_pv_power_generated": plant.pv_today_wh,
            "total_pv_power_generated": plant.pv_total_wh / 1000,
            "ac_charging_current": ac_charge_a,
            "ac_charge_average_current": ac_charge_a,
            "ac_charging_power": plant.ac_charge_w,
            "ac_input_total_active_power": grid_w,
            "ac_input_active_power_r": grid_w,
            "output_current": apparent / out_v,
            "ac_output_current_r": apparent / out_v,
            "output_current_r": apparent / out_v,
            "input_current_r": grid_w / grid_v,
            "ac_input_current_r": grid_w / grid_v,
            "fan_pwm_speed": min(100, round(20 + 2 * max(0.0, temperature - 25))),
            "inverter_charge_status": Raw(self._charge_stage(charge)),
            "load_connection": "connect" if plant.load_enabled else "disconnect",
            "battery_power_direction": Raw(
                "1" if charge > 0.5 else "2" if discharge > 0.5 else "0"
            ),
            "dc_ac_power_direction": Raw(
                "1" if line and charge > 0.5 else "2" if not line else "0"
            ),
            "line_power_direction": Raw("1" if line else "0"),
            "is_load_on": plant.load_enabled,
            "is_l1_load_on": plant.load_enabled,
            "is_l2_load_on": plant.load_enabled,
            "is_switched_on": True,
            "is_charging_on": charge > 0.5,
            "is_scc_charging_on": pv_each > 0 and charge > 0.5,
            "is_scc_charging": pv_each > 0 and charge > 0.5,
            "is_l1_scc_charging_on": pv_each > 0 and charge > 0.5,
            "is_l2_scc_charging_on": pv_each > 0 and charge > 0.5,
            "is_l2_scc_charging": pv_each > 0 and charge > 0.5,
            "is_ac_charging_on": plant.ac_charge_w > 0,
            "is_ac_charging": plant.ac_charge_w > 0,
            "is_l1_ac_charging_on": plant.ac_charge_w > 0,
            "is_l2_ac_charging_on": plant.ac_charge_w > 0,
            "is_l2_ac_charging": plant.ac_charge_w > 0,
            "is_charging_to_float": plant.soc >= 99,
            **dict.fromkeys(
                (
                    "is_line_lost",
                    "is_l1_line_not_ok",
                    "is_l1_line_off",
                    "is_l2_line_lost",
                    "is_l2_line_not_ok",
                    "is_battery_over_voltage",
                    "is_battery_over",
                    "is_configuration_changed",
                ),
                False,
            ),
            "is_battery_under": plant.soc < 10,
            "is_battery_under_voltage": plant.soc < 10,
        }
        for key in (
            "ac_input_voltage",
            "grid_voltage",
            "l1_ac_input_voltage",
            "l2_ac_input_voltage",
        ):
            values[key] = grid_v
        for key in ("ac_input_frequency", "grid_frequency", "l1_ac_input_frequency"):
            values[key] = grid_f
        values["l2_ac_input_frequency"] = grid_f
        for phase in "rst":
            values[f"ac_input_voltage_{phase}"] = grid_v + gauss(0, 0.5)
            values[f"ac_output_voltage_{phase}"] = out_v + gauss(0, 0.2)
        for key in ("ac_output_voltage", "l1_ac_output_voltage", "l2_ac_output_voltage"):
            values[key] = out_v
        for key in ("ac_output_frequency", "l1_ac_output_frequency", "l2_ac_output_frequency"):
            values[key] = frequency
        values["sync_frequency"] = frequency
        values["ac_output_apparent_power"] = apparent
        values["ac_output_active_power"] = load
        for line_ in ("l1", "l2"):
            values[f"{line_}_ac_output_apparent_power"] = apparent / 2
            values[f"{line_}_ac_output_active_power"] = load / 2
            values[f"{line_}_ac_output_load"] = percent
            values[f"{line_}_load_percentage"] = percent
        for key in ("ac_output_load", "output_load_percent", "load_percentage"):
            values[key] = percent
        values["ac_output_power_percentage"] = percent
        values["output_load_percent"] = percent
        for key in (
            "inverter_heat_sink_temperature",
            "inverter_temperature",
            "inner_temperature",
            "component_max_temperature",
            "max_temperature",
            "scc_pwm_temperature",
            "mppt1_charger_temperature",
        ):
            values[key] = temperature + gauss(0, 0.3)
        values["transformer_temperature"] = temperature + 8
        for key in ("battery_temperature", "external_battery_temperature"):
            values[key] = 24.0 + (temperature - 26.0) / 4
        self._pv(values, pv_each, pv_v, pv_a)
        return values

    def _pv(self, values: dict[str, object], power: float, volts: float, amps: float) -> None:
        """Fill the fields of each PV input the model has (the others read zero)."""
        values["pv_input_voltage"] = volts
        values["pv_input_current"] = amps
        values["pv_input_current_for_battery"] = amps
        for number in (1, 2, 3):
            present = number <= self.pv_inputs
            watts, v, a = (power, volts, amps) if present else (0.0, 0.0, 0.0)
            values[f"pv{number}_input_voltage"] = v
            values[f"pv{number}_input_current"] = a
            values[f"pv{number}_input_power"] = watts
            values[f"pv{number}_charging_power"] = watts
            values[f"solar_input_voltage_{number}"] = v
            values[f"solar_input_current_{number}"] = a
            values[f"solar_input_power_{number}"] = watts
            values[f"solar_input_{number}_work_status"] = Raw("1" if watts > 0 else "0")
            values[f"mppt{number}_charger_status"] = Raw("2" if watts > 0 else "1")
            values[f"pv{number}_charging_current"] = watts / self.plant.battery_voltage
        values["pv2_battery_charging_current"] = values["pv2_charging_current"]
        values["l2_battery_charging_current"] = values["pv2_charging_current"]
        values["is_scc_ok"] = values["is_l1_scc_ok"] = values["is_l2_scc_ok"] = True

    def _charge_stage(self, charge: float) -> str:
        """Q1's charging stage: 10 none, 11 bulk, 12 absorb, 13 float."""
        if charge <= 0.5:
            return "10"
        if self.plant.soc < 90:
            return "11"
        return "12" if self.plant.soc < 99 else "13"

    def _warnings(self, definition: Command) -> dict[str, object]:
        """Every warning off, but the low-battery ones below 20 % state of charge."""
        low = self.plant.soc < 20
        lows = ("battery_low_alarm_warning", "battery_low_voltage", "battery_low")
        values: dict[str, object] = {}
        for spec in definition.fields:
            if isinstance(spec, Flags):
                values.update({key: key in lows and low for _, key, _ in spec.bits})
            elif isinstance(spec, Flag):
                values[spec.key] = spec.key in lows and low
            elif isinstance(spec, Option):
                values[spec.key] = spec.labels[1 if spec.key in lows and low else 0]
        return values

    def unit_serial(self, unit: int) -> str:
        """Return the serial number of unit ``unit`` of the parallel system (0 is this unit)."""
        head, tail = self.serial[:-2], self.serial[-2:]
        if not unit or not tail.isdigit():
            return self.serial if not unit else f"{self.serial}{unit}"
        return f"{head}{(int(tail) + unit) % 100:02d}"

    def _parallel(self, name: str, param: str) -> dict[str, object]:
        """Values of one unit of the parallel system; a unit that does not exist is refused."""
        unit = int(param)
        if unit >= self.units:
            if not self.report_absent or name not in ("PGS", "PRI"):
                raise _Refused
            return {
                "parallel_id_connection_status": Raw("0"),
                "serial_number_valid_length": 0,
                "serial_number": Raw("0" * 20),
            }
        serial = self.unit_serial(unit)
        if name == "PRI":
            return {
                "parallel_id_connection_status": Raw("1"),
                "serial_number_valid_length": len(serial),
                "serial_number": Raw(serial.ljust(20, "0")),
            }
        snapshot = self.snapshot()
        values = dict(snapshot)
        for key in _SHARED:
            share = snapshot[key]
            assert isinstance(share, float | int)
            values[key] = share / self.units
        line = self.plant.mode == "line"
        values.update(
            serial_number=serial,
            total_ac_output_apparent_power=snapshot["ac_output_apparent_power"],
            total_output_active_power=snapshot["ac_output_active_power"],
            total_ac_output_active_power=snapshot["ac_output_active_power"],
            total_ac_output_percentage=snapshot["ac_output_load"],
            total_output_load_percent=snapshot["ac_output_load"],
            parallel_id_connection_status=Raw("1"),
            work_mode=Raw(("5" if line else "3") if self.caret else ("L" if line else "B")),
        )
        if name == "QPGS":
            values["parallel_instance_number"] = "valid"
        return values

    def _energy(self, definition: Command, param: str) -> dict[str, object]:
        """Return the energy counter of a total or of the period in ``param``."""
        kind, by_period = ENERGY[definition.name]
        spec = next(s for s in definition.fields if isinstance(s, Int))
        plant = self.plant
        if by_period:
            wh = float(plant.energy("pv" if kind == "pv" else "load", param, self.clock()))
        else:
            wh = plant.pv_total_wh if kind == "pv" else plant.load_total_wh
        return {spec.key: wh / 1000 if spec.unit == "kWh" else wh}

    # -- settings ----------------------------------------------------------------------------

    def write(self, definition: Command, param: str, text: str) -> None:
        """Carry out setter ``text``; raise InvalidParameterError / ValueError to refuse it."""
        if self.special(definition, param):
            return
        if self._writers is None:
            self._writers = _writers(self.protocol)
        for writer in self._writers.get(definition.name, ()):
            match = writer.pattern.fullmatch(text)
            if match is not None:
                self._apply(writer, match)
                return
        # A setter the model knows but the state does not track (PSAVE, LED colours…): ACK.

    def special(self, definition: Command, param: str) -> bool:
        """Handle setters that are not settings-model writes; return whether one was."""
        name = definition.name
        if isinstance(definition.param, Letters):
            flags = self.protocol.commands["QFLAG"].fields[0]
            assert isinstance(flags, EnableFlags)
            state = "enabled" if name == "PE" else "disabled"
            stored = self.store.setdefault("QFLAG", {})
            for letter in param:
                stored[flags.letters[letter.lower()][0]] = state
            return True
        if name == "DAT":
            self._set_clock(
                datetime.strptime(param, "%Y%m%d%H%M%S" if len(param) == 14 else "%y%m%d%H%M%S")
            )
            return True
        if name == "PF" and definition.param is None:
            self.store.clear()  # back to the factory settings
            return True
        if name == "F":
            self.store.setdefault("QPIRI", {})["ac_output_frequency"] = float(param)
            return True
        return False

    def _set_clock(self, moment: datetime) -> None:
        """Set the device clock to ``moment`` (local time)."""
        now = self.clock()
        self.clock_offset = (moment - self.plant.local(now)).total_seconds()

    def _apply(self, writer: _Writer, match: re.Match[str]) -> None:
        """Store what a settings write changes, after checking it as the unit would."""
        setting = writer.setting
        command = self.protocol.commands[setting.read_command]
        current: dict[str, object] = {
            **self.template_values(setting.read_command),
            **self.store.get(setting.read_command, {}),
        }
        changes: dict[str, object] = {}
        if writer.action in ("on", "off"):
            value = setting.on_value
            if writer.action == "off":
                value = _off_value(_spec_for(command, setting.read_field), setting.on_value)
            changes[setting.read_field] = value
        elif writer.action == "select":
            code = match["code"]
            label = setting.options.get(code)
            if label is None:
                # A code the select leaves out (PI30MAX's PBT07): the read field's own label.
                spec = _spec_for(command, setting.read_field)
                assert isinstance(spec, Option)
                label = spec.labels[int(code)]
            changes[setting.read_field] = label
        elif writer.action == "linked":
            changes = self._linked(setting, command, match["rest"])
        else:
            scale = 0.1 if isinstance(setting, TenthsSetting) else 1.0
            number = round(float(match["value"]) * scale, 6)
            changes[setting.read_field] = number
            if isinstance(setting, TenthsSetting) and setting.partner:
                changes[setting.partner] = round(float(match["partner"]) * scale, 6)
            allowed = None
            options = setting.options_command
            if options is not None and options in self.protocol.commands:
                allowed = setting.allowed_values(self.query(options))
            setting.encode(number, allowed=allowed, current=_values({**current, **changes}))
        self.store.setdefault(setting.read_command, {}).update(changes)

    def _linked(self, setting: Setting, command: Command, rest: str) -> dict[str, object]:
        """Read a PI17 multi-value write (``MCHGV0576,0566``) into field values, checked."""
        assert isinstance(setting, LinkedSetting)
        # The protocol has checked each part's format and range; a count that does not fit
        # makes zip() raise ValueError: a refusal.
        changes: dict[str, object] = {}
        for (key, unit, digits), token in zip(setting.parts, rest.split(","), strict=True):
            if digits == 0:
                spec = _spec_for(command, key)  # an enable flag: Disabled / Enabled
                assert isinstance(spec, Option)
                changes[key] = spec.labels[int(token)]
            else:
                changes[key] = round(int(token) * unit, 6)
        return changes

    def query(self, command: str) -> Result:
        """Return this unit's current answer to query ``command``, decoded (no clock step)."""
        definition, param = self.protocol.resolve(command)
        return self.protocol.decode(command, self.frame_payload(self.payload(definition, param)))

    # -- requests ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        """Protocol, units and state of charge."""
        return f"<{type(self).__name__} {self.protocol.id} units={self.units} soc={self.plant.soc:.0f}%>"


class Pi17Simulator(VoltronicSimulator):
    """PI17 units also take flag letters: ``PEA`` / ``PDA`` switch FLAG's first position."""

    def special(self, definition: Command, param: str) -> bool:
        """Flag letters (A = FLAG's first field, …) besides the common special setters."""
        if definition.name in ("PE", "PD") and param.isalpha():
            fields = self.protocol.commands["FLAG"].fields
            index = ord(param) - ord("A")
            if index >= len(fields):
                raise InvalidParameterError(f"FLAG has no letter {param}")
            state = "Enabled" if definition.name == "PE" else "Disabled"
            self.store.setdefault("FLAG", {})[fields[index].key] = state
            return True
        return super().special(definition, param)


class Pi18Simulator(VoltronicSimulator):
    """Plain PI18 firmware refuses the fault-status query FWS (what auto-detection relies on)."""

    refused: ClassVar[frozenset[str]] = frozenset(("FWS",))


class Pi18SvSimulator(VoltronicSimulator):
    """EASUN SV units take requests with or without a CRC."""

    crc_optional: ClassVar[bool] = True


class RevoSimulator(VoltronicSimulator):
    """PI30 REVO: ``PSET`` arrives as text + check byte without CR, and writes all of PQSE."""

    #: Longest PSET request worth waiting for before the bytes are taken as line noise.
    LONGEST: ClassVar[int] = 96

    def split_requests(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """CR-terminated requests, and PSET requests ended by their check byte."""
        requests: list[bytes] = []
        while buffer:
            if buffer.startswith(b"PSET"):
                end = self._pset_end(buffer)
                if end is not None:
                    requests.append(buffer[:end])
                    buffer = buffer[end:]
                    continue
            cr = buffer.find(b"\r")
            if cr >= 0:
                requests.append(buffer[: cr + 1])
                buffer = buffer[cr + 1 :]
            elif len(buffer) > self.LONGEST:
                requests.append(buffer)  # line noise: answered with NAK, then forgotten
                buffer = b""
            else:
                break
        return requests, buffer

    def _pset_end(self, buffer: bytes) -> int | None:
        """Return the length of the PSET request at the start of ``buffer`` (None: incomplete)."""
        pset = self.protocol.commands["PSET"]
        for index in range(5, min(len(buffer), self.LONGEST)):
            if buffer[index] != chk8(buffer[:index]) & 0xFF:
                continue
            try:
                pset.validate(buffer[4:index].decode("ascii"))
            except (InvalidParameterError, UnicodeDecodeError):
                continue
            return index + 1
        return None

    def parse_request(self, frame: bytes) -> tuple[Command, str] | None:
        """PSET + check byte (no CR); anything else as PI30 frames it."""
        if frame.startswith(b"PSET") and frame[-1:] != b"\r":
            text = frame[:-1].decode("latin-1")
            found = self._match(text, frame) if frame[-1] == chk8(frame[:-1]) & 0xFF else None
            return None if found is None else (found, text)
        return super().parse_request(frame)

    def expected_requests(self, definition: Command, text: str) -> tuple[bytes, ...]:
        """PSET is also taken framed like any PI30 command (CRC + CR)."""
        frames = super().expected_requests(definition, text)
        if definition.name == "PSET":
            return (*frames, self.protocol.build_request("_" + text))
        return frames

    def write(self, definition: Command, param: str, text: str) -> None:
        """PSET (REVO's only setter, whichever way it is framed) writes all of PQSE and the clock."""
        del definition, text
        values = walk(self.protocol.commands["PQSE"].fields, param.split(" "), None, " ")
        year, month, day, hour, minute = (
            int(str(values.pop(key))) for key in ("year", "month", "day", "hour", "minute")
        )
        self._set_clock(datetime(year, month, day, hour, minute))  # noqa: DTZ001 - local time
        self.store.setdefault("PQSE", {}).update(values)


#: Simulator class by protocol id.
SIMULATORS: Final[Mapping[str, type[VoltronicSimulator]]] = {
    "pi30": VoltronicSimulator,
    "pi30max": VoltronicSimulator,
    "pi30m044": VoltronicSimulator,
    "pi30m045": VoltronicSimulator,
    "pi30mst": VoltronicSimulator,
    "pi30revo": RevoSimulator,
    "pi41": VoltronicSimulator,
    "pi16": VoltronicSimulator,
    "pi17": Pi17Simulator,
    "pi17infini": Pi17Simulator,
    "pi17m058": Pi17Simulator,
    "pi18": Pi18Simulator,
    "pi18sv": Pi18SvSimulator,
    "pi18lvx": VoltronicSimulator,
}
