"""Text clean-up for classification and metadata: OCR look-alikes fixed, a folded twin.

`kho.index.text` gives the search forms (`normalize`, `fold`). Metadata extraction also
needs to find a phrase in the folded text and cut the same span out of the original, so
`fold_aligned` folds character by character and keeps every index in place.
"""

from __future__ import annotations

import re
import unicodedata

from kho.index.text import fold, normalize

# OCR and word processors write look-alikes of Vietnamese letters and of the ASCII dash:
# Icelandic eth for đ, en/em dashes and minus signs, non-breaking and zero-width spaces.
_LOOKALIKES = str.maketrans(
    {
        "Ð": "Đ",
        "ð": "đ",
        "Ɖ": "Đ",
        "ɖ": "đ",
        "–": "-",
        "—": "-",
        "‒": "-",
        "−": "-",
        "‐": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u200b": "",
        "\ufeff": "",
        "\t": " ",
        "\r": "",
    }
)


def clean_text(text: str) -> str:
    """NFC with look-alikes replaced and stray combining marks dropped; lines kept as they are."""
    nfc = unicodedata.normalize("NFC", text.translate(_LOOKALIKES))
    # A combining mark left over after NFC sits on no Vietnamese letter: OCR noise.
    return "".join(c for c in nfc if unicodedata.category(c) != "Mn")


def fold_aligned(text: str) -> str:
    """`fold` character by character, so index i of the result is index i of `text`.

    Expects `clean_text` output (NFC, no stray marks), where each letter folds to one.
    """
    out = []
    for c in text:
        f = fold(c)
        out.append(f if len(f) == 1 else c.lower()[:1] or " ")
    return "".join(out)


def exact_view(text: str) -> str:
    """What the word features read: cleaned, NFC, lowercase, single spaces."""
    return normalize(clean_text(text))


def folded_view(text: str) -> str:
    """What the character features read: the exact view without diacritics."""
    return " ".join(fold(clean_text(text)).split())


_SPACE_RUN = re.compile(r"[ ]{2,}")


def collapse_spaces(text: str) -> str:
    """Single spaces inside a line, ends trimmed."""
    return _SPACE_RUN.sub(" ", text).strip()


def distance(a: str, b: str, limit: int = 1) -> int:
    """Levenshtein distance, stopping early once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]
