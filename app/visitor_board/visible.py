"""What a visitor can see: the normal form of names and messages, and what counts as blank.

Names and messages are stored in Unicode NFC (canonical composition): "e" + U+0301 becomes "é", one
character, so length limits count what a reader sees, while the text keeps its exact look. NFKC is not
used: it rewrites compatibility characters the visitor chose on purpose (full-width letters, ligatures,
superscripts, "㍿" into four characters), which changes their words and can push a valid text over the limit.
"""

from __future__ import annotations

import unicodedata

NORMAL_FORM = "NFC"

# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt, Unicode 15.1): code points a
# renderer shows as nothing when it has no special support for them, e.g. U+3164 HANGUL FILLER, U+115F/U+1160,
# U+FFA0, U+034F COMBINING GRAPHEME JOINER, the variation selectors and the tag characters. Python's
# unicodedata has categories but not this derived property, so its ranges are listed here.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# Not default-ignorable, yet drawn as an empty cell by every font that has them.
_BLANK_GLYPHS = frozenset({"\u2800"})  # BRAILLE PATTERN BLANK


def normalise(text: str) -> str:
    return unicodedata.normalize(NORMAL_FORM, text)


def is_invisible(char: str) -> bool:
    """True for a character that shows nothing on its own: whitespace, separators (Z*), format (Cf) and
    control (Cc) characters, default-ignorable code points and blank glyphs."""
    if char.isspace() or char in _BLANK_GLYPHS:
        return True
    category = unicodedata.category(char)
    if category[0] == "Z" or category in ("Cf", "Cc"):
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE)


def is_blank(text: str) -> bool:
    """True if `text` would show nothing at all: empty, or only invisible characters (see is_invisible).

    Invisible characters between visible ones are kept as they are: an emoji ZWJ sequence such as
    "👩‍💻" or a Persian name with U+200C ZERO WIDTH NON-JOINER is real text."""
    return all(is_invisible(char) for char in text)
