"""Animated outputs (README, "Outputs"): `"animated": true` keeps an animated GIF or WebP animated
in a GIF or WebP output, within the frame cap and the pixel cap over width x height x frames;
every other output takes the first frame."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from core.errors import ImageTooLarge, InvalidOption
from core.outputs import OutputSpec
from core.render import MIN_COUNTED_FRAMES, OUTPUT_FRAMES_SHARE, render
from tests import images
from thumbnailer.worker import Worker

COLOURS = [(230, 20, 20), (20, 200, 20), (20, 20, 230)]
DURATIONS = [40, 80, 120]


def animation(fmt: str, size: tuple[int, int] = (200, 100), frames: int = 3) -> bytes:
    pictures = [Image.new("RGB", size, COLOURS[index % 3]) for index in range(frames)]
    durations = [DURATIONS[index % 3] for index in range(frames)]
    options = {"lossless": True} if fmt == "WEBP" else {}
    return images.encode(pictures[0], fmt, save_all=True, append_images=pictures[1:], duration=durations, loop=0,
                         **options)


def frames_of(data: bytes) -> list[tuple[tuple[int, int, int], int, tuple[int, int]]]:
    """(colour at the centre, duration, size) of every frame."""
    image = images.decode(data)
    seen = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frame = image.convert("RGB")
        seen.append((frame.getpixel((frame.width // 2, frame.height // 2)), image.info.get("duration"), frame.size))
    return seen


@pytest.mark.parametrize("source", ["GIF", "WEBP"])
@pytest.mark.parametrize("output", ["gif", "webp"])
def test_an_animation_stays_animated(source, output):
    [made] = render(animation(source), (OutputSpec(100, 100, output, animated=True),))
    assert made.content_type == f"image/{output}" and (made.width, made.height) == (100, 50)
    seen = frames_of(made.data)
    assert [duration for _, duration, _ in seen] == DURATIONS
    assert all(size == (100, 50) for _, _, size in seen)
    for (colour, _, _), expected in zip(seen, COLOURS, strict=True):
        assert images.colour_distance(colour, expected) < 30


def test_other_outputs_of_the_same_job_take_the_first_frame():
    made = render(animation("GIF"), (OutputSpec(100, 100, "gif", animated=True), OutputSpec(100, 100, "gif"),
                                     OutputSpec(60, 60, "png", "pad")))
    assert len(frames_of(made[0].data)) == 3
    for still in made[1:]:
        [(colour, _, _)] = frames_of(still.data)
        assert images.colour_distance(colour, COLOURS[0]) < 30


def test_a_still_image_asked_animated_is_one_frame():
    [made] = render(images.jpeg(400, 200), (OutputSpec(100, 100, "webp", animated=True),))
    assert len(frames_of(made.data)) == 1


def test_the_frame_cap_refuses_a_longer_animation():
    with pytest.raises(ImageTooLarge, match="frames; the limit is 4"):
        render(animation("GIF", frames=5), (OutputSpec(100, 100, "gif", animated=True),), max_frames=4)
    [still] = render(animation("GIF", frames=5), (OutputSpec(100, 100, "gif"),), max_frames=4)  # one frame: fine
    assert len(frames_of(still.data)) == 1


@pytest.mark.parametrize("frames", [3, 10])
def test_the_pixel_cap_counts_every_frame_and_at_least_eight(frames):
    data = animation("GIF", size=(200, 100), frames=frames)
    counted = 200 * 100 * max(frames, MIN_COUNTED_FRAMES)
    with pytest.raises(ImageTooLarge, match=f"x {frames} frames"):
        render(data, (OutputSpec(100, 100, "gif", animated=True),), max_pixels=counted - 1)
    [still] = render(data, (OutputSpec(100, 100, "gif"),), max_pixels=counted - 1)  # one frame: fine
    assert len(frames_of(still.data)) == 1
    [moving] = render(data, (OutputSpec(100, 100, "gif", animated=True),), max_pixels=counted)
    assert len(frames_of(moving.data)) == frames


def test_the_animated_outputs_frames_share_a_part_of_the_pixel_cap():
    data = animation("GIF", size=(200, 100), frames=3)
    specs = (OutputSpec(100, 100, "gif", animated=True), OutputSpec(200, 200, "webp", "pad", animated=True))
    made = 3 * (100 * 50 + 200 * 200)  # contain keeps the aspect; pad is the whole box
    with pytest.raises(ImageTooLarge, match="animated outputs"):
        render(data, specs, max_pixels=made * OUTPUT_FRAMES_SHARE - 1)
    assert len(render(data, specs, max_pixels=made * OUTPUT_FRAMES_SHARE)) == 2


@pytest.mark.parametrize("document, message", [({"format": "jpeg", "animated": True}, "only gif and webp"),
                                               ({"animated": True}, "only gif and webp"),
                                               ({"format": "gif", "animated": "yes"}, "true or false")])
def test_animated_is_validated(document, message):
    with pytest.raises(InvalidOption, match=message) as raised:
        OutputSpec.from_dict(document)
    assert raised.value.field == "output.animated"


def test_animated_round_trips_through_the_job_document():
    spec = OutputSpec(100, 100, "webp", animated=True)
    assert OutputSpec.from_dict(spec.to_dict()) == spec
    assert "animated" not in OutputSpec().to_dict()


def test_a_worker_fails_an_animation_over_max_animation_frames_with_413(client, backends, settings):
    data = {"image": (io.BytesIO(animation("GIF", frames=3)), "moving.gif")}
    response = client.post("/jobs?format=gif&animated=true", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    Worker(backends, dataclasses.replace(settings, max_animation_frames=2)).work(burst=True)
    job = client.get(f"/jobs/{response.get_json()['id']}").get_json()
    assert (job["status"], job["code"]) == ("failed", 413) and "the limit is 2" in job["message"]
