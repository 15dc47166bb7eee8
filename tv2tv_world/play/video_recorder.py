"""Recording what the player window shows to MP4 (ffmpeg from imageio-ffmpeg) or GIF, written atomically."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from tv2tv_world.storage.atomic_file import atomic_path

FORMATS = (".mp4", ".gif")


class VideoRecorder:
    """Streams (h, w, 3) uint8 images into `path` at `fps`; the file appears only when `close()` succeeds."""

    def __init__(self, path: str | Path, fps: int):
        self.path = Path(path)
        if self.path.suffix.lower() not in FORMATS:
            raise ValueError(f"--record must end in one of {FORMATS}, got {self.path.name!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps, self.frames = fps, 0
        self._stack = contextlib.ExitStack()
        self._writer = None

    def add(self, image: np.ndarray) -> None:
        if self._writer is None:
            import imageio.v2 as imageio

            temp = self._stack.enter_context(atomic_path(self.path))
            if self.path.suffix.lower() == ".mp4":
                self._writer = imageio.get_writer(temp, format="FFMPEG", fps=self.fps, codec="libx264", quality=8,
                                                  macro_block_size=16)
            else:
                self._writer = imageio.get_writer(temp, format="GIF", duration=1000 / self.fps, loop=0)
        self._writer.append_data(image)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file; None if nothing was recorded."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        self._stack.close()  # fsync and rename onto `path`
        return self.path

    def abort(self) -> None:
        """Drop a half-written recording (on errors and Ctrl-C)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
            self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
