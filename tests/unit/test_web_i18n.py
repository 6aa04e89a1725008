"""The pages' languages (docs/web.md, Translating): which language a request gets, exact numbers and
money per locale, catalogues complete and in step with the sources, and no template text left
outside ``_()``.

The catalogue tests are meant to fail after a merge that adds page text: the failure lists the
msgids to extract (``pybabel extract``/``update``) or to translate.
"""

from __future__ import annotations

import ast
import asyncio
import json
import pickle
import re
import threading
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import i18n as i18n_extension

from civicledger.kernel.explain import N_, Amount, Figure, Money
from civicledger.kernel.time import DAY, HOUR, MINUTE, YEAR, format_duration
from civicledger.web import i18n
from civicledger.web.site import _templates

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "civicledger"
POT = SRC / "locale" / "messages.pot"
OTHER = [lang.code for lang in i18n.LANGUAGES if lang.code != i18n.DEFAULT]


def _in(code: str) -> object:
    """Run the rest of a test in language ``code`` (as the middleware does for a request)."""
    return i18n._current.set(code)


# --- which language a request gets -------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("de-DE,es;q=0.5,en;q=0.8", "en"),  # quality decides, not order
        ("de-DE, es-MX;q=0.3", "es"),
        ("en-GB", "en"),
        ("fr, de", None),
        ("es;q=0", None),  # q=0 means "not this one"
        ("es;q=abc", None),
        ("", None),
    ],
)
def test_accept_language_picks_the_best_language_we_have(header: str, expected: str | None) -> None:
    assert i18n.negotiate(header) == expected


def test_the_query_beats_the_cookie_beats_the_header() -> None:
    assert i18n.choose("es", "en", "en") == "es"
    assert i18n.choose(None, "es", "en") == "es"
    assert i18n.choose("xx", None, "es-AR") == "es"  # an unknown ?lang= is ignored
    assert i18n.choose(None, None, "fr") == "en"


async def _page(scope: i18n.Scope, receive: i18n.Receive, send: i18n.Send) -> None:
    """A page that answers its own title in the request's language."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": i18n._("Journal").encode()})


class _Browser:
    """Requests to ``LanguageMiddleware`` over ASGI, keeping the cookie it sets, as a browser would."""

    def __init__(self) -> None:
        self.cookie = ""
        self.app = i18n.LanguageMiddleware(_page)

    def get(self, target: str, accept_language: str = "") -> tuple[str, dict[str, str]]:
        path, _sep, query = target.partition("?")
        headers = [(b"accept-language", accept_language.encode()), (b"cookie", self.cookie.encode())]
        scope = {"type": "http", "path": path, "query_string": query.encode(), "headers": headers}
        sent: list[i18n.Message] = []

        async def receive() -> i18n.Message:
            return {"type": "http.request", "body": b""}

        async def send(message: i18n.Message) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        answer = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        if "set-cookie" in answer:
            self.cookie = answer["set-cookie"].split(";")[0]
        return sent[1]["body"].decode(), answer


def test_the_middleware_translates_a_request_and_remembers_lang_in_a_cookie() -> None:
    browser = _Browser()
    assert browser.get("/journal", "es")[0] == "Diario"
    body, headers = browser.get("/journal?lang=es", "en")
    assert body == "Diario" and headers["content-language"] == "es" and "lang=es" in headers["set-cookie"]
    assert browser.get("/journal", "en")[0] == "Diario"  # the cookie is sent back, and beats the header
    assert browser.get("/journal?lang=en")[0] == "Journal"
    assert browser.get("/journal", "es")[0] == "Journal"
    body, headers = browser.get("/api/journal?lang=es")
    assert body == "Journal" and "content-language" not in headers  # the API is left alone
    assert i18n.current() == "en"  # nothing leaks out of a request


def test_two_languages_render_at_once_without_mixing() -> None:
    """The shared Jinja environment looks the language up on each call: threads rendering in
    English and Spanish at the same time each get their own (no swapped globals, no race)."""
    env = _templates().env
    template = env.from_string('{{ _("Journal") }} {{ ngettext("%(num)s hash", "%(num)s hashes", n) }}')
    results: dict[str, set[str]] = {"en": set(), "es": set()}
    barrier = threading.Barrier(4)

    def render(code: str) -> None:
        i18n._current.set(code)  # each thread has its own context
        barrier.wait()
        for n in range(200):
            results[code].add(template.render(n=2 + n % 2))

    threads = [threading.Thread(target=render, args=(code,)) for code in ("en", "es", "en", "es")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"en": {"Journal 2 hashes", "Journal 3 hashes"}, "es": {"Diario 2 hashes", "Diario 3 hashes"}}


# --- numbers, money and dates ---------------------------------------------------------------


def test_money_is_exact_in_every_locale() -> None:
    huge = 10**24 + 7  # beyond a float's 53 bits: any float on the way would lose the 7
    token = _in("en")
    try:
        assert i18n.format_money(huge, 2, "xi") == "xi 10,000,000,000,000,000,000,000.07"
        assert i18n.format_money(-150, 2, "xi") == "xi -1.50"
        assert i18n.format_money(5, 0) == "5"
        widest = 2**127 - 1  # 39 digits: past Decimal's default 28-digit context, still every digit
        assert i18n.format_money(widest, 18).replace(",", "") == f"{widest // 10**18}.{widest % 10**18:018d}"
        i18n._current.set("es")
        assert i18n.format_money(huge, 2, "xi") == "xi 10.000.000.000.000.000.000.000,07"
        assert i18n.format_money(1_200_000, 2, "xi") == "xi 12.000,00"
        with pytest.raises(Exception, match="X3"):
            i18n.format_money(1.5, 2, "xi")
    finally:
        i18n._current.reset(token)  # type: ignore[arg-type]


def test_numbers_are_grouped_per_locale_and_never_rounded() -> None:
    token = _in("es")
    try:
        assert i18n.format_number(14117) == "14.117"
        assert i18n.format_number("141.17") == "141,17"
        assert i18n.format_number("1/8") == "0,125"  # a fraction that ends is shown whole
        assert i18n.format_number("800/999") == "800/999"  # one that does not is left as it is
        assert i18n.format_number(None) == ""
        assert i18n.format_time(0) == "1 ene 1970, 0:00:00 UTC"
        i18n._current.set("en")
        assert i18n.format_number(12345678901234567890123) == "12,345,678,901,234,567,890,123"
        assert i18n.format_time(0) == "Jan 1, 1970, 12:00:00\u202fAM UTC"
    finally:
        i18n._current.reset(token)  # type: ignore[arg-type]


# --- catalogues --------------------------------------------------------------------------------


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _key(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def test_the_template_catalogue_holds_every_string_of_the_sources() -> None:
    """``messages.pot`` is what ``pybabel extract -F babel.cfg`` finds now: a ``_()`` or ``N_()`` added
    without re-extracting fails here, with the strings to add."""
    method_map = [
        ("src/civicledger/web/**.py", "python"),
        ("src/civicledger/mechanisms/*/pages.py", "python"),
        ("src/civicledger/mechanisms/*/queries.py", "python"),
        ("src/civicledger/web/templates/**.html", "jinja2"),
        ("src/civicledger/mechanisms/*/templates/**.html", "jinja2"),
    ]
    options = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in method_map if method == "jinja2"}
    found = {
        _key(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(REPO), method_map, options, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
        )
    }
    pot = {_key(m.id) for m in _catalog(POT) if m.id}
    assert not found - pot, f"not in messages.pot (run pybabel extract, then update): {sorted(found - pot)}"
    assert not pot - found, f"in messages.pot but no longer in the sources: {sorted(pot - found)}"


BRACES = re.compile(r"\{\w+\}")
PERCENT = re.compile(r"%(?:\(\w+\))?[sdrf%]")


@pytest.mark.parametrize("code", [lang.code for lang in i18n.LANGUAGES])
def test_every_message_is_translated_with_the_same_placeholders(code: str) -> None:
    po = SRC / "locale" / code / "LC_MESSAGES" / "messages.po"
    catalog = _catalog(po)
    translated = {_key(m.id): m for m in catalog if m.id}
    missing, broken = [], []
    for message in _catalog(POT):
        if not message.id:
            continue
        found = translated.get(_key(message.id))
        strings = found.string if found else None
        texts = [strings] if isinstance(strings, str) else list(strings or [])
        if not texts or not all(texts) or (found is not None and found.fuzzy):
            missing.append(_key(message.id))
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        for text in texts:
            for pattern in (BRACES, PERCENT):
                if sorted(pattern.findall(text)) != sorted(pattern.findall(ids[-1])):
                    broken.append((ids[-1], text))
    assert not missing, f"{len(missing)} messages without a {code} translation: {missing}"
    assert not broken, f"placeholders differ: {broken}"
    assert not list(catalog.check()), list(catalog.check())  # Babel's own checks (python-format)


# --- no template text outside _() ----------------------------------------------------------------

ALLOWED = {"civicledger", "GET", "API"}
"""Words shown as they are in every language: the product's name and protocol words."""
SYMBOL = re.compile(r"(?:X|CI|SC|GR|CR|IN)\d+(?:-(?:X|CI|SC|GR|CR|IN)\d+)?|[A-Za-z]")
"""Rule ids (CR10, CR10-CR12) and one-letter symbols of the formulas (G, V, S, k) read the same in every language."""
VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label", "summary"}
UNTRANSLATED_ELEMENTS = {"script", "style", "code", "pre"}


class _TextFinder(HTMLParser):
    """Collects text that a reader would see and that is not produced by a Jinja expression."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in UNTRANSLATED_ELEMENTS:
            self.skipping.append(tag)
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self._check(value)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._check(data)

    def _check(self, text: str) -> None:
        found = re.findall(r"[^\W\d_][\w'-]*", text.replace("\x00", " "))
        words = [w for w in found if w not in ALLOWED and not SYMBOL.fullmatch(w)]
        if words:
            self.found.append(" ".join(text.replace("\x00", "…").split()))


def untranslated(source: str) -> list[str]:
    """The visible text of a template outside ``{{ ... }}``/``{% ... %}`` (each replaced by a mark),
    with letters in it: text a reader would see in English whatever their language."""
    env = Environment(extensions=[i18n_extension])
    literal: list[str] = []
    in_trans = False
    for _line, token, value in env.lex(source):
        if token == "block_begin":
            literal.append("\x00")
        if token == "name" and value in {"trans", "pluralize"}:
            in_trans = True
        if token == "name" and value == "endtrans":
            in_trans = False
        if token == "data" and not in_trans:
            literal.append(value)
        elif token in {"variable_begin", "comment_begin"}:
            literal.append("\x00")
    finder = _TextFinder()
    finder.feed("".join(literal))
    finder.close()
    return finder.found


TEMPLATES = sorted([*(SRC / "web" / "templates").rglob("*.html"), *(SRC / "mechanisms").glob("*/templates/**/*.html")])


def test_the_checker_sees_untranslated_text() -> None:
    assert untranslated('<h1>Journal</h1><p title="a hint">{{ _("ok") }}</p>') == ["Journal", "a hint"]
    assert untranslated('<p>{{ n }} entries</p><input placeholder="e.g. maya">') == ["… entries", "e.g. maya"]
    assert untranslated('<p>{{ _("ok") }} <code>civic init</code> · {{ x }}</p>{% trans %}Fine{% endtrans %}') == []
    assert untranslated("<script>const words = 1;</script><h2>#</h2>") == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_template_shows_text_outside_gettext(template: Path) -> None:
    assert untranslated(template.read_text()) == []


def test_texts_marked_outside_the_web_layer_are_translated_when_shown_never_formatted() -> None:
    """``N_`` returns its text unchanged (the CLI and API keep English); ``translate`` looks it up in
    the request's language without ``%`` formatting, and leaves an empty text empty (not the header)."""
    rate = N_("The rate grows by g a year (5% by default).")
    assert rate == "The rate grows by g a year (5% by default)."
    token = _in("es")
    try:
        assert i18n.translate(rate) == "El ritmo crece g al año (5% por defecto)."
        assert i18n.translate("Why is this company's delta what it is?").startswith("¿Por qué la delta")
        assert i18n.translate("") == ""
        assert i18n.translate("not a message") == "not a message"
    finally:
        i18n._current.reset(token)  # type: ignore[arg-type]
    assert i18n.translate(rate) == rate


def test_x04_durations_read_in_the_pages_language() -> None:
    """X4's durations on the pages: the units in the reader's language, the count in its number format."""
    token = i18n._current.set("es")
    try:
        assert i18n.format_duration(90 * DAY) == "90 días"
        assert i18n.format_duration(DAY + 6 * HOUR) == "1 día 6 horas"
        assert i18n.format_duration(1_500 * YEAR) == "1.500 años"
        assert i18n.format_duration(0) == "0 segundos"
        assert i18n.format_duration(-MINUTE) == "-1 minuto"
    finally:
        i18n._current.reset(token)
    for seconds in (0, 1, 59, MINUTE, 90 * DAY, DAY + 6 * HOUR, 3 * YEAR + 2 * DAY + 5, 1_500 * YEAR, -HOUR):
        assert i18n.format_duration(seconds) == format_duration(seconds)  # English as the kernel says it


def test_x04_a_duration_to_edit_keeps_every_part_in_the_pages_language() -> None:
    """The council form's prefilled duration: every part, so it reads back to the same seconds, in
    the reader's words and with plain digits (``static/council.js`` reads both languages)."""
    month = 2_629_746  # X4's month: 30 days 10 hours 29 minutes 6 seconds
    token = i18n._current.set("es")
    try:
        assert i18n.editable_duration(month) == "30 días 10 horas 29 minutos 6 segundos"
        assert i18n.editable_duration(1_500 * YEAR + 1) == "1500 años 1 segundo"
        assert i18n.editable_duration(0) == "0 segundos"
        assert i18n.format_money(100_000, 2, grouped=False) == "1000,00"
        assert i18n.format_money(7, 3, grouped=False) == "0,007"
    finally:
        i18n._current.reset(token)
    assert i18n.editable_duration(month) == "30 days 10 hours 29 minutes 6 seconds"
    assert i18n.editable_duration(DAY + 6 * HOUR) == "1 day 6 hours"
    assert i18n.format_money(100_000, 2, grouped=False) == "1000.00"
    assert i18n.format_money(12, 0, grouped=False) == "12"


def test_x03_explanation_figures_read_in_the_pages_language() -> None:
    """An explanation's figures on ``/explain/...``: in English what ``Figure.shown`` says (the
    CLI's; a large decimal grouped too), in Spanish with its separators and words."""
    xi = Money(2, "xi", "xi")
    figures = [
        Figure("balance", 1_234_567, money=xi),
        Figure("window", 90 * DAY + 6 * HOUR, seconds=True),
        Figure("share", Fraction(1, 3)),
        Figure("ratio", Fraction(40_003, 3)),
        Figure("count", 14_117),
        Figure("whole", Fraction(6, 3)),
    ]
    english = [i18n.format_figure(f) for f in figures]
    assert english == [f.shown() for f in figures[:3]] + ["13,334.33 (40003/3)", "14,117", "2"]  # grouped
    token = i18n._current.set("es")
    try:
        assert [i18n.format_figure(f) for f in figures] == [
            "xi 12.345,67",
            "90 días 6 horas",
            "0,3333 (1/3)",
            "13.334,33 (40003/3)",
            "14.117",
            "2",
        ]
    finally:
        i18n._current.reset(token)


def test_x03_a_phrase_with_data_reads_english_as_text_and_the_readers_language_on_pages() -> None:
    """An explanation's text made with data (``N_`` with values): the CLI, ``--json`` and the API
    read the English text filled in, as before; the pages translate its template and write its
    numbers and money in the reader's format."""
    xi = Money(2, "xi", "xi")
    note = N_(
        "Within %(steps)s transfers the plan carries %(carried)s of the %(total)s that could flow (CI9 max_steps).",
        steps=12,
        carried=Amount(123_456, xi),
        total=Amount(1_234_567, xi),
    )
    english = "Within 12 transfers the plan carries xi 1,234.56 of the xi 12,345.67 that could flow (CI9 max_steps)."
    assert note == english and json.dumps([note]) == json.dumps([english])
    assert pickle.loads(pickle.dumps(note)) == note and i18n.translate(note) == english
    label = N_("%(holder)s holds %(issuer)s's coins", holder="ada", issuer="ben")
    token = i18n._current.set("es")
    try:
        assert i18n.translate(note) == (
            "En 12 transferencias el plan lleva xi 1.234,56 de los xi 12.345,67 que podrían fluir (CI9 max_steps)."
        )
        assert i18n.translate(label) == "ada tiene monedas de ben"
        assert i18n.translate(N_("%(units)s credits", units=14_117)) == "14.117 créditos"
    finally:
        i18n._current.reset(token)


def test_x03_no_explanation_text_is_made_by_formatting_a_string() -> None:
    """An explanation's question, figure names and meanings and its notes are ``N_`` texts (with
    values where they hold data): one written as an f-string or with ``%`` or ``format`` could not be
    translated, and read English on Spanish pages."""

    def formatted(text: ast.expr) -> bool:
        if isinstance(text, ast.JoinedStr):
            return True
        if isinstance(text, ast.BinOp) and isinstance(text.op, ast.Mod):
            return True
        return isinstance(text, ast.Call) and isinstance(text.func, ast.Attribute) and text.func.attr == "format"

    found = []
    for path in sorted((SRC / "mechanisms").glob("*/queries.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            texts: list[ast.expr] = []
            if isinstance(func, ast.Name) and func.id == "Figure":
                texts = [*node.args[:4], *(k.value for k in node.keywords if k.arg in {"name", "meaning"})]
            elif isinstance(func, ast.Name) and func.id in {"Explanation", "RuleExplanation"}:
                for k in node.keywords:
                    if k.arg == "question":
                        texts.append(k.value)
                    elif k.arg == "notes" and isinstance(k.value, ast.Tuple):
                        texts += k.value.elts
            elif isinstance(func, ast.Attribute) and func.attr == "append" and ast.unparse(func.value) == "notes":
                texts = list(node.args)
            found += [f"{path.relative_to(SRC)}:{t.lineno}" for t in texts if formatted(t)]
    assert not found, found
