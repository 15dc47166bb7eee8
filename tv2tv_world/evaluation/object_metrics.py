"""What a player sees: the game's objects, found in a frame and matched against the real one.

A game drawn in pixel art (Forage, ALE games) uses few exact colours. `GamePalette.from_frames`
finds them from real frames: every exact colour that fills 2x2 blocks of pixels on at least
`min_share` of the frames' area, most common first; the most common is the background. Counting
only filled blocks leaves out the blends a resized frame has along edges (ALE's 210x160 screens
area-resized to 64x64: 81 colours cover 2e-4 of Boxing's pixels, 5 fill its blocks). A frame
(real, reconstructed or imagined) is read by snapping each pixel to the nearest palette colour
when it lies within `tolerance` (Euclidean RGB distance, 0-255 units) and to no colour otherwise.
An *object* is a 4-connected region of one non-background colour with at least `min_pixels`
pixels.

Objects are matched by where their pixels are, not by their centres, so that a sprite drawn in
pieces (a boxer and its gloves, a ship and its exhaust) still counts when the other frame joins
or splits the pieces differently. A pixel is *covered* by a set of objects when one of them has a
pixel of the same colour within `reach` pixels (Chebyshev distance). An object of the other frame
is *true* when at least `share` of its pixels are covered by the real frame's objects; an object
of the real frame is *kept* when at least `share` of its pixels are covered by the other frame's
true objects. A smear of one colour over a wide area is therefore no object of the game, and
keeps nothing; an object moved by more than about half its size, or drawn in another colour, is
lost. Score: F1 = (kept real objects + true other objects) / (real objects + other objects),
the F1 of recall and precision pooled over objects; two frames without objects score 1, one
empty frame against any object 0.

*Moving colours* are found from the data too: the colours whose objects, in consecutive real
frames, are found at a new place (no object of that colour within half a pixel of its centre
the frame before) in at least `moving_share` of the cases. In Forage these are the player and
the hazards (fruits stay until eaten, walls never move); in Pong the ball and the paddles.
`ObjectCounts` restricted to them gives the moving-object F1 that a planner depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from einops import rearrange

NO_COLOUR = -1


@dataclass(frozen=True)
class FrameObjects:
    """The objects of one frame."""

    colours: np.ndarray  # (m,) int: palette index of each object, in order of its first pixel
    centres: np.ndarray  # (m, 2) float: centre (y, x) of each object's pixels
    regions: np.ndarray  # (h, w) int: the object a pixel belongs to, -1 for none

    def __len__(self) -> int:
        return len(self.colours)

    @cached_property
    def pixels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The objects' pixels as (y, x, object) arrays, each (p,)."""
        ys, xs = np.nonzero(self.regions >= 0)
        return ys, xs, self.regions[ys, xs]

    def of_colours(self, colours) -> np.ndarray:
        """(m,) bool: which objects have one of `colours`."""
        return np.isin(self.colours, list(colours))


@dataclass(frozen=True)
class GamePalette:
    """The exact colours of a game, background first, and which of them belong to moving objects."""

    colours: np.ndarray  # (k, 3) uint8, most common first: colours[0] is the background
    moving: tuple[int, ...] = ()  # indices into `colours` of the moving objects' colours
    tolerance: float = 80.0
    min_pixels: int = 6
    reach: int = 1
    share: float = 0.5

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
                for colour, centre in zip(after.colours, after.centres):
                    same = ((before.centres[before.colours == colour] - centre) ** 2).sum(-1)
                    seen[colour] += 1
                    moved[colour] += not len(same) or same.min() > 0.25
        share = moved / np.maximum(seen, 1)
        return tuple(int(c) for c in np.flatnonzero((share >= moving_share) & (seen > 0)))

    def snap(self, frames: np.ndarray) -> np.ndarray:
        """Frames (..., h, w, 3) uint8 -> palette index per pixel (..., h, w); NO_COLOUR beyond `tolerance`."""
        pixels = frames.astype(np.float32)[..., None, :]  # (..., h, w, 1, 3)
        distance = np.sqrt(((pixels - self.colours.astype(np.float32)) ** 2).sum(-1))  # (..., h, w, k)
        return np.where(distance.min(-1) <= self.tolerance, distance.argmin(-1), NO_COLOUR)

    def objects(self, frames: np.ndarray) -> list[FrameObjects]:
        """Frames (n, h, w, 3) uint8 -> the objects of each frame."""
        return [found for first in range(0, len(frames), 256)  # bounded memory: snap holds (n, h, w, k) distances
                for found in find_objects(self.snap(frames[first : first + 256]), self.min_pixels)]

    def match(self, real: FrameObjects, other: FrameObjects) -> tuple[np.ndarray, np.ndarray]:
        """Which objects of the real frame are kept, (m_real,) bool, and which of the other frame are true,
        (m_other,) bool (see the module's docstring)."""
        true = _covered_share(other, _coverage(real, len(self.colours), self.reach)) >= self.share
        kept = _covered_share(real, _coverage(other, len(self.colours), self.reach, only=true)) >= self.share
        return kept, true

    def to_dict(self) -> dict:
        return {"colours": self.colours.tolist(), "moving": list(self.moving), "tolerance": self.tolerance,
                "min_pixels": self.min_pixels, "reach": self.reach, "share": self.share}


def find_objects(labels: np.ndarray, min_pixels: int) -> list[FrameObjects]:
    """Palette indices (n, h, w) -> per frame the 4-connected regions of one non-background colour with
    >= min_pixels pixels."""
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
    _, first, inverse, sizes = np.unique(component[inside], return_index=True, return_inverse=True,
                                         return_counts=True)
    centres = np.stack([np.bincount(inverse, weights=ys), np.bincount(inverse, weights=xs)], -1) / sizes[:, None]
    kept = np.flatnonzero(sizes >= min_pixels)
    kept = kept[np.argsort(first[kept], kind="stable")]  # by frame, then by first pixel
    kept_frame = frame[first[kept]]
    starts = np.searchsorted(kept_frame, np.arange(n + 1))
    local = np.full(len(sizes), -1)
    local[kept] = np.arange(len(kept)) - starts[kept_frame]  # each object's index within its frame
    regions = np.full((n, h, w), -1)
    regions[frame, ys, xs] = local[inverse]
    colours = labels[frame[first[kept]], ys[first[kept]], xs[first[kept]]].astype(np.int64)
    return [FrameObjects(colours[starts[f] : starts[f + 1]], centres[kept[starts[f] : starts[f + 1]]], regions[f])
            for f in range(n)]


def _coverage(objects: FrameObjects, colours: int, reach: int, only: np.ndarray | None = None) -> np.ndarray:
    """(k, h, w) bool: where a pixel of colour c has a pixel of an object of colour c within `reach`
    (Chebyshev distance); `only` (m,) bool restricts the objects."""
    h, w = objects.regions.shape
    pixels = np.zeros((colours, h, w), bool)
    ys, xs, ids = objects.pixels
    if only is not None:
        ys, xs, ids = ys[only[ids]], xs[only[ids]], ids[only[ids]]
    pixels[objects.colours[ids], ys, xs] = True
    padded = np.pad(pixels, [(0, 0), (reach, reach), (reach, reach)])
    return np.logical_or.reduce([padded[:, dy : dy + h, dx : dx + w]
                                 for dy in range(2 * reach + 1) for dx in range(2 * reach + 1)])


def _covered_share(objects: FrameObjects, coverage: np.ndarray) -> np.ndarray:
    """(m,) float: the share of each object's pixels that `coverage` (k, h, w) covers in its colour."""
    ys, xs, ids = objects.pixels
    hits = coverage[objects.colours[ids], ys, xs]
    return np.bincount(ids, weights=hits, minlength=len(objects)) / np.maximum(
        np.bincount(ids, minlength=len(objects)), 1)


@dataclass
class ObjectCounts:
    """Running sums of matched and found objects, all and of moving colours only."""

    matched: float = 0.0  # kept real objects + true other objects
    found: float = 0.0  # real objects + other objects
    moving_matched: float = 0.0
    moving_found: float = 0.0
    frames: int = 0

    def add(self, palette: GamePalette, real: np.ndarray, other: np.ndarray) -> None:
        """Compare frames (n, h, w, 3) uint8 of the real game and of a model, frame by frame."""
        if real.shape != other.shape:
            raise ValueError(f"real frames {real.shape} and compared frames {other.shape} differ in shape")
        for real_objects, other_objects in zip(palette.objects(real), palette.objects(other)):
            kept, true = palette.match(real_objects, other_objects)
            self.matched += kept.sum() + true.sum()
            self.found += len(real_objects) + len(other_objects)
            real_moving, other_moving = real_objects.of_colours(palette.moving), other_objects.of_colours(palette.moving)
            self.moving_matched += kept[real_moving].sum() + true[other_moving].sum()
            self.moving_found += real_moving.sum() + other_moving.sum()
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
