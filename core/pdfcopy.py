"""The pages of an existing PDF copied into a `core.pdfstream.PdfWriter`, one at a time.

pikepdf reads the source lazily (a stream's bytes are read when they are copied) and each
object is written as soon as it is reached, so concatenating documents holds one stream at
a time plus a number per object copied. (pikepdf's own page copy between documents read
every image into memory first.) Streams keep their encoding (/Filter) byte for byte.

What is left out on the way, so nothing of the sources runs: a page's /AA and its
annotations' /A and /AA actions; the page tree a page came from (its inherited
/Resources, /MediaBox, /CropBox and /Rotate are put on the page itself).
"""

from __future__ import annotations

from decimal import Decimal

import pikepdf

from kho.core.pdfstream import Name, PdfWriter, Ref

INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
ACTIONS = ("/A", "/AA")


class PageCopier:
    """Copies pages of one source into `pdf`, each shared object (a font) written once."""

    def __init__(self, pdf: PdfWriter, src: pikepdf.Pdf) -> None:
        self.pdf = pdf
        self.src = src
        self._todo: list[tuple[pikepdf.Object, Ref]] = []
        self._annots: set[tuple[int, int]] = set()
        # every page's number taken now: a link to another page of the source lands on its
        # copy; the page tree and the catalog are never copied (a link to them is null)
        self._pages = [pdf.reserve() for _ in src.pages]
        self._refs = {
            page.obj.objgen: ref for page, ref in zip(src.pages, self._pages, strict=True)
        }
        self._skip = {src.Root.objgen, src.Root.Pages.objgen}

    def _ref(self, obj: pikepdf.Object) -> Ref:
        key = obj.objgen
        if key not in self._refs:
            self._refs[key] = self.pdf.reserve()
            self._todo.append((obj, self._refs[key]))
        return self._refs[key]

    def copy_page(self, index: int, parent: Ref) -> Ref:
        """Write page `index` (0-based) of the source under `parent`; its page object's
        number. Objects it shares with pages copied before are not written again."""
        page = self.src.pages[index].obj
        ref = self._pages[index]
        entries: dict[str, object] = {k: v for k, v in page.items() if k not in ("/Parent", "/AA")}
        for key in INHERITED:
            if key not in entries and (value := inherited(page, key)) is not None:
                entries[key] = value
        if "/Annots" in entries:
            annots: list = list(entries["/Annots"])  # type: ignore[call-overload]
            self._annots |= {a.objgen for a in annots if a.is_indirect}
            entries["/Annots"] = [a if a.is_indirect else _without_actions(a) for a in annots]
        value = {k[1:]: self._value(v) for k, v in entries.items()}
        value["Parent"] = parent
        self.pdf.add(value, ref)
        self._drain()
        return ref

    def _drain(self) -> None:
        """Write the objects reached so far (pages are written when they are copied)."""
        while self._todo:
            obj, ref = self._todo.pop()
            if isinstance(obj, pikepdf.Stream):
                data = obj.read_raw_bytes() if not self.src.is_encrypted else _plain(obj)
                items = obj.stream_dict.items()  # /Length: written anew, never copied
                entries = {k[1:]: self._value(v) for k, v in items if k != "/Length"}
                self.pdf.add_stream(data, entries, ref)
            elif obj.objgen in self._annots:
                self.pdf.add(self._value(_without_actions(obj)), ref)
            else:
                self.pdf.add(self._value(obj, top=True), ref)

    def _value(self, obj, top: bool = False) -> object:
        """A source value as `core.pdfstream` writes it; indirect objects by reference."""
        if isinstance(obj, pikepdf.Object) and obj.is_indirect and not top:
            if obj.objgen in self._skip:
                return None
            return self._ref(obj)
        if isinstance(obj, pikepdf.Name):
            return Name(str(obj)[1:])
        if isinstance(obj, pikepdf.String):
            return bytes(obj)
        if isinstance(obj, pikepdf.Array):
            return [self._value(v) for v in obj]
        if isinstance(obj, pikepdf.Dictionary):
            return {k[1:]: self._value(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._value(v) for v in obj]
        if isinstance(obj, dict):
            return {k[1:]: self._value(v) for k, v in obj.items()}
        if isinstance(obj, bool | int | float | Decimal) or obj is None:
            return obj
        if isinstance(obj, pikepdf.Object) and obj._type_code == pikepdf.ObjectType.null:
            return None
        raise ValueError(f"cannot copy PDF object {obj!r}")


def inherited(page: pikepdf.Dictionary, key: str):
    """`key` as the page has it or inherits it from its page tree; None when nowhere."""
    node: pikepdf.Object | None = page
    seen: set = set()
    while node is not None and node.objgen not in seen:
        seen.add(node.objgen)
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


def _without_actions(annot):
    """An annotation with no action: a dict copy without /A and /AA (a link keeps /Dest)."""
    if not isinstance(annot, pikepdf.Dictionary):
        return annot
    return {k: v for k, v in annot.items() if k not in ACTIONS}


def _plain(stream: pikepdf.Stream) -> bytes:
    """An encrypted source's stream bytes decrypted, still encoded as /Filter says."""
    return stream.read_bytes(pikepdf.StreamDecodeLevel.none)
