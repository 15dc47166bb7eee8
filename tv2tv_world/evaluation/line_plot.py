"""A small line plot drawn with Pillow (no plotting library needed): for reports."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


def line_plot(path: str | Path, series: dict[str, list[float]], x_label: str, y_label: str, title: str,
              size: tuple[int, int] = (640, 400)) -> None:
    """Write a PNG with one line per series (x = 1, 2, ...), axes with min/max ticks, and a legend."""
    width, height = size
    left, right, top, bottom = 60, 20, 40, 50
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    values = [v for ys in series.values() for v in ys]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    longest = max(len(ys) for ys in series.values())

    def point(i: int, v: float) -> tuple[float, float]:
        x = left + (width - left - right) * (i / max(longest - 1, 1))
        return x, top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((left, 10), title, fill="black")
    draw.text((width // 2 - 30, height - 20), x_label, fill="black")
    draw.text((5, top - 20), y_label, fill="black")
    for v in (lo, hi):
        draw.text((5, point(0, v)[1] - 6), f"{v:.1f}", fill="black")
    for i in (0, longest - 1):
        draw.text((point(i, lo)[0] - 4, height - bottom + 5), str(i + 1), fill="black")
    for n, (name, ys) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        points = [point(i, v) for i, v in enumerate(ys)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((width - right - 200, top + 8 + 14 * n), name, fill=colour)
    image.save(path, format="PNG")
