"""Image cleanup and text reading (tesseract), and what is written from it."""

if __name__ != "kho.ocr":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.ocr, not {__name__}: install the project (scripts/setup)")
