"""Several outputs per job: formats x fit modes, the request forms, and the refusals."""

import io
import json

import imagecodecs
import pytest
from PIL import Image, ImageFile

import core
from core import formats
from core.outputs import FITS, OutputSpec
from core.render import render
from tests import images
from tests.jobs import nothing_queued
from thumbnailer.worker import Worker

FORMATS = [name for name in formats.supported_formats() if name != formats.AUTO]
BOXES = ((160, 160), (90, 40))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("image_format", FORMATS)
@pytest.mark.parametrize("fit", FITS)
@pytest.mark.parametrize("source", ["opaque", "alpha"])
def test_each_format_and_fit(image_format, fit, source):
    size = (400, 200) if source == "opaque" else (300, 150)
    data = images.jpeg(*size) if source == "opaque" else images.png_with_alpha(*size)
    specs = tuple(OutputSpec(width, height, image_format, fit) for width, height in BOXES)
    made = render(data, specs)
    assert len(made) == len(specs)
    for spec, output in zip(specs, made, strict=True):
        image = decode(output.data)
        assert image.format == formats.PIL_NAMES[image_format]
        assert output.content_type == f"image/{image_format}"
        if fit == "contain":
            assert image.width <= spec.width and image.height <= spec.height
            assert spec.width in image.size or spec.height in image.size
        elif fit == "cover":  # the box's shape, shrunk to the source where it is larger: never upscaled
            scale = min(1.0, size[0] / spec.width, size[1] / spec.height)
            assert image.size == (round(spec.width * scale), round(spec.height * scale))
        else:
            assert image.size == (spec.width, spec.height)
        if image_format != "jpeg" and (source == "alpha" or fit == "pad"):
            # GIF keeps it as one transparent palette entry.
            assert "A" in image.mode or "transparency" in image.info, "transparency must be kept"
            assert image.convert("RGBA").getextrema()[-1][0] < 255


@pytest.mark.parametrize("source", ["JPEG", "PNG"])
def test_the_source_is_decoded_once_for_many_outputs(monkeypatch, source):
    decodes = []  # one entry per decoder Pillow or libspng runs
    real = ImageFile.ImageFile.load
    real_spng = imagecodecs.spng_decode

    def counting(self):
        if self.tile:  # tiles left means pixels are about to be decoded
            decodes.append(self.size)
        return real(self)

    def counting_spng(data):
        decodes.append(len(data))
        return real_spng(data)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    monkeypatch.setattr(imagecodecs, "spng_decode", counting_spng)
    data = images.jpeg(800, 600) if source == "JPEG" else images.encode(images.two_halves(800, 600), "PNG")
    made = render(data, (OutputSpec(100, 100), OutputSpec(400, 400, "png", "cover"), OutputSpec(50, 50, "webp", "pad")))
    assert len(made) == 3 and len(decodes) == 1


def test_the_default_output_is_the_historic_thumbnail():
    # A 100x100 box, contain; JPEG q85 for an opaque image, PNG for one with alpha.
    for data, historic in ((images.jpeg(400, 300), "jpeg"), (images.png_with_alpha(), "png")):
        assert render(data) == render(data, (OutputSpec(100, 100, historic, "contain", quality=85),))


def test_pad_uses_the_background_colour():
    [output] = render(images.jpeg(400, 100), (OutputSpec(100, 100, "png", "pad", background="#00ff00"),))
    image = decode(output.data).convert("RGB")
    assert image.getpixel((50, 2)) == (0, 255, 0)


# -- the api ---------------------------------------------------------------------------------


def post(client, query: str = "", **fields):
    data = {"image": (io.BytesIO(images.jpeg()), "photo.jpg"), **fields}
    return client.post(f"/jobs{query}", data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("fields, query, field", [
    ({"output": '[{"format": "tiff"}]'}, "", "output[0].format"),
    ({"output": '[{"size": "0,100"}]'}, "", "output[0].size"),
    ({"output": '[{"size": "100,5000"}]'}, "", "output[0].size"),
    ({"output": json.dumps([{"size": "10,10"}] * 9)}, "", "output"),
    ({"output": '[{"format": "png",'}, "", "output"),
    ({"output": '[{"fit": "stretch"}]'}, "", "output[0].fit"),
    ({"output": '[{"quality": 0, "format": "webp"}]'}, "", "output[0].quality"),
    ({}, "?format=bmp", "format"),
    ({}, "?size=0x10", "size"),
    ({}, "?format=gif&animated=yes", "animated"),
    ({"output": '[{"format": "jpeg", "animated": true}]'}, "", "output[0].animated"),
    ({}, "?priority=urgent", "priority"),
    ({"callback_url": "ftp://example.com/hook"}, "", "callback_url"),
])
def test_bad_specs_are_refused_naming_the_field_and_nothing_is_queued(client, backends, fields, query, field):
    response = post(client, query, **fields)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field and field in body["message"]
    assert nothing_queued(backends)


def test_outputs_by_json_part_are_made_and_served(client, backends, settings):
    spec = [{"format": "png", "size": "100,100"}, {"format": "webp", "size": "200,120", "fit": "cover"},
            {"format": "jpeg", "width": 64, "height": 64, "fit": "pad", "quality": 70}]
    response = post(client, output=(io.BytesIO(json.dumps(spec).encode()), "output.json", "application/json"))
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert [output["url"] for output in job["outputs"]] == [
        f"http://localhost/jobs/{job['id']}/outputs/{index}" for index in range(3)]
    assert client.get(f"/jobs/{job['id']}/outputs/1").status_code == 409  # not ready yet
    Worker(backends, settings).work(burst=True)

    sizes = []
    for index, expected in enumerate(("PNG", "WEBP", "JPEG")):
        served = client.get(f"/jobs/{job['id']}/outputs/{index}")
        assert served.status_code == 200
        image = decode(served.data)
        assert image.format == expected
        sizes.append(image.size)
    assert sizes == [(100, 50), (200, 120), (64, 64)]
    assert client.get(f"/jobs/{job['id']}/thumbnail").data == client.get(f"/jobs/{job['id']}/outputs/0").data
    assert client.get(f"/jobs/{job['id']}/outputs/3").status_code == 404
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    with pytest.raises(core.NotFound):
        backends.jobs.load_output(job["id"], 2)


def test_an_animated_gif_stays_animated_by_query_shorthand(client, backends, settings):
    frames = [Image.new("RGB", (200, 100), colour) for colour in ((230, 20, 20), (20, 20, 230))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    data = {"image": (io.BytesIO(buffer.getvalue()), "moving.gif")}
    response = client.post("/jobs?format=webp&animated=true", data=data, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["outputs"][0]["animated"] is True
    Worker(backends, settings).work(burst=True)
    image = decode(client.get(f"/jobs/{response.get_json()['id']}/outputs/0").data)
    assert (image.format, image.size, image.n_frames) == ("WEBP", (100, 50), 2)


def test_outputs_by_query_shorthand(client, backends, settings):
    response = post(client, "?format=webp&size=120,120&fit=pad&background=transparent")
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    Worker(backends, settings).work(burst=True)
    image = decode(client.get(f"/jobs/{job_id}/outputs/0").data)
    assert (image.format, image.size, image.mode) == ("WEBP", (120, 120), "RGBA")


def test_default_post_still_gives_one_100x100_thumbnail(client, backends, settings):
    job_id = post(client).get_json()["id"]
    Worker(backends, settings).work(burst=True)
    job = client.get(f"/jobs/{job_id}").get_json()
    assert job["status"] == "complete" and len(job["outputs"]) == 1
    assert job["outputs"][0] | {"url": None, "signed_url": None} == {
        "width": 100, "height": 100, "format": "auto", "fit": "contain", "quality": None, "background": None,
        "url": None, "signed_url": None}
    served = client.get(f"/jobs/{job_id}/thumbnail")
    assert served.content_type == "image/jpeg" and served.data == render(images.jpeg())[0].data
    assert decode(served.data).size == (100, 50)  # the upload is 400x200
