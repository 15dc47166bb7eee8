"""A pygame window that shows RGB frames scaled up; the `human` render mode of our games."""

from __future__ import annotations

import numpy as np


class HumanWindow:
    """Opens lazily on the first frame; frames are (h, w, 3) uint8, scaled by nearest neighbour."""

    def __init__(self, title: str, fps: int, scale: int = 8):
        import pygame  # only the human render mode needs a display library

        self._pygame = pygame
        self.title, self.fps, self.scale = title, fps, scale
        self._screen = None
        self._clock = pygame.time.Clock()

    def show(self, frame: np.ndarray) -> None:
        pygame = self._pygame
        h, w = frame.shape[:2]
        if self._screen is None:
            pygame.init()
            pygame.display.set_caption(self.title)
            self._screen = pygame.display.set_mode((w * self.scale, h * self.scale))
        pygame.event.pump()
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame.transpose(1, 0, 2)))
        self._screen.blit(pygame.transform.scale(surface, self._screen.get_size()), (0, 0))
        pygame.display.flip()
        self._clock.tick(self.fps)

    def close(self) -> None:
        if self._screen is not None:
            self._pygame.display.quit()
            self._screen = None
