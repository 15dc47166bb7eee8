"""The pygame window of `tv2tv play`: scaled frames, the text log, a status bar, the text box and the help overlay.

Layout (pixels): one panel per world (imagined, then real with `--side-by-side`), each the
frame scaled by `scale`; the log panel on the right; a status bar below. Sizes are
multiples of 16 so recordings encode to MP4 without resizing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tv2tv_world.play.session import LogLine

LOG_WIDTH, STATUS_HEIGHT = 384, 32
COLOURS = {"key": (140, 190, 255), "mpc": (140, 190, 255), "typed": (255, 220, 90), "model": (120, 235, 140), "reset": (150, 150, 160),
           "end": (255, 120, 110)}
BACKGROUND, PANEL, TEXT = (16, 16, 22), (28, 28, 38), (225, 225, 230)


@dataclass
class Screen:
    """What one draw shows."""

    frame: np.ndarray  # (h, w, 3) uint8, the imagined frame
    real: np.ndarray | None = None  # the real game's frame, side by side
    psnr: float | None = None  # between the two
    log: list[LogLine] | None = None
    status: str = ""
    text_box: str | None = None  # the text being typed, when the box is open
    help_lines: list[str] | None = None  # the help overlay, when shown


class PlayWindow:
    """Draws `Screen`s; `pixels()` is what was last drawn (`last_screen`), for recordings and screenshots."""

    def __init__(self, frame_size: int, scale: int = 6, side_by_side: bool = False, title: str = "tv2tv-world"):
        import pygame

        self.pg = pygame
        pygame.display.init()  # no audio: nothing here makes a sound
        pygame.font.init()
        self.panel = frame_size * scale
        self.panels = 2 if side_by_side else 1
        self.size = (self.panels * self.panel + LOG_WIDTH, self.panel + STATUS_HEIGHT)
        pygame.display.set_caption(title)
        self.surface = pygame.display.set_mode(self.size)
        self.font = pygame.font.Font(None, 22)
        self.small = pygame.font.Font(None, 19)
        self.last_screen: Screen | None = None

    def draw(self, screen: Screen) -> None:
        pg, surface = self.pg, self.surface
        surface.fill(BACKGROUND)
        self._blit_frame(screen.frame, 0, "imagined")
        if self.panels == 2 and screen.real is not None:
            label = "real" + (f"   PSNR {screen.psnr:.1f} dB" if screen.psnr is not None else "")
            self._blit_frame(screen.real, self.panel, label)
        self._draw_log(screen.log or [])
        status_top = self.panel
        pg.draw.rect(surface, PANEL, (0, status_top, self.size[0], STATUS_HEIGHT))
        if screen.text_box is not None:
            self._text(f"say> {screen.text_box}_", (8, status_top + 8), COLOURS["typed"])
        else:
            self._text(screen.status, (8, status_top + 8), TEXT)
        if screen.help_lines:
            self._draw_help(screen.help_lines)
        pg.display.flip()
        self.last_screen = screen

    def pixels(self) -> np.ndarray:
        """(height, width, 3) uint8: the window as last drawn."""
        return np.ascontiguousarray(self.pg.surfarray.array3d(self.surface).transpose(1, 0, 2))

    def save(self, path) -> None:
        self.pg.image.save(self.surface, str(path))

    def close(self) -> None:
        self.pg.display.quit()

    # ---- pieces -----------------------------------------------------------------------
    def _blit_frame(self, frame: np.ndarray, left: int, label: str) -> None:
        pg = self.pg
        image = pg.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self.surface.blit(pg.transform.scale(image, (self.panel, self.panel)), (left, 0))
        self._text(label, (left + 6, 4), TEXT, shadow=True)

    def _draw_log(self, log: list[LogLine]) -> None:
        left = self.panels * self.panel
        self.pg.draw.rect(self.surface, PANEL, (left, 0, LOG_WIDTH, self.panel))
        self._text("step  who    text", (left + 8, 6), (170, 170, 180))
        lines: list[tuple[str, tuple]] = []
        for line in log[-40:]:
            reward = f"  ({line.reward:+.2f})" if abs(line.reward) >= 0.005 else ""
            for k, part in enumerate(self._wrap(f"{line.text}{reward}", LOG_WIDTH - 110)):
                head = f"{line.step:>4}  {line.source:<6} " if k == 0 else ""
                lines.append((head, part, COLOURS.get(line.source, TEXT)))
        rows = (self.panel - 30) // 18
        for row, (head, part, colour) in enumerate(lines[-rows:]):
            y = 28 + row * 18
            self._text(head, (left + 8, y), (170, 170, 180), font=self.small)
            self._text(part, (left + 100, y), colour, font=self.small)

    def _draw_help(self, lines: list[str]) -> None:
        pg = self.pg
        width, height = 420, 24 + 20 * len(lines)
        box = pg.Surface((width, height), pg.SRCALPHA)
        box.fill((0, 0, 0, 215))
        left, top = (self.size[0] - width) // 2, max(0, (self.panel - height) // 2)
        self.surface.blit(box, (left, top))
        for i, line in enumerate(lines):
            self._text(line, (left + 14, top + 12 + 20 * i), TEXT)

    def _wrap(self, text: str, width: int) -> list[str]:
        words, lines, line = text.split(" "), [], ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if self.small.size(candidate)[0] > width and line:
                lines.append(line)
                candidate = word
            line = candidate
        return lines + [line]

    def _text(self, text: str, at: tuple[int, int], colour, shadow: bool = False, font=None) -> None:
        font = font or self.font
        if shadow:
            self.surface.blit(font.render(text, True, (0, 0, 0)), (at[0] + 1, at[1] + 1))
        self.surface.blit(font.render(text, True, colour), at)
