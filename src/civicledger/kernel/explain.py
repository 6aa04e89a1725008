"""Why a number is what it is: one typed record shared by every mechanism's explain functions.

A rule makes a number (a grade, a delta, a price, the most a payment can carry) from inputs. An
``Explanation`` names the rule, lists the inputs, walks the steps from them to the result, and is
what the CLI (``civic <mechanism> explain ...``), the pages (``/explain/...``) and the API
(``/api/explain/...``) all show, so the three can never disagree. Each figure keeps its exact value
(an integer, or a fraction written ``a/b``); an amount of money also carries how it reads in major
units, so people read "xi 141.17" while ``--json`` and the API keep the exact minor units (X3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from civicledger.kernel.canonical import JSONObject
from civicledger.kernel.money import format_units
from civicledger.kernel.time import format_duration


def N_(message: str, **values: PhraseValue) -> str:
    """Mark ``message`` for the pages' catalogues and return it unchanged (docs/web.md, Translating).

    Explanations, glossary terms and rule texts are written here and in the mechanisms, which must not
    import the web layer; the extractor collects ``N_("...")`` and the pages translate the text when
    they show it, so the CLI and the API keep the English original. A text made with data names its
    places (``N_("%(holder)s holds %(issuer)s's coins", holder=..., issuer=...)``) and is a
    ``Phrase``: the English text, filled in, wherever a string goes; the pages translate the
    template and fill in the values in the reader's format."""
    return Phrase(message, values) if values else message


@dataclass(frozen=True, slots=True)
class Money:
    """How an amount of minor units reads: its currency's decimals and symbol (X3)."""

    decimals: int
    symbol: str = ""
    currency: str = ""

    def format(self, units: int) -> str:
        return format_units(units, self.decimals, f"{self.symbol} " if self.symbol else "")


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount of money in a phrase: minor units and how they read (X3)."""

    units: int
    money: Money

    def __str__(self) -> str:
        return self.money.format(self.units)


PhraseValue = int | str | Amount
"""What fills a phrase's place: a count (read with the reader's digits), text (as it is: a name, an
id, a unit), or an amount of money."""


class Phrase(str):
    """A text made from a translatable template and its values (``N_`` with values). As a string it
    is the English text filled in, so the CLI, ``--json`` and the API read what they always read;
    ``web.i18n.translate`` translates ``template`` and fills in ``values`` for the reader."""

    template: str
    values: dict[str, PhraseValue]

    def __new__(cls, template: str, values: dict[str, PhraseValue]) -> Phrase:
        phrase = super().__new__(cls, template % {name: english(value) for name, value in values.items()})
        phrase.template, phrase.values = template, dict(values)
        return phrase

    def __reduce__(self) -> tuple[type[Phrase], tuple[str, dict[str, PhraseValue]]]:
        return (Phrase, (self.template, self.values))


def english(value: PhraseValue) -> str:
    """A phrase's value as the English text reads it: a count grouped by commas ("14,117")."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def exact(value: int | Fraction) -> str:
    """An exact number as text: ``20``, ``-1/6``."""
    return str(value)


def decimal(value: int | Fraction, places: int = 2) -> str:
    """A ratio for reading, rounded half away from zero (``40/3`` -> "13.33"); never used to compute."""
    f = Fraction(value)
    scaled = abs(f) * 10**places
    whole = int(scaled + Fraction(1, 2))
    sign = "-" if f < 0 and whole else ""
    text = f"{whole // 10**places}" + (f".{whole % 10**places:0{places}d}" if places else "")
    return sign + text


@dataclass(frozen=True, slots=True)
class Figure:
    """One named number: an input, an intermediate step or the result.

    ``value`` is exact (an integer or a fraction); when ``money`` is set, ``value`` is an integer of
    minor units. ``formula`` says how a step is made from the figures before it, by their names."""

    name: str
    value: int | Fraction
    meaning: str = ""
    formula: str = ""
    money: Money | None = None
    rule: str = ""
    seconds: bool = False
    """The value is a duration in seconds: it reads in years, days and hours (X4)."""

    def shown(self) -> str:
        """The value as people read it: money in major units, a fraction also as a decimal."""
        if self.money is not None and isinstance(self.value, int):
            return self.money.format(self.value)
        if self.seconds:
            return format_duration(int(self.value))
        if isinstance(self.value, Fraction) and self.value.denominator != 1:
            return f"{decimal(self.value, 4 if abs(self.value) < 1 else 2)} ({self.value})"
        return f"{int(self.value):,}"

    def to_wire(self) -> JSONObject:
        out: JSONObject = {"name": self.name, "value": exact(self.value), "meaning": self.meaning}
        if self.formula:
            out["formula"] = self.formula
        if self.rule:
            out["rule"] = self.rule
        if self.seconds:
            out["seconds"] = int(self.value)
        if self.money is not None:
            out["units"] = int(self.value)
            out["currency"] = self.money.currency
            out["decimals"] = self.money.decimals
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why ``result`` is what it is at ``at``: the rule, the inputs and the steps (SC11, GR5, CR11, CI9)."""

    rule: str
    question: str
    subject: str
    at: int
    inputs: tuple[Figure, ...]
    steps: tuple[Figure, ...]
    result: Figure
    notes: tuple[str, ...] = field(default=())

    def to_wire(self) -> JSONObject:
        return {
            "rule": self.rule,
            "question": self.question,
            "subject": self.subject,
            "at": self.at,
            "inputs": [f.to_wire() for f in self.inputs],
            "steps": [f.to_wire() for f in self.steps],
            "result": self.result.to_wire(),
            "notes": list(self.notes),
        }
