"""Every text of the staff pages has its Chinese translation (Chinese is the default language).

The strings are extracted exactly as `babel.cfg` tells `pybabel extract` to; a new `_()` without an
entry in the committed catalog would show English in the middle of a Chinese page.
"""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from engine.core.config import PROJECT_ROOT

CATALOG = PROJECT_ROOT / "api" / "web" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
METHODS = [("api/web/**.py", "python"), ("api/web/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _page_texts() -> set[str]:
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(PROJECT_ROOT), method_map=METHODS, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_page_text_is_translated() -> None:
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="zh_Hans_CN")
    texts = _page_texts()
    assert len(texts) > 300  # the extraction really read the pages
    untranslated = sorted(t for t in texts if not (catalog.get(t) and catalog.get(t).string))
    assert untranslated == []


def test_the_catalog_has_no_duplicate_entries() -> None:
    ids = [line for line in CATALOG.read_text(encoding="utf-8").splitlines()
           if line.startswith("msgid ") and line != 'msgid ""']  # "" opens the header and long ids
    assert len(ids) == len(set(ids))
