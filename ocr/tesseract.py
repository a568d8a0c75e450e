"""The tesseract wrapper: a page image in, words with boxes and confidences out.

Two ways to run the same tesseract recognition, chosen by `OcrOptions.engine`:

- "library": tesseract's C++ API in this process (tesserocr). The language models load once
  per process, not once per page, and a forked rq work horse inherits them loaded: a page
  costs about half of what the program costs (bench/pipeline_bench.py prints both).
- "cli": the `tesseract` program through pytesseract, one process per page (the image goes
  through an uncompressed TIFF file). Always available where tesseract-ocr is installed.

"auto" (the default) uses the library when tesserocr imports, else the program. Both return
tesseract's TSV, read by the one `parse_tsv`. The program also serves what runs rarely:
orientation detection (OSD) for pages that do not look upright, and the version check.
Tesseract runs single-threaded (`OMP_THREAD_LIMIT=1`): kho runs one tesseract per core,
which is faster overall than one process using every core through OpenMP.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytesseract

from ..core.errors import ConfigError, LimitExceededError, MissingDependencyError, OcrError
from ..core.settings import DEFAULT_LANG, OCR_ENGINES
from ..core.types import PageText, Word
from .marks import restore_word

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

TIMEOUT_MESSAGE = "Tesseract process timeout"  # what pytesseract raises as RuntimeError
IMAGE_PREFIX = "kho-ocr-"
TIFF_UNCOMPRESSED = 1  # libtiff's COMPRESSION_NONE
STALE_AFTER_S = 3600  # tesseract reads its input at start: an hour-old image is an orphan


@cache
def check_tesseract(lang: str, tessdata: str = "") -> str:
    """Return tesseract's version; raise MissingDependencyError if it or a language is missing.

    `tessdata` is a model profile's folder (`OcrOptions.tessdata`); "" is tesseract's own.
    """
    try:
        version = str(pytesseract.get_tesseract_version())
        available = set(pytesseract.get_languages())
    except pytesseract.TesseractNotFoundError as err:
        raise MissingDependencyError(
            "tesseract not found: install tesseract-ocr (apt-get install tesseract-ocr)"
        ) from err
    if int(version.split(".")[0]) < 4:
        raise MissingDependencyError(
            f"tesseract {version} is too old: install tesseract-ocr 4 or newer"
        )
    for code in lang.split("+"):
        if tessdata:
            check_profile_file(Path(tessdata), code)
        elif code not in available:
            raise MissingDependencyError(
                f"language pack '{code}' missing: apt-get install tesseract-ocr-{code}"
            )
    return version


def check_profile_file(folder: Path, code: str) -> None:
    """A model profile's folder must hold `code`'s model: say how to install it if not."""
    model = folder / f"{code}.traineddata"
    if not model.is_file():
        raise MissingDependencyError(
            f"[ocr] profile {folder.name!r} has no {model}: run scripts/setup (it installs "
            f'the profile\'s models), or set [ocr] profile = "standard"'
        )


@cache
def tessdata_dir() -> Path:
    """Where tesseract keeps its traineddata (and the glyphless `pdf.ttf`)."""
    candidates = []
    if os.environ.get("TESSDATA_PREFIX"):
        candidates.append(Path(os.environ["TESSDATA_PREFIX"]))
    try:
        out = subprocess.run(
            [pytesseract.pytesseract.tesseract_cmd, "--list-langs"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        found = re.search(r'"([^"]+)"', out)  # List of available languages in "DIR/" (n):
        if found:
            candidates.append(Path(found.group(1)))
    except OSError:
        pass  # not installed: fall back to the usual places below
    candidates += [Path(p) for p in sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"))]
    candidates += [Path("/usr/share/tessdata"), Path("/usr/local/share/tessdata")]
    for path in candidates:
        if path.is_dir():
            return path
    raise MissingDependencyError(
        "tesseract data directory not found: install tesseract-ocr or set TESSDATA_PREFIX"
    )


@cache
def sweep_orphans() -> None:
    """Once per process: delete page images left by workers killed mid-page."""
    cutoff = time.time() - STALE_AFTER_S
    for path in Path(tempfile.gettempdir()).glob(IMAGE_PREFIX + "*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass  # swept by another worker meanwhile, or not ours to delete


@contextmanager
def image_file(img: np.ndarray) -> Iterator[str]:
    """Write an image as an uncompressed TIFF for tesseract to read: ~8 ms for A4 at 300 dpi.

    PNG (what pytesseract would write) costs ~45 ms to encode; PGM is as quick to write
    but leptonica reads it ~0.1 s slower than TIFF, so TIFF is the fastest round trip.
    """
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise OcrError(f"expected a uint8 gray or BGR image, got {img.dtype} {img.shape}")
    sweep_orphans()
    fd, path = tempfile.mkstemp(prefix=IMAGE_PREFIX, suffix=".tif")
    os.close(fd)
    try:
        if not cv2.imwrite(path, img, [cv2.IMWRITE_TIFF_COMPRESSION, TIFF_UNCOMPRESSED]):
            raise OcrError(f"could not write the page image for tesseract to {path}")
        yield path
    finally:
        Path(path).unlink(missing_ok=True)


def run_tesseract(func: Callable[..., str], img: np.ndarray, timeout: float, **kwargs) -> str:
    """Call a pytesseract function on `img`, mapping its failures onto kho's errors."""
    with image_file(img) as path:
        try:
            return func(path, timeout=timeout, **kwargs)
        except RuntimeError as err:
            if str(err) != TIMEOUT_MESSAGE:
                raise
            raise LimitExceededError(
                f"OCR took longer than {timeout:g} s on this page; raise limits.page_timeout_s"
            ) from err
        except pytesseract.TesseractNotFoundError as err:
            raise MissingDependencyError(
                "tesseract not found: install tesseract-ocr (apt-get install tesseract-ocr)"
            ) from err


def ocr_image(
    img: np.ndarray,
    lang: str = DEFAULT_LANG,
    psm: int = 3,
    oem: int = 1,
    timeout: float = 300.0,
    dpi: int = 300,
    engine: str = "auto",
    tessdata: str = "",
    tone_marks: bool = True,
) -> PageText:
    """Read one page image (gray, binary or BGR) with tesseract (see the module's engines),
    with the models of `tessdata` (a profile's folder, `OcrOptions.tessdata`; "": tesseract's).
    `tone_marks`: the library engine puts back tones dropped from circumflex vowels (marks.py).
    """
    check_tesseract(lang, tessdata)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise OcrError(f"expected a uint8 gray or BGR image, got {img.dtype} {img.shape}")
    if resolve_engine(engine) == "library":
        tsv = _library_tsv(img, lang, psm, oem, timeout, dpi, tessdata, tone_marks)
    else:
        config = f"--psm {psm} --oem {oem} --dpi {dpi}"
        if tessdata:
            config += f" --tessdata-dir {shlex.quote(tessdata)}"
        try:
            tsv = run_tesseract(pytesseract.image_to_data, img, timeout, lang=lang, config=config)
        except pytesseract.TesseractError as err:
            raise OcrError(f"tesseract failed ({err.status}): {err.message}") from err
    text, words = parse_tsv(tsv)
    return PageText(
        text=text,
        confidence=page_confidence(words),
        words=tuple(words),
        width=int(img.shape[1]),
        height=int(img.shape[0]),
        source="ocr",
        dpi=dpi,
    )


# the library engine ---------------------------------------------------------------------


def resolve_engine(engine: str) -> str:
    """ "library" or "cli": what `engine` ("auto", "library", "cli") means on this machine."""
    if engine not in OCR_ENGINES:
        raise ConfigError(f"ocr.engine must be one of {', '.join(OCR_ENGINES)}, got {engine!r}")
    if engine == "cli":
        return "cli"
    if library_version():
        return "library"
    if engine == "library":
        raise MissingDependencyError(
            "ocr.engine = 'library' needs tesserocr: pip install tesserocr (or set engine 'cli')"
        )
    return "cli"


@cache
def library_version() -> str:
    """The version of the tesseract library tesserocr carries, or "" if it does not import."""
    try:
        import tesserocr
    except ImportError:
        return ""
    return tesserocr.tesseract_version().split()[1]


def engine_name(engine: str = "auto") -> str:
    """What reads pages here, for people: 'tesseract 5.5.4 (library)'."""
    if resolve_engine(engine) == "library":
        return f"tesseract {library_version()} (library)"
    return f"tesseract {pytesseract.get_tesseract_version()} (program)"


@lru_cache(maxsize=4)
def library_api(lang: str, psm: int, oem: int, tessdata: str = "", choices: bool = True):
    """This process's tesseract for these settings, models loaded (~80 ms, then reused).

    A forked child inherits it ready; each process then recognises on its own copy.
    `choices`: keep each character's alternative readings (what marks.py chooses among).
    """
    import tesserocr

    folder = Path(tessdata) if tessdata else tessdata_dir()
    try:
        api = tesserocr.PyTessBaseAPI(path=f"{folder}/", lang=lang, psm=psm, oem=oem)
        if choices:  # each character's alternatives; one beam-search pass is as good as
            api.SetVariable("lstm_choice_mode", "2")  # the default 5 and costs ~nothing
            api.SetVariable("lstm_choice_iterations", "1")
        return api
    except RuntimeError as err:
        fix = "run scripts/setup" if tessdata else "apt-get install tesseract-ocr-<lang>"
        raise MissingDependencyError(
            f"tesseract could not load '{lang}' from {folder}: {err}; {fix}"
        ) from err


def _library_tsv(
    img: np.ndarray,
    lang: str,
    psm: int,
    oem: int,
    timeout: float,
    dpi: int,
    tessdata: str,
    tone_marks: bool,
) -> str:
    api = library_api(lang, psm, oem, tessdata, tone_marks)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    data = np.ascontiguousarray(img)
    height, width = data.shape[:2]
    depth = 1 if data.ndim == 2 else 3
    t0 = time.monotonic()
    try:
        api.SetImageBytes(data.tobytes(), width, height, depth, width * depth)
        api.SetSourceResolution(dpi)
        if not api.Recognize(timeout=max(1, int(timeout * 1000))):
            if time.monotonic() - t0 >= 0.9 * timeout:
                raise LimitExceededError(
                    f"OCR took longer than {timeout:g} s on this page; raise limits.page_timeout_s"
                )
            raise OcrError("tesseract could not recognise this page image")
        tsv = api.GetTSVText(0)
        return with_words(tsv, restored_words(api)) if tone_marks else tsv
    finally:
        api.Clear()  # the page's image and results; the models stay


def restored_words(api) -> list[str | None]:
    """Each word tesseract read, in TSV order: its text with the tone marks marks.py puts
    back, or None where none was."""
    from tesserocr import RIL, iterate_level

    words: list[list[tuple[str, list[tuple[str, float]]]]] = []
    iterator = api.GetIterator()
    if iterator is None:
        return []
    for symbol in iterate_level(iterator, RIL.SYMBOL):
        if symbol.IsAtBeginningOf(RIL.WORD) or not words:
            words.append([])
        choices = [(c.GetUTF8Text(), c.Confidence()) for c in symbol.GetChoiceIterator()]
        words[-1].append((symbol.GetUTF8Text(RIL.SYMBOL) or "", choices))
    return [restore_word(letters) for letters in words]


def with_words(tsv: str, words: list[str | None]) -> str:
    """`tsv` with the text of its word rows replaced by `words` where not None (unchanged
    if they differ in number: the two walks of the page did not meet the same words)."""
    rows = tsv.split("\n")
    at = [i for i, row in enumerate(rows) if row.startswith("5\t")]
    if len(at) != len(words):
        return tsv
    for i, word in zip(at, words, strict=True):
        cols = rows[i].split("\t")
        if word is not None and len(cols) >= 12:
            rows[i] = "\t".join([*cols[:11], word])
    return "\n".join(rows)


def page_confidence(words: Sequence[Word]) -> float:
    """Mean word confidence (0-100) weighted by word length; 0.0 with no words.

    Weighting by characters keeps a page of long misread words from hiding behind many
    confident one-letter tokens (punctuation, "a", "1"), which a plain mean would let it do.
    """
    scored = [(w.conf, len(w.text)) for w in words if w.conf >= 0 and w.text]
    chars = sum(n for _, n in scored)
    return round(sum(c * n for c, n in scored) / chars, 2) if chars else 0.0


def parse_tsv(tsv: str) -> tuple[str, list[Word]]:
    """Turn tesseract's TSV into NFC text and words: a line per text line, a blank line
    between blocks (tesseract's paragraph guesses split sentences too often to keep)."""
    words: list[Word] = []
    out: list[str] = []
    line: list[str] = []
    last_line = last_block = None
    for row in tsv.splitlines():  # the program's first line is a header: not level 5
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":  # level 5: a word
            continue
        token = unicodedata.normalize("NFC", cols[11]).strip()
        if not token:
            continue
        block = (cols[1], cols[2])  # page, block
        this_line = (*block, cols[3], cols[4])  # + paragraph, line
        if this_line != last_line:
            if line:
                out.append(" ".join(line))
            if last_block is not None and block != last_block:
                out.append("")
            line = []
            last_line, last_block = this_line, block
        line.append(token)
        left, top, width, height = (int(c) for c in cols[6:10])
        words.append(Word(token, round(float(cols[10]), 2), left, top, width, height))
    if line:
        out.append(" ".join(line))
    return "\n".join(out), words
