"""Translate the generated English entity names and states, phrase by phrase.

``scripts/gen_translations.py`` builds the English ``entity`` section from the library's field
names (hundreds of them). Writing each name again in every language would not be reviewable,
and would go stale as the library grows. Instead each language has reviewed phrase tables, and a
name is translated only when the tables cover it completely:

- acronyms, numbers and placeholders (``AC``, ``PV1``, ``L1``, ``(CV)``, ``{cell}``) pass through
  unchanged, before or after the words (German joins a leading one with a hyphen:
  ``AC-Ausgangsspannung``; French moves it after: ``Tension de sortie AC``);
- the words between them (the *core*, compared in lower case) are either a whole phrase of the
  table (``state of charge``) or a measured quantity (``voltage``, ``active power``…) with a
  qualifier before it (``battery``, ``output rated``…), which German joins into one compound
  word (``Ausgangsnennspannung``) and French puts after the quantity, agreeing in gender
  (``Tension nominale de sortie``); ``max``/``min`` before that is an abbreviation either way;
- the suffixes the generator adds (`` setting``, `` (safety setting)``) and the energy sensors'
  periods have their own patterns.

Anything else is left out of the language's file: Home Assistant then shows the English name for
that key alone, which reads better than a word-for-word guess. Two names of one device that
would read the same in a language (while they differ in English) are left out too, as are the
states of one entity that would.
"""

# ruff: noqa: INP001, RUF001

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
import re
from typing import Any

#: A token that reads the same in every language: an acronym, a number, a placeholder.
NEUTRAL = re.compile(r"^\(?(?:[A-Z0-9][A-Z0-9./+\-]*|\{\w+\}|\d+(?:st|nd|rd|th)?)\)?$")
#: A neutral token that may follow the words: a number, a phase letter, a parenthesis.
SUFFIX = re.compile(r"^(?:\(.*\)|\{\w+\}|[A-Z]|[A-Z]*\d+[A-Z0-9]*)$")
#: Words after which an acronym is their object ("Battery voltage from SCC").
PREPOSITIONS = {"from", "for", "of", "to", "on", "at", "in"}
#: The suffixes gen_translations.py adds to a name (order matters: longest first).
SAFETY_SUFFIX = " (safety setting)"
SETTING_SUFFIX = " setting"


@dataclass(frozen=True)
class Language:
    """A language's reviewed phrase tables."""

    code: str
    #: Whole cores: English words (lower case) -> translation.
    phrases: Mapping[str, str]
    #: Measured quantities: English (lower case) -> German compound tail (lower case), or a
    #: French (noun, "f"/"m") pair.
    quantities: Mapping[str, Any]
    #: Qualifiers of a quantity: English (lower case) -> German compound head, or French
    #: complement (one text, or a masculine/feminine pair when it is an adjective).
    qualifiers: Mapping[str, Any]
    #: Enum and select states, by English label (lower case).
    states: Mapping[str, str]
    #: Series (numbered) names, by translation key.
    series: Mapping[str, str]
    #: Energy sensors: English quantity name -> translation; English pattern -> pattern.
    energy: Mapping[str, str]
    periods: Mapping[str, str]
    setting: str  # pattern for a name with " setting" added
    safety: str  # pattern for a safety setting's name
    maximum: str  # pattern for "max …"
    minimum: str  # pattern for "min …"
    stats: dict[str, int] = field(default_factory=dict, compare=False)

    def join_prefix(self, prefix: str, text: str) -> str:
        """Return ``text`` with the neutral tokens that came before it in English."""
        if "{}" in text:  # the phrase says where the acronym goes
            return text.replace("{}", f" {prefix}" if prefix else "")
        if not prefix:
            return text
        if " (" in text:  # before a parenthesis: "Surchauffe MOS (réarmement)"
            words, _, rest = text.partition(" (")
            return f"{self.join_prefix(prefix, words)} ({rest}"
        if self.code == "fr":
            return f"{text} {prefix}"
        return f"{prefix}-{text}" if " " not in text else f"{prefix} {text}"

    def quantity(self, qualifier: str, quantity: str) -> str | None:
        """Return ``qualifier quantity`` composed, or None when a part is unknown."""
        tail = self.quantities.get(quantity)
        if tail is None:
            return None
        if self.code == "de":
            if not qualifier:
                return str(tail[:1].upper() + tail[1:])
            head = self.qualifiers.get(qualifier)
            return None if head is None else f"{head}{tail}"
        noun, gender = tail
        if not qualifier:
            return str(noun)
        complement = self.qualifiers.get(qualifier)
        if complement is None:
            return None
        if isinstance(complement, tuple):
            complement = complement[1] if gender == "f" else complement[0]
        return f"{noun} {complement}"

    def core(self, words: str) -> str | None:
        """Return the translation of a core (lower-case English words), or None."""
        if words in self.phrases:
            return self.phrases[words]
        for bound, pattern in (("max ", self.maximum), ("maximum ", self.maximum)):
            if words.startswith(bound) and (inner := self.core(words[len(bound) :])):
                return pattern.format(inner)
        for bound, pattern in (("min ", self.minimum), ("minimum ", self.minimum)):
            if words.startswith(bound) and (inner := self.core(words[len(bound) :])):
                return pattern.format(inner)
        parts = words.split()
        for size in (2, 1):
            if len(parts) >= size:
                found = self.quantity(" ".join(parts[:-size]), " ".join(parts[-size:]))
                if found:
                    return found
        return None

    def name(self, english: str) -> str | None:
        """Return the translation of a generated English name, or None when not covered."""
        for suffix, pattern in ((SAFETY_SUFFIX, self.safety), (SETTING_SUFFIX, self.setting)):
            if english.endswith(suffix):
                inner = self.name(english[: -len(suffix)])
                return None if inner is None else pattern.format(inner)
        tokens = english.split()
        neutral = [bool(NEUTRAL.match(token)) for token in tokens]
        start = 0
        while start < len(tokens) and neutral[start]:
            start += 1
        end = len(tokens)
        while end > start and neutral[end - 1]:
            end -= 1
        if start == end:
            return english  # acronyms only: SOC, PV1…
        if any(len(token) < 2 or token.isdigit() for token in tokens[:start]):
            return None  # "309 A protection": not an acronym qualifying the words
        if any(neutral[start:end]):
            return None  # an acronym among the words: no safe word order
        after = tokens[end:]
        if after and tokens[end - 1].lower() not in PREPOSITIONS:
            # "Solar input current 2", "Voltage (CV)"; not "Charging MOSFET", whose acronym is
            # the noun the words qualify.
            if not all(SUFFIX.match(token) for token in after):
                return None
        text = self.core(" ".join(tokens[start:end]).lower())
        if text is None:
            return None
        text = text[:1].upper() + text[1:]
        text = self.join_prefix(" ".join(tokens[:start]), text)
        if end < len(tokens):
            text = f"{text} {' '.join(tokens[end:])}"
        return text

    def state(self, english: str) -> str | None:
        """Return the translation of an enum or select state, or None."""
        return self.states.get(english.lower())


def localize(
    language: Language,
    english: Mapping[str, Mapping[str, Any]],
    groups: Iterable[set[tuple[str, str]]],
    energy: Mapping[str, tuple[str, str]],
    series: Iterable[tuple[str, str]],
) -> dict[str, Any]:
    """Return ``language``'s ``entity`` section for the English one.

    ``groups`` are the (platform, key) pairs of each protocol (names within one must stay
    distinct); ``energy`` maps an energy sensor's key to its English (pattern, quantity);
    ``series`` are the (platform, key) pairs of numbered names.
    """
    names: dict[tuple[str, str], str] = {}
    serial = set(series)
    for platform, items in english.items():
        for key, item in items.items():
            text: str | None
            if (platform, key) in serial:
                text = language.series.get(key)
            elif platform == "sensor" and key in energy:
                pattern, quantity = energy[key]
                period = language.periods.get(pattern)
                amount = language.energy.get(quantity)
                text = None if period is None or amount is None else period.format(amount)
            else:
                text = language.name(item["name"])
            if text is not None:
                names[platform, key] = text
    # Two names of one device must not read the same when they differ in English.
    clashing: set[tuple[str, str]] = set()
    for group in groups:
        seen: dict[str, tuple[str, str]] = {}
        for where in sorted(group):
            if where not in names:
                continue
            other = seen.setdefault(names[where].casefold(), where)
            same_english = (
                english[other[0]][other[1]]["name"].casefold()
                == english[where[0]][where[1]]["name"].casefold()
            )
            if other != where and not same_english:
                clashing |= {other, where}
    section: dict[str, Any] = {}
    total = translated = 0
    for platform, items in english.items():
        for key, item in items.items():
            out: dict[str, Any] = {}
            total += 1
            if (platform, key) in names and (platform, key) not in clashing:
                out["name"] = names[platform, key]
                translated += 1
            states = {
                option: found
                for option, label in item.get("state", {}).items()
                if (found := language.state(label)) is not None
            }
            counts: dict[str, int] = defaultdict(int)
            for text in states.values():
                counts[text.casefold()] += 1
            states = {o: t for o, t in states.items() if counts[t.casefold()] == 1}
            if states:
                out["state"] = states
            if out:
                section.setdefault(platform, {})[key] = out
    language.stats.update(names=total, translated=translated)
    return section


# --------------------------------------------------------------------------- German

_DE_PHRASES = {
    "charging": "Laden",
    "discharging": "Entladen",
    "charge": "Laden",
    "discharge": "Entladen",
    "state of charge": "Ladezustand",
    "state of health": "Gesundheitszustand",
    "battery type": "Batterietyp",
    "output source priority": "Priorität der Ausgangsquelle",
    "charger source priority": "Priorität der Ladequelle",
    "solar power priority": "Priorität der Solarleistung",
    "solar energy distribution priority": "Priorität der Solarenergieverteilung",
    "operation logic": "Betriebslogik",
    "power balance": "Leistungsausgleich",
    "max parallel units": "Max. Anzahl paralleler Geräte",
    "remaining capacity": "Restkapazität",
    "residual capacity": "Restkapazität",
    "nominal capacity": "Nennkapazität",
    "nominal battery capacity": "Nennkapazität der Batterie",
    "total capacity": "Gesamtkapazität",
    "battery total capacity": "Gesamtkapazität der Batterie",
    "actual battery capacity": "Tatsächliche Batteriekapazität",
    "cycle capacity": "Zykluskapazität",
    "cell count": "Zellenanzahl",
    "number of cells": "Zellenanzahl",
    "number of batteries": "Anzahl der Batterien",
    "number of temperature sensors": "Anzahl der Temperatursensoren",
    "temperature sensor count": "Anzahl der Temperatursensoren",
    "battery strings": "Batteriestränge",
    "charger status": "Ladegerätstatus",
    "charge status": "Ladestatus",
    "device status": "Gerätestatus",
    "device mode": "Gerätemodus",
    "working mode": "Betriebsmodus",
    "output mode": "Ausgangsmodus",
    "output model": "Ausgangsmodell",
    "machine type": "Gerätetyp",
    "serial number": "Seriennummer",
    "software version": "Softwareversion",
    "protocol version": "Protokollversion",
    "version": "Version",
    "manufacturer": "Hersteller",
    "manufacture date": "Herstellungsdatum",
    "production date": "Herstellungsdatum",
    "product name": "Produktname",
    "model description": "Modellbeschreibung",
    "fault code": "Fehlercode",
    "warning reason": "Warnungsursache",
    "alarm reason": "Alarmursache",
    "off reason": "Abschaltgrund",
    "uptime": "Betriebszeit",
    "total runtime": "Gesamtlaufzeit",
    "system working time": "Systembetriebszeit",
    "time to go": "Restlaufzeit",
    "battery remaining time": "Restlaufzeit der Batterie",
    "cycle count": "Zyklenzahl",
    "charge/discharge cycles": "Lade-/Entladezyklen",
    "number of charge cycles": "Anzahl der Ladezyklen",
    "number of full discharges": "Anzahl der Vollentladungen",
    "cycles": "Zyklen",
    "yield today": "Ertrag heute",
    "yield yesterday": "Ertrag gestern",
    "yield total (user resettable)": "Gesamtertrag (zurücksetzbar)",
    "maximum power today": "Max. Leistung heute",
    "maximum power yesterday": "Max. Leistung gestern",
    "load output": "Lastausgang",
    "output load": "Ausgangslast",
    "output load percent": "Ausgangslast in Prozent",
    "output power percentage": "Ausgangsleistung in Prozent",
    "load percentage": "Last in Prozent",
    "work mode": "Betriebsart",
    "load status": "Laststatus",
    "overload": "Überlast",
    "overload warning": "Überlastwarnung",
    "overload alarm": "Überlastalarm",
    "overtemperature": "Übertemperatur",
    "over temperature": "Übertemperatur",
    "overvoltage": "Überspannung",
    "undervoltage": "Unterspannung",
    "battery overvoltage": "Batterieüberspannung",
    "battery undervoltage": "Batterieunterspannung",
    "battery under voltage": "Batterieunterspannung",
    "cell overvoltage": "Zellüberspannung",
    "cell undervoltage": "Zellunterspannung",
    "cell overvoltage protection": "Zellüberspannungsschutz",
    "cell undervoltage protection": "Zellunterspannungsschutz",
    "cell overvoltage recovery": "Zellüberspannung (Wiederfreigabe)",
    "cell undervoltage recovery": "Zellunterspannung (Wiederfreigabe)",
    "cell overvoltage alarm": "Zellüberspannungsalarm",
    "cell undervoltage alarm": "Zellunterspannungsalarm",
    "charge overtemperature protection": "Übertemperaturschutz beim Laden",
    "charge overtemperature recovery": "Übertemperatur beim Laden (Wiederfreigabe)",
    "charge undertemperature protection": "Untertemperaturschutz beim Laden",
    "charge undertemperature recovery": "Untertemperatur beim Laden (Wiederfreigabe)",
    "discharge overtemperature protection": "Übertemperaturschutz beim Entladen",
    "discharge overtemperature recovery": "Übertemperatur beim Entladen (Wiederfreigabe)",
    "discharge undertemperature protection": "Untertemperaturschutz beim Entladen",
    "discharge undertemperature recovery": "Untertemperatur beim Entladen (Wiederfreigabe)",
    "charge overcurrent protection": "Überstromschutz beim Laden",
    "discharge overcurrent protection": "Überstromschutz beim Entladen",
    "charge overcurrent protection delay": "Verzögerung des Überstromschutzes beim Laden",
    "discharge overcurrent protection delay": "Verzögerung des Überstromschutzes beim Entladen",
    "charge overcurrent": "Überstrom beim Laden",
    "discharge overcurrent": "Überstrom beim Entladen",
    "short circuit protection": "Kurzschlussschutz",
    "short-circuit protection delay": "Verzögerung des Kurzschlussschutzes",
    "overtemperature protection": "Übertemperaturschutz",
    "overtemperature recovery": "Übertemperatur (Wiederfreigabe)",
    "overtemperature alarm": "Übertemperaturalarm",
    "cell with max voltage": "Zelle mit der höchsten Spannung",
    "cell with min voltage": "Zelle mit der niedrigsten Spannung",
    "cell with max temperature": "Zelle mit der höchsten Temperatur",
    "cell with min temperature": "Zelle mit der niedrigsten Temperatur",
    "delta cell voltage": "Zellspannungsdifferenz",
    "average cell voltage": "Durchschnittliche Zellspannung",
    "highest cell voltage": "Höchste Zellspannung",
    "lowest cell voltage": "Niedrigste Zellspannung",
    "balancing": "Zellausgleich",
    "balancer enabled": "Balancer aktiviert",
    "balancer active": "Balancer aktiv",
    "cell balancing active": "Zellausgleich aktiv",
    "charge switch": "Ladeschalter",
    "discharge switch": "Entladeschalter",
    "balancer switch": "Balancer-Schalter",
    "charge enabled": "Laden aktiviert",
    "discharge enabled": "Entladen aktiviert",
    "buzzer": "Summer",
    "backlight": "Hintergrundbeleuchtung",
    "backlight on": "Hintergrundbeleuchtung an",
    "power saving": "Energiesparmodus",
    "overload restart": "Neustart nach Überlast",
    "over temperature restart": "Neustart nach Übertemperatur",
    "overload bypass": "Bypass bei Überlast",
    "overload bypass function": "Bypass-Funktion bei Überlast",
    "silence buzzer": "Summer stumm",
    "mute buzzer beep": "Summerton stumm",
    "power switch": "Netzschalter",
    "configuration changed": "Konfiguration geändert",
    "firmware updated": "Firmware aktualisiert",
    "dustproof installed": "Staubschutz eingebaut",
    "float charging": "Erhaltungsladung",
    "heating": "Heizung",
    "heating enabled": "Heizung aktiviert",
    "peukert exponent": "Peukert-Exponent",
    "charge efficiency factor": "Ladewirkungsgrad",
    "consumed amp hours": "Verbrauchte Amperestunden",
    "tail current": "Schweifstrom",
    "discharge floor": "Entladegrenze",
    "current threshold": "Stromschwelle",
    "grid-tie operation": "Netzparallelbetrieb",
    "solar feed to grid": "Solareinspeisung ins Netz",
    "feed power to utility": "Einspeisung ins Netz",
    "feeding grid power": "Einspeiseleistung",
    "solar feed to grid power": "Solare Einspeiseleistung",
    "input voltage range": "Eingangsspannungsbereich",
    "country": "Land",
    "topology": "Topologie",
    "relay state": "Relaiszustand",
    "fan lock": "Lüfter blockiert",
    "status": "Status",
    "protection": "Schutz",
    "failure": "Fehler",
    "reserved": "Reserviert",
    "unknown": "Unbekannt",
    "device": "Gerät",
    "low voltage alarm": "Unterspannungsalarm",
    "high voltage alarm": "Überspannungsalarm",
    "low voltage warning": "Unterspannungswarnung",
    "high voltage warning": "Überspannungswarnung",
    "low temperature alarm": "Alarm niedrige Temperatur",
    "high temperature alarm": "Alarm hohe Temperatur",
    "low temperature warning": "Warnung niedrige Temperatur",
    "high temperature warning": "Warnung hohe Temperatur",
    "low capacity alarm": "Alarm niedrige Kapazität",
    "short circuit alarm": "Kurzschlussalarm",
    "ripple alarm": "Welligkeitsalarm",
    "ripple warning": "Welligkeitswarnung",
    "line fail": "Netzausfall",
    "precharging": "Vorladung",
    "temperature sensor failure": "Temperatursensorfehler",
    "inverter heat sink temperature": "Kühlkörpertemperatur des Wechselrichters",
    "battery voltage from": "Batteriespannung von",
    "inverter over temperature": "Übertemperatur des Wechselrichters",
    "emergency power off active": "Not-Aus aktiv",
    "battery disconnected": "Batterie getrennt",
    "battery low": "Batterie schwach",
    "load connection": "Lastanschluss",
    "power direction": "Leistungsrichtung",
    "battery power direction": "Leistungsrichtung der Batterie",
    "line power direction": "Leistungsrichtung des Netzes",
}

_DE_QUANTITIES = {
    "voltage": "spannung",
    "current": "strom",
    "power": "leistung",
    "active power": "wirkleistung",
    "apparent power": "scheinleistung",
    "temperature": "temperatur",
    "frequency": "frequenz",
    "capacity": "kapazität",
    "energy": "energie",
}

_DE_QUALIFIERS = {
    "battery": "Batterie",
    "input": "Eingangs",
    "output": "Ausgangs",
    "grid": "Netz",
    "solar input": "Solareingangs",
    "charging": "Lade",
    "charge": "Lade",
    "discharge": "Entlade",
    "discharging": "Entlade",
    "battery charging": "Batterielade",
    "battery charge": "Batterielade",
    "battery discharge": "Batterieentlade",
    "cell": "Zell",
    "bus": "Bus",
    "panel": "Modul",
    "output rated": "Ausgangsnenn",
    "output rating": "Ausgangsnenn",
    "input rated": "Eingangsnenn",
    "battery rated": "Batterienenn",
    "battery rating": "Batterienenn",
    "output total": "Gesamtausgangs",
    "input total": "Gesamteingangs",
    "total battery": "Gesamtbatterie",
    "total charging": "Gesamtlade",
    "total": "Gesamt",
    "load": "Last",
    "inverter": "Wechselrichter",
    "transformer": "Transformator",
    "charger": "Ladegerät",
    "inner": "Innen",
    "balance": "Ausgleichs",
    "acquisition": "Erfassungs",
    "battery float": "Erhaltungslade",
    "battery float charge": "Erhaltungslade",
    "battery float charging": "Erhaltungslade",
    "battery floating charge": "Erhaltungslade",
    "battery bulk": "Hauptlade",
    "battery bulk charge": "Hauptlade",
    "battery cut-off": "Entladeschluss",
    "battery re-charge": "Wiederauflade",
    "battery recharge": "Wiederauflade",
    "battery re-discharge": "Wiederentlade",
    "battery redischarge": "Wiederentlade",
    "solar": "Solar",
    "system output": "Systemausgangs",
    "system battery charging": "Systembatterielade",
    "system battery discharge": "Systembatterieentlade",
}

_DE_STATES = {
    "off": "Aus",
    "idle": "Leerlauf",
    "charging": "Laden",
    "discharging": "Entladen",
    "charge": "Laden",
    "discharge": "Entladen",
    "float": "Erhaltungsladung",
    "bulk": "Hauptladung",
    "absorption": "Absorption",
    "fault": "Fehler",
    "fault mode": "Fehlermodus",
    "connected": "Verbunden",
    "disconnected": "Getrennt",
    "locked": "Gesperrt",
    "not locked": "Nicht gesperrt",
    "undefined": "Nicht definiert",
    "utility first": "Netz zuerst",
    "solar first": "Solar zuerst",
    "sbu first": "SBU zuerst",
    "only solar": "Nur Solar",
    "only solar charging permitted": "Nur Solarladung erlaubt",
    "solar + utility": "Solar und Netz",
    "solar and utility": "Solar und Netz",
    "solar utility battery": "Solar, Netz, Batterie",
    "solar battery utility": "Solar, Batterie, Netz",
    "utility solar battery": "Netz, Solar, Batterie",
    "battery-load-grid": "Batterie-Last-Netz",
    "load-battery-grid": "Last-Batterie-Netz",
    "load-grid-battery": "Last-Netz-Batterie",
    "appliance": "Haushaltsgeräte",
    "ups": "USV",
    "standby mode": "Standby-Modus",
    "line mode": "Netzmodus",
    "battery mode": "Batteriemodus",
    "inverter (battery) mode": "Wechselrichtermodus (Batterie)",
    "bypass mode": "Bypass-Modus",
    "bypass": "Bypass",
    "power saving mode": "Energiesparmodus",
    "solar only": "Nur Solar",
    "single machine": "Einzelgerät",
    "power on mode": "Einschaltmodus",
    "shutdown mode": "Abschaltmodus",
    "eco mode": "ECO-Modus",
    "hybrid": "Hybrid",
    "inverter": "Wechselrichter",
    "flooded": "Nassbatterie",
    "user": "Benutzerdefiniert",
    "lithium iron phosphate": "Lithium-Eisenphosphat",
    "ternary lithium": "Lithium ternär",
    "lithium titanate": "Lithiumtitanat",
    "no error": "Kein Fehler",
    "no fault": "Keine Störung",
    "normal": "Normal",
    "abnormal": "Anormal",
    "over temperature": "Übertemperatur",
    "low power": "Geringe Leistung",
    "storage": "Lagerung",
    "external control": "Externe Steuerung",
    "starting-up": "Startet",
    "parallel output": "Parallelausgang",
    "single machine output": "Einzelgerät",
    "phase 1 of 3 phase output": "Phase 1 von 3",
    "phase 2 of 3 phase output": "Phase 2 von 3",
    "phase 3 of 3 phase output": "Phase 3 von 3",
    "phase 1 of 2 phase output": "Phase 1 von 2",
    "phase 2 of 2 phase output": "Phase 2 von 2",
    "phase 2 of 2 phase output (120°)": "Phase 2 von 2 (120°)",
    "phase 2 of 2 phase output (180°)": "Phase 2 von 2 (180°)",
    "germany": "Deutschland",
    "india": "Indien",
    "south america": "Südamerika",
    "settings": "Einstellungen",
    "device info": "Geräteinformationen",
    "cell data": "Zelldaten",
    "nothing changed": "Nichts geändert",
    "something changed": "Etwas geändert",
}

_DE_SERIES = {
    "cell_voltage": "Zellspannung {cell}",
    "cell_resistance": "Zellwiderstand {cell}",
    "cell_wire_resistance": "Leitungswiderstand Zelle {cell}",
    "cell_wire_resistance_warning": "Warnung Leitungswiderstand Zelle {cell}",
    "cell_balancing": "Zellausgleich {cell}",
    "temperature_sensor": "Temperatursensor {sensor}",
    "battery_probe_temperature": "Batterietemperatur {sensor}",
    "digital_input": "Digitaleingang {number}",
    "digital_output": "Digitalausgang {number}",
}

GERMAN = Language(
    code="de",
    phrases=_DE_PHRASES,
    quantities=_DE_QUANTITIES,
    qualifiers=_DE_QUALIFIERS,
    states=_DE_STATES,
    series=_DE_SERIES,
    energy={
        "PV energy": "PV-Energie",
        "AC output energy": "AC-Ausgangsenergie",
        "Battery charge energy": "Batterieladeenergie",
        "Battery discharge energy": "Batterieentladeenergie",
        "Grid import energy": "Netzbezug",
        "Grid export energy": "Netzeinspeisung",
    },
    periods={
        "Total {}": "{} gesamt",
        "{} this year": "{} dieses Jahr",
        "{} this month": "{} diesen Monat",
        "{} today": "{} heute",
        "{} (integrated)": "{} (integriert)",
    },
    setting="{} (Einstellung)",
    safety="{} (Sicherheitseinstellung)",
    maximum="Max. {}",
    minimum="Min. {}",
)

# --------------------------------------------------------------------------- French

_FR_PHRASES = {
    "charging": "Charge{} en cours",
    "discharging": "Décharge{} en cours",
    "charge": "Charge",
    "discharge": "Décharge",
    "state of charge": "État de charge",
    "state of health": "État de santé",
    "battery type": "Type de batterie",
    "output source priority": "Priorité de la source de sortie",
    "charger source priority": "Priorité de la source de charge",
    "solar power priority": "Priorité de la puissance solaire",
    "solar energy distribution priority": "Priorité de répartition de l'énergie solaire",
    "operation logic": "Logique de fonctionnement",
    "power balance": "Équilibrage de puissance",
    "max parallel units": "Nombre max d'unités en parallèle",
    "remaining capacity": "Capacité restante",
    "residual capacity": "Capacité restante",
    "nominal capacity": "Capacité nominale",
    "nominal battery capacity": "Capacité nominale de la batterie",
    "total capacity": "Capacité totale",
    "battery total capacity": "Capacité totale de la batterie",
    "actual battery capacity": "Capacité réelle de la batterie",
    "cycle capacity": "Capacité de cycle",
    "cell count": "Nombre de cellules",
    "number of cells": "Nombre de cellules",
    "number of batteries": "Nombre de batteries",
    "number of temperature sensors": "Nombre de capteurs de température",
    "temperature sensor count": "Nombre de capteurs de température",
    "battery strings": "Chaînes de batteries",
    "charger status": "État du chargeur",
    "charge status": "Statut de charge",
    "device status": "État de l'appareil",
    "device mode": "Mode de l'appareil",
    "working mode": "Mode de fonctionnement",
    "output mode": "Mode de sortie",
    "output model": "Modèle de sortie",
    "machine type": "Type d'appareil",
    "serial number": "Numéro de série",
    "software version": "Version du logiciel",
    "protocol version": "Version du protocole",
    "version": "Version",
    "manufacturer": "Fabricant",
    "manufacture date": "Date de fabrication",
    "production date": "Date de fabrication",
    "product name": "Nom du produit",
    "model description": "Description du modèle",
    "fault code": "Code de défaut",
    "error code": "Code d'erreur",
    "warning reason": "Raison de l'avertissement",
    "alarm reason": "Raison de l'alarme",
    "off reason": "Raison de l'arrêt",
    "uptime": "Temps de fonctionnement",
    "total runtime": "Durée de fonctionnement totale",
    "system working time": "Temps de fonctionnement du système",
    "time to go": "Autonomie restante",
    "battery remaining time": "Autonomie restante de la batterie",
    "cycle count": "Nombre de cycles",
    "charge/discharge cycles": "Cycles de charge/décharge",
    "number of charge cycles": "Nombre de cycles de charge",
    "number of full discharges": "Nombre de décharges complètes",
    "cycles": "Cycles",
    "yield today": "Production aujourd'hui",
    "yield yesterday": "Production hier",
    "yield total (user resettable)": "Production totale (réinitialisable)",
    "maximum power today": "Puissance max aujourd'hui",
    "maximum power yesterday": "Puissance max hier",
    "load output": "Alimentation des charges",
    "output load": "Charge de sortie",
    "output load percent": "Taux de charge de la sortie",
    "output power percentage": "Puissance de sortie{} en pourcentage",
    "load percentage": "Taux de charge{}",
    "work mode": "Mode de travail",
    "load status": "État des charges",
    "overload": "Surcharge",
    "overload warning": "Avertissement de surcharge",
    "overload alarm": "Alarme de surcharge",
    "overtemperature": "Surchauffe",
    "over temperature": "Surchauffe",
    "overvoltage": "Surtension",
    "undervoltage": "Sous-tension",
    "battery overvoltage": "Surtension de la batterie",
    "battery undervoltage": "Sous-tension de la batterie",
    "battery under voltage": "Sous-tension de la batterie",
    "cell overvoltage": "Surtension de cellule",
    "cell undervoltage": "Sous-tension de cellule",
    "cell overvoltage protection": "Protection contre la surtension de cellule",
    "cell undervoltage protection": "Protection contre la sous-tension de cellule",
    "cell overvoltage recovery": "Surtension de cellule (réarmement)",
    "cell undervoltage recovery": "Sous-tension de cellule (réarmement)",
    "cell overvoltage alarm": "Alarme de surtension de cellule",
    "cell undervoltage alarm": "Alarme de sous-tension de cellule",
    "charge overtemperature protection": "Protection contre la surchauffe en charge",
    "charge overtemperature recovery": "Surchauffe en charge (réarmement)",
    "charge undertemperature protection": "Protection contre la sous-température en charge",
    "charge undertemperature recovery": "Sous-température en charge (réarmement)",
    "discharge overtemperature protection": "Protection contre la surchauffe en décharge",
    "discharge overtemperature recovery": "Surchauffe en décharge (réarmement)",
    "discharge undertemperature protection": "Protection contre la sous-température en décharge",
    "discharge undertemperature recovery": "Sous-température en décharge (réarmement)",
    "charge overcurrent protection": "Protection contre la surintensité en charge",
    "discharge overcurrent protection": "Protection contre la surintensité en décharge",
    "charge overcurrent protection delay": "Délai de protection contre la surintensité en charge",
    "discharge overcurrent protection delay": (
        "Délai de protection contre la surintensité en décharge"
    ),
    "charge overcurrent": "Surintensité en charge",
    "discharge overcurrent": "Surintensité en décharge",
    "short circuit protection": "Protection contre les courts-circuits",
    "short-circuit protection delay": "Délai de protection contre les courts-circuits",
    "overtemperature protection": "Protection contre la surchauffe",
    "overtemperature recovery": "Surchauffe (réarmement)",
    "overtemperature alarm": "Alarme de surchauffe",
    "cell with max voltage": "Cellule à la tension la plus haute",
    "cell with min voltage": "Cellule à la tension la plus basse",
    "cell with max temperature": "Cellule à la température la plus haute",
    "cell with min temperature": "Cellule à la température la plus basse",
    "delta cell voltage": "Écart de tension entre cellules",
    "average cell voltage": "Tension moyenne des cellules",
    "highest cell voltage": "Tension de cellule la plus haute",
    "lowest cell voltage": "Tension de cellule la plus basse",
    "balancing": "Équilibrage",
    "balancer enabled": "Équilibreur{} activé",
    "balancer active": "Équilibreur{} actif",
    "cell balancing active": "Équilibrage des cellules{} actif",
    "charge switch": "Interrupteur de charge",
    "discharge switch": "Interrupteur de décharge",
    "balancer switch": "Interrupteur de l'équilibreur",
    "charge enabled": "Charge{} activée",
    "discharge enabled": "Décharge{} activée",
    "buzzer": "Avertisseur sonore",
    "backlight": "Rétroéclairage",
    "backlight on": "Rétroéclairage{} allumé",
    "power saving": "Mode économie d'énergie",
    "overload restart": "Redémarrage après surcharge",
    "over temperature restart": "Redémarrage après surchauffe",
    "overload bypass": "Bypass en cas de surcharge",
    "overload bypass function": "Fonction bypass en cas de surcharge",
    "silence buzzer": "Avertisseur sonore{} muet",
    "mute buzzer beep": "Bip de l'avertisseur sonore{} coupé",
    "power switch": "Interrupteur d'alimentation",
    "configuration changed": "Configuration{} modifiée",
    "firmware updated": "Firmware{} mis à jour",
    "dustproof installed": "Protection anti-poussière{} installée",
    "float charging": "Charge d'entretien",
    "heating": "Chauffage",
    "heating enabled": "Chauffage{} activé",
    "peukert exponent": "Exposant de Peukert",
    "charge efficiency factor": "Rendement de charge",
    "consumed amp hours": "Ampères-heures consommés",
    "tail current": "Courant de queue",
    "discharge floor": "Seuil de décharge",
    "current threshold": "Seuil de courant",
    "grid-tie operation": "Fonctionnement couplé au réseau",
    "solar feed to grid": "Injection solaire dans le réseau",
    "feed power to utility": "Injection dans le réseau",
    "feeding grid power": "Puissance d'injection",
    "solar feed to grid power": "Puissance d'injection solaire",
    "input voltage range": "Plage de tension d'entrée",
    "country": "Pays",
    "topology": "Topologie",
    "relay state": "État du relais",
    "fan lock": "Ventilateur{} bloqué",
    "status": "État",
    "protection": "Protection",
    "failure": "Défaillance",
    "reserved": "Réservé",
    "unknown": "Inconnu",
    "device": "Appareil",
    "low voltage alarm": "Alarme de tension basse",
    "high voltage alarm": "Alarme de tension haute",
    "low voltage warning": "Avertissement de tension basse",
    "high voltage warning": "Avertissement de tension haute",
    "low temperature alarm": "Alarme de température basse",
    "high temperature alarm": "Alarme de température haute",
    "low temperature warning": "Avertissement de température basse",
    "high temperature warning": "Avertissement de température haute",
    "low capacity alarm": "Alarme de capacité basse",
    "short circuit alarm": "Alarme de court-circuit",
    "ripple alarm": "Alarme d'ondulation",
    "ripple warning": "Avertissement d'ondulation",
    "line fail": "Perte du réseau",
    "precharging": "Précharge",
    "temperature sensor failure": "Défaillance du capteur de température",
    "inverter heat sink temperature": "Température du dissipateur de l'onduleur",
    "battery voltage from": "Tension de la batterie depuis",
    "inverter over temperature": "Surchauffe de l'onduleur",
    "emergency power off active": "Arrêt d'urgence{} actif",
    "battery disconnected": "Batterie{} déconnectée",
    "battery low": "Batterie{} faible",
    "load connection": "Raccordement des charges",
    "power direction": "Sens de la puissance",
    "battery power direction": "Sens de la puissance de la batterie",
    "line power direction": "Sens de la puissance du réseau",
}

_FR_QUANTITIES = {
    "voltage": ("Tension", "f"),
    "current": ("Courant", "m"),
    "power": ("Puissance", "f"),
    "active power": ("Puissance active", "f"),
    "apparent power": ("Puissance apparente", "f"),
    "temperature": ("Température", "f"),
    "frequency": ("Fréquence", "f"),
    "capacity": ("Capacité", "f"),
    "energy": ("Énergie", "f"),
}

_FR_QUALIFIERS = {
    "battery": "de la batterie",
    "input": "d'entrée",
    "output": "de sortie",
    "grid": "du réseau",
    "solar input": "d'entrée solaire",
    "charging": "de charge",
    "charge": "de charge",
    "discharge": "de décharge",
    "discharging": "de décharge",
    "battery charging": "de charge de la batterie",
    "battery charge": "de charge de la batterie",
    "battery discharge": "de décharge de la batterie",
    "cell": "de cellule",
    "bus": "du bus",
    "panel": "du panneau",
    "output rated": ("nominal de sortie", "nominale de sortie"),
    "output rating": ("nominal de sortie", "nominale de sortie"),
    "input rated": ("nominal d'entrée", "nominale d'entrée"),
    "battery rated": ("nominal de la batterie", "nominale de la batterie"),
    "battery rating": ("nominal de la batterie", "nominale de la batterie"),
    "output total": ("total de sortie", "totale de sortie"),
    "input total": ("total d'entrée", "totale d'entrée"),
    "total battery": ("total de la batterie", "totale de la batterie"),
    "total charging": ("total de charge", "totale de charge"),
    "total": ("total", "totale"),
    "inverter": "de l'onduleur",
    "transformer": "du transformateur",
    "charger": "du chargeur",
    "inner": ("interne", "interne"),
    "balance": "d'équilibrage",
    "acquisition": "d'acquisition",
    "battery float": "de charge d'entretien",
    "battery float charge": "de charge d'entretien",
    "battery float charging": "de charge d'entretien",
    "battery floating charge": "de charge d'entretien",
    "battery bulk": "de charge principale",
    "battery bulk charge": "de charge principale",
    "battery cut-off": "de coupure de la batterie",
    "battery re-charge": "de reprise de charge",
    "battery recharge": "de reprise de charge",
    "battery re-discharge": "de reprise de décharge",
    "battery redischarge": "de reprise de décharge",
    "solar": ("solaire", "solaire"),
    "system output": "de sortie du système",
    "system battery charging": "de charge de la batterie du système",
    "system battery discharge": "de décharge de la batterie du système",
}

_FR_STATES = {
    "off": "Arrêt",
    "idle": "Inactif",
    "charging": "En charge",
    "discharging": "En décharge",
    "charge": "Charge",
    "discharge": "Décharge",
    "float": "Entretien",
    "bulk": "Charge principale",
    "absorption": "Absorption",
    "fault": "Défaut",
    "fault mode": "Mode défaut",
    "connected": "Connecté",
    "disconnected": "Déconnecté",
    "locked": "Verrouillé",
    "not locked": "Non verrouillé",
    "undefined": "Non défini",
    "utility first": "Réseau d'abord",
    "solar first": "Solaire d'abord",
    "sbu first": "SBU d'abord",
    "only solar": "Solaire uniquement",
    "only solar charging permitted": "Charge solaire uniquement",
    "solar + utility": "Solaire et réseau",
    "solar and utility": "Solaire et réseau",
    "solar utility battery": "Solaire, réseau, batterie",
    "solar battery utility": "Solaire, batterie, réseau",
    "utility solar battery": "Réseau, solaire, batterie",
    "battery-load-grid": "Batterie-charges-réseau",
    "load-battery-grid": "Charges-batterie-réseau",
    "load-grid-battery": "Charges-réseau-batterie",
    "appliance": "Appareils ménagers",
    "ups": "ASI",
    "standby mode": "Mode veille",
    "line mode": "Mode réseau",
    "battery mode": "Mode batterie",
    "inverter (battery) mode": "Mode onduleur (batterie)",
    "bypass mode": "Mode bypass",
    "bypass": "Bypass",
    "power saving mode": "Mode économie d'énergie",
    "solar only": "Solaire uniquement",
    "single machine": "Unité seule",
    "power on mode": "Mode mise sous tension",
    "shutdown mode": "Mode arrêt",
    "eco mode": "Mode ECO",
    "hybrid": "Hybride",
    "inverter": "Onduleur",
    "flooded": "Plomb ouvert",
    "user": "Utilisateur",
    "lithium iron phosphate": "Lithium fer phosphate",
    "ternary lithium": "Lithium ternaire",
    "lithium titanate": "Titanate de lithium",
    "no error": "Aucune erreur",
    "no fault": "Aucun défaut",
    "normal": "Normal",
    "abnormal": "Anormal",
    "over temperature": "Surchauffe",
    "low power": "Faible puissance",
    "storage": "Stockage",
    "external control": "Contrôle externe",
    "starting-up": "Démarrage",
    "parallel output": "Sortie parallèle",
    "single machine output": "Unité seule",
    "phase 1 of 3 phase output": "Phase 1 sur 3",
    "phase 2 of 3 phase output": "Phase 2 sur 3",
    "phase 3 of 3 phase output": "Phase 3 sur 3",
    "phase 1 of 2 phase output": "Phase 1 sur 2",
    "phase 2 of 2 phase output": "Phase 2 sur 2",
    "phase 2 of 2 phase output (120°)": "Phase 2 sur 2 (120°)",
    "phase 2 of 2 phase output (180°)": "Phase 2 sur 2 (180°)",
    "germany": "Allemagne",
    "india": "Inde",
    "south america": "Amérique du Sud",
    "settings": "Réglages",
    "device info": "Informations de l'appareil",
    "cell data": "Données des cellules",
    "nothing changed": "Rien n'a changé",
    "something changed": "Quelque chose a changé",
}

_FR_SERIES = {
    "cell_voltage": "Tension de la cellule {cell}",
    "cell_resistance": "Résistance de la cellule {cell}",
    "cell_wire_resistance": "Résistance du câble de la cellule {cell}",
    "cell_wire_resistance_warning": "Avertissement de résistance du câble de la cellule {cell}",
    "cell_balancing": "Équilibrage de la cellule {cell}",
    "temperature_sensor": "Capteur de température {sensor}",
    "battery_probe_temperature": "Température de la batterie {sensor}",
    "digital_input": "Entrée numérique {number}",
    "digital_output": "Sortie numérique {number}",
}

FRENCH = Language(
    code="fr",
    phrases=_FR_PHRASES,
    quantities=_FR_QUANTITIES,
    qualifiers=_FR_QUALIFIERS,
    states=_FR_STATES,
    series=_FR_SERIES,
    energy={
        "PV energy": "Énergie PV",
        "AC output energy": "Énergie de sortie AC",
        "Battery charge energy": "Énergie de charge de la batterie",
        "Battery discharge energy": "Énergie de décharge de la batterie",
        "Grid import energy": "Énergie importée du réseau",
        "Grid export energy": "Énergie injectée dans le réseau",
    },
    periods={
        "Total {}": "{} totale",
        "{} this year": "{} cette année",
        "{} this month": "{} ce mois-ci",
        "{} today": "{} aujourd'hui",
        "{} (integrated)": "{} (intégrée)",
    },
    setting="{} (réglage)",
    safety="{} (réglage de sécurité)",
    maximum="{} max",
    minimum="{} min",
)

#: The languages whose ``entity`` section gen_translations.py writes.
LANGUAGES = {language.code: language for language in (GERMAN, FRENCH)}
