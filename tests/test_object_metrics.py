"""The object metric: a game's palette from its frames, objects found, matched by colour and pixel overlap."""

import numpy as np
import pytest

from tv2tv_world.evaluation.object_metrics import GamePalette, ObjectCounts, find_objects, frames_to_uint8, object_f1

BACKGROUND, WALL, PLAYER, FRUIT = (20, 20, 30), (120, 120, 130), (245, 245, 245), (235, 50, 45)


def scene(player=(10, 10), fruit=(40, 40), fruit_colour=FRUIT, size=32 + 32) -> np.ndarray:
    """A (h, w, 3) uint8 frame: a wall ring, a 6x6 player and a 4x4 fruit at (y, x) top-left corners."""
    frame = np.empty((size, size, 3), np.uint8)
    frame[:] = WALL
    frame[2:-2, 2:-2] = BACKGROUND
    if fruit is not None:
        frame[fruit[0] : fruit[0] + 4, fruit[1] : fruit[1] + 4] = fruit_colour
    if player is not None:
        frame[player[0] : player[0] + 6, player[1] : player[1] + 6] = PLAYER
    return frame


@pytest.fixture
def palette() -> GamePalette:
    # the player walks right one pixel a frame; the fruit stays
    clip = np.stack([scene(player=(10, 10 + i)) for i in range(12)])
    return GamePalette.from_frames([clip])


def test_palette_is_found_from_frames_with_the_background_first_and_the_player_as_moving(palette):
    assert [tuple(c) for c in palette.colours] == [BACKGROUND, WALL, PLAYER, FRUIT]
    assert palette.moving == (2,)  # the player; the fruit and the wall never move


def test_the_blends_along_a_resized_frames_edges_are_not_colours_of_the_game():
    from tv2tv_world.envs.resize import area_resize

    raw = np.empty((210, 160, 3), np.uint8)  # an ALE-sized screen, area-resized to 64x64 as PixelGame does
    raw[:] = BACKGROUND
    raw[50:96, 40:54] = PLAYER  # a 14x46 sprite: its edges land between the small frame's pixels
    small = np.stack([area_resize(np.roll(raw, i, axis=1), 64, 64) for i in range(12)])
    assert len(np.unique(small.reshape(-1, 3), axis=0)) > 2  # the blends are there
    assert [tuple(c) for c in GamePalette.from_frames([small]).colours] == [BACKGROUND, PLAYER]


def test_objects_are_the_regions_of_one_colour_with_their_centres(palette):
    found = palette.objects(scene()[None])[0]
    described = [(int(c), *map(float, centre)) for c, centre in zip(found.colours, found.centres)]
    assert sorted(described) == sorted([(1, 31.5, 31.5), (2, 12.5, 12.5), (3, 41.5, 41.5)])
    assert (found.regions >= 0).sum() == (64 * 64 - 60 * 60) + 36 + 16  # wall ring, player, fruit


def test_a_frame_against_itself_scores_one(palette):
    frames = np.stack([scene(), scene(player=(30, 20))])
    assert object_f1(palette, frames, frames) == 1.0


def test_a_shifted_object_is_kept_while_half_of_it_lies_within_a_pixel_of_its_place(palette):
    real = scene(player=(10, 10))[None]
    assert object_f1(palette, real, scene(player=(10, 12))[None]) == 1.0  # wall, player and fruit all kept
    assert object_f1(palette, real, scene(player=(10, 14))[None]) == 1.0  # 3 of the 6x6 player's 6 columns
    # moved 5 pixels: 2 of its 6 columns within a pixel; the wall and fruit match (2 of 3 objects each side)
    assert object_f1(palette, real, scene(player=(10, 15))[None]) == pytest.approx(2 * 2 / 6)


def test_a_sprite_in_pieces_matches_the_same_sprite_drawn_joined(palette):
    pieces = scene(player=None)
    pieces[10:16, 10:13] = PLAYER  # the player's left half ...
    pieces[10:16, 14:17] = PLAYER  # ... and its right half, a background column between them
    joined = scene(player=(10, 10))
    joined[10:16, 16] = PLAYER  # the same sprite, 7 columns wide, in one piece
    assert len(palette.objects(pieces[None])[0]) == 4 and len(palette.objects(joined[None])[0]) == 3
    assert object_f1(palette, pieces[None], joined[None]) == 1.0
    assert object_f1(palette, joined[None], pieces[None]) == 1.0


def test_a_smear_of_the_players_colour_keeps_no_player(palette):
    smeared = scene(player=None)
    smeared[4:24, 4:24] = PLAYER  # a 20x20 blot over where the 6x6 player is: mostly where no player is
    counts = ObjectCounts()
    counts.add(palette, scene(player=(10, 10))[None], smeared[None])
    assert counts.moving_f1 == 0.0
    assert counts.f1 == pytest.approx(2 * 2 / 6)


def test_a_recoloured_object_is_a_miss(palette):
    pink = (255, 150, 200)  # beyond the tolerance of every palette colour: no object at all
    assert object_f1(palette, scene()[None], scene(fruit_colour=pink)[None]) == pytest.approx(2 * 2 / 5)
    player_coloured = scene(fruit_colour=PLAYER)[None]  # a fruit drawn in the player's colour
    assert object_f1(palette, scene()[None], player_coloured) == pytest.approx(2 * 2 / 6)


def test_an_empty_frame_against_one_object_scores_zero(palette):
    empty = np.empty((1, 64, 64, 3), np.uint8)
    empty[:] = BACKGROUND
    one = empty.copy()
    one[0, 20:26, 20:26] = PLAYER
    assert object_f1(palette, one, empty) == 0.0
    assert object_f1(palette, empty, one) == 0.0
    assert object_f1(palette, empty, empty) == 1.0


def test_moving_f1_counts_only_the_moving_colours(palette):
    counts = ObjectCounts()
    counts.add(palette, scene()[None], scene(fruit=None)[None])  # the fruit is lost, the player kept
    assert counts.moving_f1 == 1.0
    assert counts.f1 == pytest.approx(2 * 2 / 5)


def test_regions_smaller_than_min_pixels_are_not_objects_and_diagonal_pixels_do_not_join():
    labels = np.zeros((1, 8, 8), np.int64)
    labels[0, 0, 0] = labels[0, 1, 1] = labels[0, 2, 2] = 1  # three diagonal pixels: three regions of 1
    labels[0, 5:7, 4:7] = 2  # one region of 6
    (found,) = find_objects(labels, min_pixels=6)
    assert found.colours.tolist() == [2] and found.centres.tolist() == [[5.5, 5.0]]
    assert (found.regions == 0).sum() == 6 and (found.regions >= 0).sum() == 6
    assert len(find_objects(labels, min_pixels=1)[0]) == 4


def test_objects_are_found_frame_by_frame_in_a_batch():
    labels = np.zeros((3, 8, 8), np.int64)
    labels[0, 0:2, 0:3] = 1
    labels[2, 0:2, 0:3] = labels[2, 5:7, 5:8] = 2  # the middle frame is empty
    counts = [len(found) for found in find_objects(labels, min_pixels=6)]
    assert counts == [1, 0, 2]
    assert find_objects(labels, min_pixels=6)[2].regions.max() == 1


def test_frames_to_uint8_reads_model_frames_in_minus_one_to_one():
    frames = np.zeros((1, 3, 2, 2), np.float32)
    frames[0, 0] = 1.0
    frames[0, 2] = -1.0
    out = frames_to_uint8(frames)
    assert out.shape == (1, 2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0, 0].tolist() == [255, 128, 0]


def test_frames_of_another_shape_are_refused(palette):
    with pytest.raises(ValueError, match="differ in shape"):
        ObjectCounts().add(palette, scene()[None], scene(size=32)[None])
    with pytest.raises(ValueError, match="uint8"):
        GamePalette.from_frames([np.zeros((2, 8, 8, 3), np.float32)])
