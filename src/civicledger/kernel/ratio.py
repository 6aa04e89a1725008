"""Exact ratios for policies: growth rates, percentages, shares, never floats (X3, X7)."""

from __future__ import annotations

from fractions import Fraction


class Ratio(Fraction):
    """An exact fraction in a policy; parses '5%', '0.05', '1/20'; encodes as 'n/d'."""

    @staticmethod
    def parse(value: object) -> Ratio:
        if isinstance(value, bool):
            raise ValueError("a ratio is a number, not true/false")
        if isinstance(value, (int, Fraction)):
            return Ratio(value)
        if isinstance(value, float):
            return Ratio(Fraction(repr(value)))
        if isinstance(value, str):
            text = value.strip()
            if text.endswith("%"):
                return Ratio(Fraction(text[:-1].strip()) / 100)
            return Ratio(Fraction(text))
        raise ValueError(f"{value!r} is not a ratio")

    def encode(self) -> str:
        return f"{self.numerator}/{self.denominator}"
