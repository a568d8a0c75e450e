"""The one font kho draws its own text with (a dossier's cover and list of documents, the
marks put on copies): DejaVu Sans, which has every Vietnamese letter with its tone marks.

It comes from Debian's fonts-dejavu-core (installed by scripts/setup); the file is
embedded (as a subset) in every PDF that uses it, so the reader needs no font of its own.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from kho.core.errors import MissingDependencyError

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/TTF"))
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
NAME, BOLD_NAME = "KhoSans", "KhoSans-Bold"


def font_file(name: str = REGULAR) -> Path:
    """The font file, or MissingDependencyError saying which package to install."""
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise MissingDependencyError(
        f"no {name} (a font with Vietnamese letters) under "
        f"{', '.join(str(d) for d in FONT_DIRS)}: apt-get install fonts-dejavu-core"
    )


@cache
def reportlab_fonts() -> tuple[str, str]:
    """Register the regular and bold faces with reportlab once; their names."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(NAME, str(font_file(REGULAR))))
    pdfmetrics.registerFont(TTFont(BOLD_NAME, str(font_file(BOLD))))
    return NAME, BOLD_NAME
