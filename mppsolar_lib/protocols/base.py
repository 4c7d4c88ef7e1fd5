"""The protocol base class: command lookup, parameter validation, request building and decoding.

Subclasses provide the framing (:meth:`Protocol.frame` and :meth:`Protocol.unframe`, or
:meth:`Protocol.read` for binary answers) and a command table; everything else (lookup of
parameterised commands, caching, the layout walk) lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import dataclasses
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from mppsolar_lib.errors import FrameError, ProtocolError, UnknownCommandError, did_you_mean
from mppsolar_lib.protocols.command import Command
from mppsolar_lib.protocols.fields import Out, Result, Spec

if TYPE_CHECKING:
    from .settings import Setting

_CACHE_LIMIT = 512


def table(*commands: Command, base: Mapping[str, Command] | None = None) -> dict[str, Command]:
    """Build a command table: ``base`` (a parent protocol's table) extended or overridden by ``commands``."""
    result = dict(base or {})
    for command in commands:
        result[command.name] = command
    return result


def derive(
    base: Command,
    replace: Mapping[str, Spec] | None = None,
    append: Sequence[Spec] = (),
    description: str | None = None,
) -> Command:
    """Derive a command from ``base``: specs keyed in ``replace`` swapped, ``append`` added.

    Unchanged specs stay the very objects of ``base``; a key that ``base`` does not have is a
    table bug and raises at import time.
    """
    replace = dict(replace or {})
    missing = set(replace) - {spec.key for spec in base.fields}
    if missing:
        raise KeyError(f"{base.name} has no field(s) {sorted(missing)}")
    fields = tuple(replace.get(spec.key, spec) for spec in base.fields) + tuple(append)
    return dataclasses.replace(base, fields=fields, description=description or base.description)


class Protocol:
    """A device protocol: a command table plus a framing.

    Instances are immutable after construction and safe to share between devices.
    """

    #: Registry id, lower case as the reference names it (``"pi30"``).
    id: ClassVar[str]
    #: One line for humans.
    description: ClassVar[str]
    #: All commands by name.
    commands: ClassVar[Mapping[str, Command]]
    #: The settings model (user-settable parameters) by key.
    settings: ClassVar[Mapping[str, Setting]] = MappingProxyType({})
    #: Commands polled for live status, for current settings, and to identify the device.
    status_commands: ClassVar[tuple[str, ...]] = ()
    settings_commands: ClassVar[tuple[str, ...]] = ()
    id_commands: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        """Prepare the lookup structures."""
        # Parameterised commands, longest name first, so POPLG wins over POP.
        self._prefixed = sorted(
            (c for c in self.commands.values() if c.param is not None),
            key=lambda c: len(c.name),
            reverse=True,
        )
        self._upper = {name.upper(): c for name, c in self.commands.items()}
        self._resolved: dict[str, tuple[Command, str]] = {}
        self._requests: dict[str, bytes] = {}

    def __repr__(self) -> str:
        """Protocol id."""
        return f"<{type(self).__name__} {self.id}>"

    # -- lookup -----------------------------------------------------------------------------

    def resolve(self, command: str) -> tuple[Command, str]:
        """Find the definition for a command string and its parameter text, validated.

        ``"POP02"`` -> (POP, ``"02"``). Raises :class:`UnknownCommandError` or
        :class:`~mppsolar_lib.errors.InvalidParameterError` (saying what is allowed).
        """
        cached = self._resolved.get(command)
        if cached is not None:
            return cached
        resolved = self._resolve(command)
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.clear()
        self._resolved[command] = resolved
        return resolved

    def _resolve(self, command: str) -> tuple[Command, str]:
        definition = self.commands.get(command) or self._upper.get(command.upper())
        if definition is not None:
            definition.validate("")
            return definition, ""
        upper = command.upper()
        for candidate in self._prefixed:
            if upper.startswith(candidate.name.upper()):
                text = command[len(candidate.name) :]
                candidate.validate(text)
                return candidate, text
        hint = did_you_mean(upper, self._upper)
        hint = f"; {hint}" if hint else ""
        raise UnknownCommandError(f"{self.id} has no command {command!r}{hint}")

    def command_text(self, command: str) -> str:
        """Return the canonical text sent for ``command`` (name as defined + parameter)."""
        definition, text = self.resolve(command)
        return definition.name + text

    # -- requests ---------------------------------------------------------------------------

    def build_request(self, command: str) -> bytes:
        """Return the complete request frame for ``command`` (checksum, prefix, terminator)."""
        frame = self._requests.get(command)
        if frame is None:
            definition, text = self.resolve(command)
            frame = self.frame(definition, definition.name + text)
            if len(self._requests) >= _CACHE_LIMIT:
                self._requests.clear()
            self._requests[command] = frame
        return frame

    def frame(self, command: Command, text: str) -> bytes:
        """Wrap ``text`` in this protocol's request framing."""
        raise NotImplementedError

    # -- responses --------------------------------------------------------------------------

    def decode(self, command: str, frame: bytes) -> Result:
        """Validate ``frame`` (answer to ``command``) and decode its fields.

        Raises a :class:`ProtocolError` subclass for anything it cannot read; never returns
        placeholder zeros.
        """
        definition, _ = self.resolve(command)
        try:
            fields = self.read(definition, frame, command)
        except ProtocolError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, UnicodeError) as err:
            # Table bugs or frames no check foresaw must still surface as protocol errors.
            raise FrameError(f"{command}: cannot decode {frame!r}: {err}") from err
        return Result(definition.name, fields, frame, definition.info)

    def answer_length(self, command: str, buffer: bytes) -> int | None:
        """Return how many bytes of ``buffer`` make the complete answer to ``command``.

        ``None`` means "not complete yet, read more". Transports call this on what they have
        received so far, so they stop reading exactly at the frame end instead of sleeping. The
        default suits CR-terminated answers (a few firmwares end with LF); framings with length
        fields or fixed sizes override it. It never raises: a malformed frame is handed to
        :meth:`decode`, which says what is wrong with it.
        """
        for index, byte in enumerate(buffer):
            if byte in (0x0D, 0x0A):
                return index + 1
        return None

    def read(self, command: Command, frame: bytes, sent: str) -> Out:
        """Check ``frame`` and decode its fields (text protocols: :meth:`unframe` + :meth:`parse`).

        Binary and streaming protocols override this; builtin errors raised here are wrapped
        into :class:`FrameError` by :meth:`decode`.
        """
        return self.parse(command, self.unframe(command, frame, sent))

    def unframe(self, command: Command, frame: bytes, sent: str) -> str:
        """Check the framing of ``frame`` and return its payload text."""
        raise NotImplementedError

    def parse(self, command: Command, payload: str) -> Out:
        """Walk the command's layout over the space-separated payload tokens."""
        return walk(command.fields, payload.split(" "), command.rest_index, " ")

    def answer_time(self, command: str) -> float:
        """Return the seconds the device itself may take before an answer to ``command`` is whole.

        A device that talks at its own pace (VE.Direct text: a block a second) cannot answer
        sooner, whatever timeout the host chose; the ``Device`` waits at least this long. The
        default, ``0``, is for devices that answer as fast as they can.
        """
        return 0.0

    # -- status polling ----------------------------------------------------------------------

    def status_request(self, command: str, answers: Mapping[str, Result]) -> str:
        """Return what to send to poll the status command ``command``.

        ``answers`` holds the status answers known so far by status command: this poll's, and
        the previous poll's for the others. A protocol whose best request depends on an earlier
        answer overrides this (Daly asks for exactly the cells its ``status`` answer counts);
        the answer is still reported under ``command``. The default sends ``command`` itself.
        """
        return command

    # -- reply matching ---------------------------------------------------------------------

    def matches(self, command: str, answer: bytes | Result) -> bool:
        """Whether ``answer`` (a frame, or its decoded :class:`Result`) is an answer to ``command``.

        A device that answered an earlier command late (after its timeout) puts that answer in
        front of the next command's; it may well be a valid frame. This is the check that keeps
        it from being decoded as the wrong command: the answer must decode (a frame that does
        not, NAK included, does not match), and where the framing can tell
        (:meth:`answer_tokens`), its number of values must fit the command's layout
        (:func:`fits`). Binary framings carry the command's id and length in every frame, so
        decoding is the whole check for them. Protocols with a better signal override this.
        """
        if not isinstance(answer, Result):
            try:
                answer = self.decode(command, answer)
            except ProtocolError:
                return False
        definition, _ = self.resolve(command)
        shape = self.answer_tokens(definition, answer.raw, command)
        return shape is None or fits(*shape)

    def answer_tokens(
        self, command: Command, frame: bytes, sent: str
    ) -> tuple[Sequence[Spec], list[str]] | None:
        """Return the layout ``frame``'s payload is walked with and the payload's tokens.

        ``None`` (the default) says the framing identifies the answer by itself (binary records
        with an id and a length). Text framings override this; ``frame`` has been decoded
        successfully already.
        """
        return None

    # -- introspection ----------------------------------------------------------------------

    def list_commands(self) -> Iterable[Command]:
        """All commands in table order."""
        return self.commands.values()


def walk(specs: Sequence[Spec], tokens: list[str], rest: int | None, separator: str) -> Out:
    """Decode ``tokens`` with ``specs`` in order; the spec at ``rest`` takes all that is left.

    Tokens beyond the layout are kept by position (:func:`unknown`); a short answer simply
    gives fewer fields.
    """
    out: Out = {}
    if rest is not None and len(tokens) > rest:
        for spec, token in zip(specs[:rest], tokens, strict=False):
            spec.decode(token, out)
        specs[rest].decode(separator.join(tokens[rest:]), out)
        return out
    # zip() rather than indexing: this loop runs for every field of every poll.
    for spec, token in zip(specs, tokens, strict=False):
        spec.decode(token, out)
    for index in range(len(specs), len(tokens)):
        if tokens[index]:
            unknown(index, tokens[index], out)
    return out


def fits(specs: Sequence[Spec], tokens: Sequence[str]) -> bool:
    """Whether an answer of ``tokens`` has the shape of the layout ``specs``.

    Real firmwares vary: the vectors hold answers with up to a third fewer values than the
    layout describes (older firmware, e.g. BATS 18 of 23, QPIRI 25 of 28) and one more (a
    field the table does not know), so the window is ``len(specs) - max(2, len // 3)`` to
    ``len(specs) + max(1, len // 8)`` values. A free-text field at the end (:class:`Rest`)
    takes any number. A one-value layout may receive a list of like values (QMCHGCR: ``010
    020 030 …``, every token of the same shape). What passes this check is a look-alike: two
    commands answered with the same number of values, or single values of the same shape,
    cannot be told apart by shape.
    """
    described = len(specs)
    count = len(tokens)
    rest = next((index for index, spec in enumerate(specs) if spec.takes_rest), None)
    if rest is not None:
        return count >= rest + 1 - max(2, (rest + 1) // 3)
    if count < described - max(2, described // 3):
        return False
    extra = [token for token in tokens[described:] if token]
    if described == 1 and extra:
        shape = _shape(tokens[0])
        return all(_shape(token) == shape for token in extra)
    return len(extra) <= max(1, described // 8)


_SHAPES = str.maketrans(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "9" * 10 + "a" * 52
)


def _shape(token: str) -> str:
    """``"010"`` -> ``"999"``, ``"PI30"`` -> ``"aa99"``: what a list's items have in common."""
    return token.translate(_SHAPES)


def unknown(index: int, token: str, out: Out) -> None:
    """Keep a token the table does not describe, keyed by its position as the reference does."""
    out[f"unknown_value_in_response_{index}"] = token


def spec_keys(specs: Iterable[Spec]) -> list[str]:
    """All field keys a layout can produce."""
    return [key for spec in specs for key in spec.field_keys()]
