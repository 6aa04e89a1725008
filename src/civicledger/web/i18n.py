"""The pages' languages: message catalogues, the language of a request, numbers and dates per locale.

Text is written in English inside ``_("...")`` (templates and page code alike) and translated from
the gettext catalogues in ``civicledger/locale/<lang>/LC_MESSAGES/messages.po``. The ``.po`` files are
compiled in memory the first time a language is used (``babel.messages``), so a fresh
``pip install -e .`` serves every language with no build step and no ``.mo`` file can go stale
(docs/decisions/0011-i18n-languages-and-catalogues.md).

A request's language is chosen once, by ``LanguageMiddleware``: ``?lang=`` (remembered in a cookie),
else the ``lang`` cookie, else the best of ``Accept-Language``, else English. It is kept in a context
variable for the rest of that request only, so two requests in two languages at once never see each
other's translations: the template globals ``_``/``gettext``/``ngettext`` look the language up on
every call instead of being swapped per request on the shared Jinja environment.
"""

from __future__ import annotations

import gettext
import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol
from markupsafe import Markup

from civicledger.kernel.explain import Amount, Figure, Phrase, PhraseValue, decimal
from civicledger.kernel.money import require_units
from civicledger.kernel.time import DURATION_UNITS, duration_parts

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    """One language the pages speak: its code (``<html lang>``) and its name in itself."""

    code: str
    name: str


LANGUAGES = (Language("en", "English"), Language("es", "Español"))
"""The languages with a complete catalogue; the first is the default and the source language."""
DEFAULT = LANGUAGES[0].code
CODES = frozenset(lang.code for lang in LANGUAGES)
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

_current: ContextVar[str] = ContextVar("civicledger_language", default=DEFAULT)


def current() -> str:
    """The language of the request being answered (English outside a request)."""
    return _current.get()


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The catalogue of ``code``, compiled from its ``.po`` file once per process."""
    po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=code, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _(message: str, **values: object) -> str:
    """``message`` in the request's language, ``%(name)s`` placeholders filled from ``values``."""
    text = translations(current()).gettext(message)
    return text % values if values else text


def translate(text: str) -> str:
    """``text`` marked elsewhere with ``N_`` (a glossary term, an explanation's question or figure), in
    the request's language: looked up, not formatted (it may hold a literal ``%``), and escaped when
    shown. A ``Phrase`` is its template looked up, then filled in with its values in the reader's
    format (counts with the locale's digits, money as ``format_money`` writes it)."""
    if isinstance(text, Phrase):
        template = translations(current()).gettext(text.template)
        return template % {name: _phrase_value(value) for name, value in text.values.items()}
    return translations(current()).gettext(text) if text else text


def _phrase_value(value: PhraseValue) -> str:
    if isinstance(value, Amount):
        return format_money(value.units, value.money.decimals, value.money.symbol)
    if isinstance(value, int):
        return format_number(value)
    return value


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the request's language; ``%(num)s`` is ``n``."""
    text = translations(current()).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def negotiate(accept_language: str) -> str | None:
    """The best language of ``CODES`` for an ``Accept-Language`` header (RFC 9110 §12.5.4), or None."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in CODES and quality > 0:
            ranked.append((-quality, i, primary))
    return min(ranked)[2] if ranked else None


def choose(query_lang: str | None, cookie_lang: str | None, accept_language: str) -> str:
    """The request's language: ``?lang=``, the cookie, ``Accept-Language``, English, first that fits."""
    for candidate in (query_lang, cookie_lang):
        if candidate in CODES:
            return str(candidate)
    return negotiate(accept_language) or DEFAULT


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class LanguageMiddleware:
    """Choose each page request's language (a plain ASGI middleware: no task or stream copy) and, when
    ``?lang=`` chose it, remember it in a cookie. API and static paths are passed through untouched."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(("/api/", "/static/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        pairs = (c.partition("=") for c in headers.get("cookie", "").split(";"))
        cookies = {name.strip(): value.strip() for name, _eq, value in pairs}
        code = choose(query.get("lang"), cookies.get(COOKIE), headers.get("accept-language", ""))
        remember = query.get("lang") in CODES and cookies.get(COOKIE) != code
        token = _current.set(code)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"content-language", code.encode()), (b"vary", b"Accept-Language, Cookie")]
                if remember:
                    cookie = f"{COOKIE}={code}; Path=/; Max-Age={COOKIE_MAX_AGE}; SameSite=Lax"
                    extra.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _current.reset(token)


def format_figure(figure: Figure) -> str:
    """An explanation's figure (``Figure.shown``) in the request's language: money in major units, a
    duration in its words, a fraction as a rounded decimal and exactly, a count grouped."""
    value = figure.value
    if figure.money is not None and isinstance(value, int):
        return format_money(value, figure.money.decimals, figure.money.symbol)
    if figure.seconds:
        return format_duration(int(value))
    if isinstance(value, Fraction) and value.denominator != 1:
        places = 4 if abs(value) < 1 else 2  # as ``Figure.shown``: rounded there, only spelled here
        rounded = Decimal(decimal(value, places))
        with localcontext(Context(prec=len(str(rounded)) + 2)):
            text = format_decimal(rounded, format="#,##0." + "0" * places, locale=current())
        return f"{text} ({value})"
    return format_number(int(value))


def format_duration(seconds: int) -> str:
    """``kernel.time.format_duration`` in the request's language: "90 days", "90 días"."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return ngettext("%(num)s second", "%(num)s seconds", 0, num=format_number(0))
    return " ".join(_duration_part(n, unit, format_number(n)) for n, unit in duration_parts(seconds))


def editable_duration(seconds: int) -> str:
    """A duration (>= 0) to edit, in the request's language, every part and plain digits, so that
    the council page's reader (``static/council.js``) reads it back to the same seconds: "1 día 6
    horas 30 segundos"."""
    if seconds <= 0:
        return ngettext("%(num)s second", "%(num)s seconds", 0, num="0")
    return " ".join(_duration_part(n, unit, str(n)) for n, unit in duration_parts(seconds, most=len(DURATION_UNITS)))


def _duration_part(n: int, unit: str, num: str) -> str:
    if unit == "year":
        return ngettext("%(num)s year", "%(num)s years", n, num=num)
    if unit == "day":
        return ngettext("%(num)s day", "%(num)s days", n, num=num)
    if unit == "hour":
        return ngettext("%(num)s hour", "%(num)s hours", n, num=num)
    if unit == "minute":
        return ngettext("%(num)s minute", "%(num)s minutes", n, num=num)
    return ngettext("%(num)s second", "%(num)s seconds", n, num=num)


def format_number(value: object) -> str:
    """A number for people in the request's locale (``14,117`` / ``14.117``), exact: ints, decimals and
    fractions that end are shown in full, never through a float; anything else is shown as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    try:
        text = str(value)
        exact = _fraction_decimal(Fraction(text)) if isinstance(value, Fraction) or "/" in text else Decimal(text)
    except (ArithmeticError, ValueError):
        return str(value)
    if exact is None or not exact.is_finite():
        return str(value)
    return format_decimal(exact, locale=current(), decimal_quantization=False, group_separator=True)


def _fraction_decimal(value: Fraction) -> Decimal | None:
    text = str(value)
    if "/" not in text:
        return Decimal(text)
    return Decimal(value.numerator) / Decimal(value.denominator) if _terminates(value.denominator) else None


def _terminates(denominator: int) -> bool:
    for p in (2, 5):
        while denominator % p == 0:
            denominator //= p
    return denominator == 1


def format_money(units: object, decimals: int, symbol: str = "", *, grouped: bool = True) -> str:
    """Minor units as major units with the currency's symbol, in the request's locale, exactly (X3):
    ``xi 12,000.00`` in English, ``xi 12.000,00`` in Spanish (docs/decisions/0010). Not ``grouped``:
    an amount to edit, which the council page's reader takes back exactly ("12000,00")."""
    whole = require_units(units)
    # Decimal's default context keeps 28 digits: a context as wide as the amount keeps every digit.
    with localcontext(Context(prec=len(str(abs(whole))) + decimals + 2)):
        amount = Decimal(whole).scaleb(-decimals)
        pattern = ("#,##0" if grouped else "0") + ("." + "0" * decimals if decimals else "")
        text = format_decimal(amount, format=pattern, locale=current(), decimal_quantization=False)
    return f"{symbol} {text}".strip() if symbol else text


def number_format_json() -> Markup:
    """The request locale's separators for ``<script id="number-format">``: the scripts' ``money.js``
    formats amounts with them exactly as ``format_money`` does (X3, docs/web.md)."""
    code = current()
    symbols = {"group": get_group_symbol(code), "decimal": get_decimal_symbol(code)}
    return Markup(json.dumps(symbols, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c"))


def format_time(seconds: object) -> str:
    """A journal time (UTC seconds, X4) as a date and time in the request's locale, marked UTC."""
    if seconds is None or seconds == "":
        return ""
    moment = datetime.fromtimestamp(int(str(seconds)), tz=UTC)
    return format_datetime(moment, "medium", tzinfo=UTC, locale=current()) + " UTC"


def messages_json(strings: dict[str, str]) -> Markup:
    """The strings a page's JavaScript shows, already translated, for ``<script id="messages">``."""
    text = json.dumps(strings, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
    return Markup(text)
