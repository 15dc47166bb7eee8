"""What a player sees: the game's objects, found in a frame and matched against the real one.

A game drawn in pixel art (Forage, ALE games) uses few exact colours. `GamePalette.from_frames`
finds them from real frames: every exact colour that fills 2x2 blocks of pixels on at least
`min_share` of the frames' area, most common first; the most common is the background. Counting
only filled blocks leaves out the blends a resized frame has along edges (ALE's 210x160 screens
area-resized to 64x64: 81 colours cover 2e-4 of Boxing's pixels, 5 fill its blocks). A frame
(real, reconstructed or imagined) is read by snapping each pixel to the nearest palette colour
when it lies within `tolerance` (Euclidean RGB distance, 0-255 units) and to no colour otherwise.
An *object* is a 4-connected
region of one non-background colour with at least `min_pixels` pixels, described by its colour
and the centre of its pixels. An object of the real frame is *kept* when the other frame has an
object of the same colour whose centre lies within `max_shift` pixels (each object matched at
most once, nearest pairs first). Score: F1 = 2 matched / (real objects + other objects); two
frames without objects score 1, one empty frame against any object 0.

*Moving colours* are found from the data too: the colours whose objects, in consecutive real
frames, are found at a new place (no object of that colour within half a pixel of its centre
the frame before) in at least `moving_share` of the cases. In Forage these are the player and
the hazards (fruits stay until eaten, walls never move); in Pong the ball and the paddles.
`ObjectCounts` restricted to them gives the moving-object F1 that a planner depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from einops import rearrange

NO_COLOUR = -1


@dataclass(frozen=True)
class GamePalette:
    """The exact colours of a game, background first, and which of them belong to moving objects."""

    colours: np.ndarray  # (k, 3) uint8, most common first: colours[0] is the background
    moving: tuple[int, ...] = ()  # indices into `colours` of the moving objects' colours
    tolerance: float = 80.0
    min_pixels: int = 6
    max_shift: float = 2.0

    @classmethod
    def from_frames(cls, clips: Sequence[np.ndarray], min_share: float = 2e-4, moving_share: float = 0.2,
                    **options) -> GamePalette:
        """Palette of real clips, each (t, h, w, 3) uint8 frames in time order (e.g. one per episode)."""
        for clip in clips:
            if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
                raise ValueError(f"frames must be (t, h, w, 3) uint8, got {clip.shape} {clip.dtype}")
        if not clips:
            raise ValueError("a game palette needs at least one clip of frames")
        filled, area = [], 0
        for clip in clips:
            packed = _pack(clip)  # (t, h, w)
            corner = packed[:, :-1, :-1]
            block = (corner == packed[:, 1:, :-1]) & (corner == packed[:, :-1, 1:]) & (corner == packed[:, 1:, 1:])
            filled.append(corner[block])
            area += packed.size
        values, counts = np.unique(np.concatenate(filled), return_counts=True)
        order = np.argsort(-counts, kind="stable")
        colours = _unpack(values[order[counts[order] >= min_share * area]])
        palette = cls(colours, (), **options)
        return cls(colours, palette.moving_colours(clips, moving_share), **options)

    def moving_colours(self, clips: Sequence[np.ndarray], moving_share: float) -> tuple[int, ...]:
        """Colours whose objects, from one frame of a clip to the next, are at a new place in >= `moving_share`
        of the cases."""
        moved, seen = np.zeros(len(self.colours)), np.zeros(len(self.colours))
        for clip in clips:
            objects = self.objects(clip)
            for before, after in zip(objects, objects[1:]):
                for colour, y, x in after:
                    same = [(y - y0) ** 2 + (x - x0) ** 2 for c0, y0, x0 in before if c0 == colour]
                    seen[colour] += 1
                    moved[colour] += not same or min(same) > 0.25
        share = moved / np.maximum(seen, 1)
        return tuple(int(c) for c in np.flatnonzero((share >= moving_share) & (seen > 0)))

    def snap(self, frames: np.ndarray) -> np.ndarray:
        """Frames (..., h, w, 3) uint8 -> palette index per pixel (..., h, w); NO_COLOUR beyond `tolerance`."""
        pixels = frames.astype(np.float32)[..., None, :]  # (..., h, w, 1, 3)
        distance = np.sqrt(((pixels - self.colours.astype(np.float32)) ** 2).sum(-1))  # (..., h, w, k)
        return np.where(distance.min(-1) <= self.tolerance, distance.argmin(-1), NO_COLOUR)

    def objects(self, frames: np.ndarray) -> list[list[tuple[int, float, float]]]:
        """Frames (n, h, w, 3) uint8 -> per frame its objects as (colour, centre y, centre x)."""
        return [found for first in range(0, len(frames), 256)  # bounded memory: snap holds (n, h, w, k) distances
                for found in find_objects(self.snap(frames[first : first + 256]), self.min_pixels)]

    def to_dict(self) -> dict:
        return {"colours": self.colours.tolist(), "moving": list(self.moving), "tolerance": self.tolerance,
                "min_pixels": self.min_pixels, "max_shift": self.max_shift}


def find_objects(labels: np.ndarray, min_pixels: int) -> list[list[tuple[int, float, float]]]:
    """Palette indices (n, h, w) -> per frame the 4-connected regions of one non-background colour with
    >= min_pixels pixels, as (colour, centre y, centre x), in order of their first pixel."""
    n, h, w = labels.shape
    inside = labels > 0  # 0 is the background, NO_COLOUR matches nothing
    component = np.where(inside, np.arange(n * h * w).reshape(n, h, w), -1)
    while True:  # each pixel takes the largest id among its same-colour neighbours, until none changes
        grown = component
        for axis, step in ((1, 1), (1, -1), (2, 1), (2, -1)):
            neighbour, colour = np.roll(component, step, axis), np.roll(labels, step, axis)
            wrapped = [slice(None)] * 3
            wrapped[axis] = slice(0, 1) if step == 1 else slice(-1, None)
            neighbour[tuple(wrapped)] = -1  # no wrap-around across the frame's edge
            grown = np.where(inside & (colour == labels) & (neighbour > grown), neighbour, grown)
        # pointer jumping: an id names a pixel of the same region, whose own id is at least as large
        flat = grown.ravel()
        grown = np.where(inside, flat[np.maximum(grown, 0)], -1)
        if np.array_equal(grown, component):
            break
        component = grown
    frame, ys, xs = np.nonzero(inside)
    ids, first, inverse, sizes = np.unique(component[inside], return_index=True, return_inverse=True,
                                           return_counts=True)
    centre_y = np.bincount(inverse, weights=ys) / sizes
    centre_x = np.bincount(inverse, weights=xs) / sizes
    found: list[list[tuple[int, float, float]]] = [[] for _ in range(n)]
    for region in np.argsort(first, kind="stable"):
        if sizes[region] >= min_pixels:
            at = first[region]
            found[frame[at]].append((int(labels[frame[at], ys[at], xs[at]]), float(centre_y[region]),
                                     float(centre_x[region])))
    return found


def match_count(real: list[tuple[int, float, float]], other: list[tuple[int, float, float]], max_shift: float) -> int:
    """How many objects of `real` have an object of the same colour in `other` within `max_shift` pixels
    (one-to-one, nearest pairs first)."""
    pairs = sorted(((ry - oy) ** 2 + (rx - ox) ** 2, i, j) for i, (rc, ry, rx) in enumerate(real)
                   for j, (oc, oy, ox) in enumerate(other) if rc == oc)
    used_real, used_other = set(), set()
    for distance, i, j in pairs:
        if distance <= max_shift**2 and i not in used_real and j not in used_other:
            used_real.add(i), used_other.add(j)
    return len(used_real)


@dataclass
class ObjectCounts:
    """Running sums of matched and found objects, all and of moving colours only."""

    matched: float = 0.0
    found: float = 0.0  # real objects + other objects
    moving_matched: float = 0.0
    moving_found: float = 0.0
    frames: int = 0

    def add(self, palette: GamePalette, real: np.ndarray, other: np.ndarray) -> None:
        """Compare frames (n, h, w, 3) uint8 of the real game and of a model, frame by frame."""
        if real.shape != other.shape:
            raise ValueError(f"real frames {real.shape} and compared frames {other.shape} differ in shape")
        moving = set(palette.moving)
        for real_objects, other_objects in zip(palette.objects(real), palette.objects(other)):
            self.matched += 2 * match_count(real_objects, other_objects, palette.max_shift)
            self.found += len(real_objects) + len(other_objects)
            real_moving = [o for o in real_objects if o[0] in moving]
            other_moving = [o for o in other_objects if o[0] in moving]
            self.moving_matched += 2 * match_count(real_moving, other_moving, palette.max_shift)
            self.moving_found += len(real_moving) + len(other_moving)
            self.frames += 1

    @property
    def f1(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def moving_f1(self) -> float:
        return self.moving_matched / self.moving_found if self.moving_found else 1.0


def object_f1(palette: GamePalette, real: np.ndarray, other: np.ndarray) -> float:
    """Object F1 of frames (n, h, w, 3) uint8 against the real ones, pooled over the frames."""
    counts = ObjectCounts()
    counts.add(palette, real, other)
    return counts.f1


def frames_to_uint8(frames) -> np.ndarray:
    """Model frames (n, 3, h, w) in [-1, 1] (tensor or array) -> (n, h, w, 3) uint8."""
    array = np.asarray(frames.detach().cpu() if hasattr(frames, "detach") else frames, dtype=np.float32)
    return np.round((np.clip(rearrange(array, "n c h w -> n h w c"), -1, 1) + 1) * 127.5).astype(np.uint8)


def _pack(frames: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) int64, one number per colour."""
    rgb = frames.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(packed: np.ndarray) -> np.ndarray:
    """Inverse of `_pack`: (k,) -> (k, 3) uint8."""
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=-1).astype(np.uint8)
