"""The translatable strings of customer-facing sources, extracted the way Django's
makemessages sees them (no gettext binaries needed): `{% translate %}`, `{% blocktranslate %}`
(with `{% plural %}`) and `_("…")` in templates; gettext calls in Python (Babel's extractor).
"""

import re
from pathlib import Path

from babel.messages.extract import extract
from babel.messages.pofile import read_po
from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "_lazy": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
}
_STRING = re.compile(r"""^(?:translate|trans)\s+(?P<q>["'])(?P<s>.*?)(?P=q)""")
_UNDERSCORE = re.compile(r"""_\((?P<q>["'])(?P<s>.*?)(?P=q)\)""")


def _key(msgid, plural=None, context=None):
    return (msgid, plural, context)


def _block_msgid(parts, trimmed):
    text = "".join(parts)
    if trimmed:
        text = " ".join(line.strip() for line in text.strip().splitlines())
    return text


def template_messages(path):
    """[(msgid, msgid_plural or None, None)] of one template (no contexts used in them)."""
    messages = []
    tokens = Lexer(Path(path).read_text(encoding="utf-8")).tokenize()
    block = None  # (singular parts, plural parts or None, trimmed)
    for token in tokens:
        contents = token.contents
        if block is not None:
            singular, plural, trimmed = block
            target = plural if plural is not None else singular
            if token.token_type == TokenType.BLOCK and contents in ("endblocktranslate", "endblocktrans"):
                messages.append(
                    _key(_block_msgid(singular, trimmed), _block_msgid(plural, trimmed) if plural is not None else None)
                )
                block = None
            elif token.token_type == TokenType.BLOCK and contents == "plural":
                block = (singular, [], trimmed)
            elif token.token_type == TokenType.VAR:
                target.append(f"%({contents.strip()})s")
            elif token.token_type == TokenType.TEXT:
                target.append(contents.replace("%", "%%"))
            continue
        if token.token_type == TokenType.BLOCK and contents.split(" ", 1)[0] in ("blocktranslate", "blocktrans"):
            block = ([], None, " trimmed" in contents)
        if token.token_type == TokenType.BLOCK and (found := _STRING.match(contents)):
            messages.append(_key(found["s"]))
        if token.token_type in (TokenType.BLOCK, TokenType.VAR):
            messages.extend(_key(found["s"]) for found in _UNDERSCORE.finditer(contents))
    return messages


def python_messages(path):
    """[(msgid, msgid_plural or None, context or None)] of one Python module."""
    messages = []
    with open(path, "rb") as handle:
        for _lineno, message, _comments, context in extract("python", handle, keywords=KEYWORDS):
            if isinstance(message, tuple):
                messages.append(_key(message[0], message[1] if len(message) > 1 else None, context))
            elif message:
                messages.append(_key(message, None, context))
    return messages


def messages_of(patterns):
    """{(msgid, plural, context): [files]} for the files matching the glob patterns."""
    found = {}
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            extract = template_messages if path.suffix in (".html", ".txt") else python_messages
            for message in extract(path):
                found.setdefault(message, []).append(str(path.relative_to(ROOT)))
    return found


def load_catalogue(app, language):
    with open(ROOT / app / "locale" / language / "LC_MESSAGES" / "django.po", "rb") as handle:
        return read_po(handle)  # no locale: plural forms come from the file header alone


def untranslated(messages, catalogues):
    """[(language, msgid, files)] with no translation (or an empty plural form) in every catalogue."""
    missing = []
    for language, catalogue_list in catalogues.items():
        for (msgid, plural, context), files in messages.items():
            key = (msgid, plural, context)
            translated = False
            for catalogue in catalogue_list:
                entry = catalogue.get(msgid, context=context)
                if entry is None or entry.fuzzy:
                    continue
                strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
                if plural and not isinstance(entry.id, tuple):
                    continue
                if all(strings):
                    translated = True
                    break
            if not translated:
                missing.append((language, key, files))
    return missing
