"""Ruled tables of a page: their cell grid, from the image's ruling lines or drawn lines.

A ruling is a long, thin, straight run of ink, found by morphological opening of the page
image shrunk to about 100 dpi (each pixel the darkest of its square, so a one-pixel line
survives); a born-digital page gives its lines and rectangle edges instead. A table is a
connected grid of rulings with a ruled top and a ruled bottom or sides; its cells are the
areas the rulings enclose, so a merged cell is one cell, placed at the first row and column
it spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

WORK_DPI = 100  # table rulings are looked for at about this resolution
RULE_H_INCH = 0.35  # a horizontal ruling is at least this long (shorter: text strokes)
RULE_V_INCH = 0.2  # a vertical ruling: shorter than any table row, longer than a glyph
RULE_MAX_INCH = 0.06  # a ruling is thinner than this (thicker: a margin, a bar)
MIN_CELL_INCH = 0.12  # a cell's smaller side is at least this (smaller: ruling junctions)
MIN_TABLE_WIDTH = 0.25  # share of the page width: narrower grids are seals and marks
FRAME_SHARE = 0.75  # a table's top ruling runs along this share of its width at least


@dataclass(frozen=True)
class Cell:
    box: tuple[int, int, int, int]  # left, top, right, bottom in page pixels
    row: int
    col: int


@dataclass(frozen=True)
class Table:
    box: tuple[int, int, int, int]
    cells: tuple[Cell, ...]  # row by row, left to right
    labels: np.ndarray  # the cell (index into cells) of each working pixel; -1 on a ruling
    origin: tuple[int, int]  # where `labels` starts, in working pixels
    scale: float  # working pixels per page pixel
    rules: np.ndarray  # the rulings themselves, undilated: 1 horizontal, 2 vertical (bits)
    rules_origin: tuple[int, int]  # where `rules` starts (a little outside `labels`)

    def cell_at(self, x: float, y: float) -> int:
        """The cell holding page point (x, y): the one under it, else the nearest."""
        lx = round(x * self.scale) - self.origin[0]
        ly = round(y * self.scale) - self.origin[1]
        if 0 <= ly < self.labels.shape[0] and 0 <= lx < self.labels.shape[1]:
            found = int(self.labels[ly, lx])
            if found >= 0:
                return found

        def distance(cell: Cell) -> float:
            left, top, right, bottom = cell.box
            return max(left - x, 0, x - right) + max(top - y, 0, y - bottom)

        return min(range(len(self.cells)), key=lambda c: distance(self.cells[c]))

    def rulings_across(
        self, box: tuple[int, int, int, int], reach: float
    ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The rulings crossing page box (left, top, right, bottom): the vertical ones
        (x0, x1) running down most of its height up to `reach` beyond its sides, the
        horizontal ones (y0, y1) running along most of its width up to `reach` above or
        below it; in page pixels."""
        left, top, right, bottom = box
        ox, oy = self.rules_origin

        def span(a: float, b: float, o: int, size: int) -> tuple[int, int]:
            lo = min(max(0, int(a * self.scale) - o), size)
            return lo, min(max(lo + 1, int(b * self.scale) + 1 - o), size)

        rows = span(top, bottom, oy, self.rules.shape[0])
        cols = span(left, right, ox, self.rules.shape[1])
        wide = span(left - reach, right + reach, ox, self.rules.shape[1])
        tall = span(top - reach, bottom + reach, oy, self.rules.shape[0])
        if rows[0] == rows[1] or cols[0] == cols[1]:
            return [], []  # the box is outside the table
        down = (self.rules[rows[0] : rows[1], wide[0] : wide[1]] & 2 > 0).mean(axis=0) >= 0.5
        across = (self.rules[tall[0] : tall[1], cols[0] : cols[1]] & 1 > 0).mean(axis=1) >= 0.5
        x, y = wide[0] + ox, tall[0] + oy
        return (
            [((x + a) / self.scale, (x + b) / self.scale) for a, b in _runs(down)],
            [((y + a) / self.scale, (y + b) / self.scale) for a, b in _runs(across)],
        )


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-d boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def find_tables(
    image: np.ndarray | None,
    rulings: Sequence[tuple[float, float, float, float]],
    width: int,
    height: int,
    dpi: int,
) -> list[Table]:
    """Ruled tables: from the image's long straight ink, else from the drawn segments."""
    step = max(1, dpi // WORK_DPI)
    scale = 1 / step
    if image is not None:
        horizontal, vertical = _ruling_masks(image, step, dpi / step)
    elif rulings:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        horizontal, vertical = _drawn_masks(rulings, size, scale)
    else:
        return []
    return _tables_from_masks(horizontal, vertical, scale, dpi / step, width)


def _ruling_masks(image: np.ndarray, step: int, dpi: float) -> tuple[np.ndarray, np.ndarray]:
    """Long horizontal and vertical ink runs of the page image, every `step`-th pixel.

    The image is shrunk by keeping the darkest pixel of each step x step square, so a
    one-pixel ruling survives, and one a hair off square or broken for a pixel stays whole.
    """
    # green stands for gray: black, blue and red ink are all dark in it, and it costs no
    # conversion of the whole colour page
    gray = image[..., 1] if image.ndim == 3 else image
    if gray.dtype != np.uint8:
        gray = gray.astype(np.uint8)
    if step > 1:
        h, w = gray.shape[0] // step * step, gray.shape[1] // step * step
        shifts = [gray[i:h:step, j:w:step] for i in range(step) for j in range(step)]
        gray = np.minimum.reduce(shifts)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    h_len, v_len = max(8, round(RULE_H_INCH * dpi)), max(6, round(RULE_V_INCH * dpi))
    # no dilation first: on a speckled scan it would join the specks into runs
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, h_len), np.uint8))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((v_len, 1), np.uint8))
    # a ruling is thin: dark scanner margins, black bars and filled boxes are not
    thick = max(3, round(RULE_MAX_INCH * dpi))
    horizontal &= ~cv2.morphologyEx(horizontal, cv2.MORPH_OPEN, np.ones((thick, 1), np.uint8))
    vertical &= ~cv2.morphologyEx(vertical, cv2.MORPH_OPEN, np.ones((1, thick), np.uint8))
    return horizontal, vertical


def _drawn_masks(
    rulings: Sequence[tuple[float, float, float, float]], size: tuple[int, int], scale: float
) -> tuple[np.ndarray, np.ndarray]:
    horizontal = np.zeros((size[1], size[0]), np.uint8)
    vertical = np.zeros_like(horizontal)
    for x0, y0, x1, y1 in rulings:
        p0 = (round(x0 * scale), round(y0 * scale))
        p1 = (round(x1 * scale), round(y1 * scale))
        mask = horizontal if abs(x1 - x0) >= abs(y1 - y0) else vertical
        cv2.line(mask, p0, p1, 255, 1)
    return horizontal, vertical


def _tables_from_masks(
    horizontal: np.ndarray, vertical: np.ndarray, scale: float, dpi: float, page_width: int
) -> list[Table]:
    """Each connected grid of rulings with at least two rows and two columns of cells; the
    cells are the grid's enclosed areas, so a merged cell comes out once."""
    if not cv2.countNonZero(vertical) or not cv2.countNonZero(horizontal):
        return []  # most pages: no grid to look at
    min_cell = max(3, round(MIN_CELL_INCH * dpi))
    # a table has vertical rulings: look only around them (a seal's strokes are few)
    vx, vy, vw, vh = cv2.boundingRect(vertical)
    x0, y0 = max(0, vx - min_cell), max(0, vy - min_cell)
    area = (slice(y0, vy + vh + min_cell), slice(x0, vx + vw + min_cell))
    grid = cv2.dilate(horizontal[area] | vertical[area], np.ones((3, 3), np.uint8))
    count, labels_all, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=8)
    tables = []
    for k in range(1, count):
        x, y, w, h = (int(v) for v in stats[k, :4])
        if w < MIN_TABLE_WIDTH * page_width * scale or h < 2 * min_cell:
            continue  # a seal's star, an underline, a scanner streak
        frame = _frame(labels_all[y : y + h, x : x + w] == k)
        if frame is None:
            continue  # a seal with a signature across it, a box of strokes
        x, y, w, h = x + frame[0], y + frame[1], frame[2], frame[3]
        crop = grid[y : y + h, x : x + w].copy()
        cv2.rectangle(crop, (0, 0), (w - 1, h - 1), 255, 1)  # close a table cut by the page
        n, labels, cell_stats, _ = cv2.connectedComponentsWithStats(255 - crop, connectivity=4)
        kept = [
            c for c in range(1, n) if cell_stats[c, 2] >= min_cell and cell_stats[c, 3] >= min_cell
        ]
        cells = _grid_cells([tuple(int(v) for v in cell_stats[c, :4]) for c in kept], min_cell)
        if len({r for r, _, _ in cells}) < 2 or len({c for _, c, _ in cells}) < 2:
            continue
        order = sorted(range(len(kept)), key=lambda j: cells[j][:2])
        lookup = np.full(n, -1, np.int32)
        for rank, j in enumerate(order):
            lookup[kept[j]] = rank
        boxes = [tuple(cell_stats[kept[j], :4]) for j in order]
        origin = (x0 + x, y0 + y)
        margin = min_cell // 2  # an outer ruling's ink reaches a little outside the frame
        ry, rx = max(0, origin[1] - margin), max(0, origin[0] - margin)
        near = (slice(ry, origin[1] + h + margin), slice(rx, origin[0] + w + margin))
        rules = (horizontal[near] > 0).astype(np.uint8) | (vertical[near] > 0).astype(np.uint8) * 2
        tables.append(
            Table(
                box=_scaled((0, 0, w, h), origin, scale),
                cells=tuple(
                    Cell(_scaled(b, origin, scale), cells[j][0], cells[j][1])
                    for b, j in zip(boxes, order, strict=True)
                ),
                labels=lookup[labels],
                origin=origin,
                scale=scale,
                rules=rules,
                rules_origin=(rx, ry),
            )
        )
    return tables


def _frame(grid: np.ndarray) -> tuple[int, int, int, int] | None:
    """The (x, y, w, h) inside `grid` (a boolean mask of one connected grid) from its top
    ruling to its bottom one (or the grid's end: a table cut by the page) and between its
    side rulings; None if it has no top ruling or neither a bottom nor both sides, as a
    seal or a signature's strokes do not."""
    rows = np.flatnonzero(grid.mean(axis=1) >= FRAME_SHARE)
    cols = np.flatnonzero(grid.mean(axis=0) >= FRAME_SHARE)
    h, w = grid.shape
    top = rows.size and rows[0] < h // 4
    bottom = rows.size and rows[-1] >= h - h // 4
    sides = cols.size >= 2 and cols[0] < w // 4 and cols[-1] >= w - w // 4
    if not (top and (bottom or sides)):
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1 if bottom else h
    x0, x1 = (int(cols[0]), int(cols[-1]) + 1) if sides else (0, w)
    return x0, y0, x1 - x0, y1 - y0


def _scaled(box: tuple, origin: tuple[int, int], scale: float) -> tuple[int, int, int, int]:
    """(x, y, w, h) in the working pixels, at `origin`, as (left, top, right, bottom) on the
    page."""
    x, y = origin[0] + int(box[0]), origin[1] + int(box[1])
    return (
        round(x / scale),
        round(y / scale),
        round((x + int(box[2])) / scale),
        round((y + int(box[3])) / scale),
    )


def _grid_cells(boxes: list[tuple[int, ...]], tolerance: int) -> list[tuple[int, int, int]]:
    """(row, column, index) of each cell: the rank of its top and left edge among the grid's
    edges (edges closer than `tolerance` are one)."""

    def ranks(values: list[int]) -> dict[int, int]:
        rank, last, out = -1, None, {}
        for v in sorted(set(values)):
            if last is None or v - last > tolerance:
                rank += 1
            out[v], last = rank, v
        return out

    rows, cols = ranks([b[1] for b in boxes]), ranks([b[0] for b in boxes])
    return [(rows[b[1]], cols[b[0]], j) for j, b in enumerate(boxes)]
