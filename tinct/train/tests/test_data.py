import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.color import rgb2lab
from tinct.errors import ParameterError
from tinct.train.data import (
    centre_crop,
    epoch_order,
    load_images,
    random_resized_crop,
    recolour_objects,
    sample_hints,
    step_generator,
)
from tinct.train.lab import lab_to_rgb, rgb_to_lab


def _png(colour, size=(20, 12)):
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def make_shard(path, colours):
    with tarfile.open(path, "w") as tf:
        for i, c in enumerate(colours):
            data = _png(c)
            info = tarfile.TarInfo(f"{i:06d}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        bad = b"not an image"
        info = tarfile.TarInfo("999999.jpg")
        info.size = len(bad)
        tf.addfile(info, io.BytesIO(bad))
        txt = b"hello"
        info = tarfile.TarInfo("readme.txt")
        info.size = len(txt)
        tf.addfile(info, io.BytesIO(txt))
    return path


def test_load_images_from_shard_and_folder(tmp_path):
    shard = make_shard(tmp_path / "s.tar", [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    folder = tmp_path / "imgs" / "sub"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(_png((10, 20, 30), (8, 8)))
    arr = load_images([str(shard), str(tmp_path / "imgs")], load_size=16, workers=1)
    assert arr.shape == (4, 16, 16, 3) and arr.dtype == np.uint8  # the broken member is skipped
    np.testing.assert_array_equal(arr[0, 5, 5], [255, 0, 0])
    np.testing.assert_array_equal(arr[3, 0, 0], [10, 20, 30])
    assert load_images(str(shard), load_size=16, limit=2).shape[0] == 2


def test_load_images_rejects_bad_sources(tmp_path):
    with pytest.raises(ParameterError, match="data"):
        load_images([str(tmp_path / "missing")], load_size=16)
    with pytest.raises(ParameterError, match="load_size"):
        load_images([str(tmp_path)], load_size=3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no decodable"):
        load_images([str(tmp_path / "empty")], load_size=16)


def test_torch_lab_matches_numpy_lab():
    rgb = np.random.default_rng(0).random((1, 3, 6, 7), dtype=np.float32)
    lab = rgb_to_lab(torch.from_numpy(rgb)).numpy()
    ref = rgb2lab(np.moveaxis(rgb[0], 0, -1))
    np.testing.assert_allclose(np.moveaxis(lab[0], 0, -1), ref, atol=2e-3)
    back = lab_to_rgb(torch.from_numpy(lab)).numpy()
    np.testing.assert_allclose(back, rgb, atol=2e-3)


def test_random_resized_crop_is_reproducible_and_identity_without_jitter():
    images = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8)
    a = random_resized_crop(images, 8, step_generator(0, 5, "cpu"))
    b = random_resized_crop(images, 8, step_generator(0, 5, "cpu"))
    c = random_resized_crop(images, 8, step_generator(0, 6, "cpu"))
    assert a.shape == (3, 3, 8, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    same = random_resized_crop(images, 16, step_generator(0, 1, "cpu"), scale=(1, 1), ratio=(1, 1), flip=False)
    torch.testing.assert_close(same, images.permute(0, 3, 1, 2).float() / 255, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(centre_crop(images, 16).numpy(), (images.permute(0, 3, 1, 2).float() / 255).numpy())


def test_epoch_order_is_a_permutation_fixed_by_seed_and_epoch():
    a = epoch_order(50, 3, 2, "cpu")
    assert sorted(a.tolist()) == list(range(50))
    assert torch.equal(a, epoch_order(50, 3, 2, "cpu")) and not torch.equal(a, epoch_order(50, 3, 3, "cpu"))


def test_hints_reveal_true_colours_at_the_mask():
    g = torch.Generator().manual_seed(0)
    ab = torch.randn(6, 2, 12, 12, generator=g) * 30
    none_ab, none_mask = sample_hints(ab, step_generator(0, 0, "cpu"), p_none=1.0)
    assert float(none_mask.sum()) == 0 and float(none_ab.abs().sum()) == 0
    hint, mask = sample_hints(ab, step_generator(0, 0, "cpu"), p_none=0.0, pool=1)
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    assert (mask.sum(dim=(1, 2, 3)) >= 1).all()
    m = mask.bool().expand_as(ab)
    torch.testing.assert_close(hint[m], ab[m])
    assert float(hint[~m].abs().sum()) == 0


def test_click_hints_land_inside_uniform_regions_and_reveal_their_colour():
    g = torch.Generator().manual_seed(0)
    ab = torch.zeros(8, 2, 32, 32)
    ab[:, 0, :, :16] = 40.0  # left half: one flat colour (an object)
    ab[:, :, :, 16:] = torch.randn(8, 2, 32, 16, generator=g) * 40  # right half: busy texture
    random_hint, random_mask = sample_hints(ab, step_generator(0, 0, "cpu"), p_none=0.0)
    click_hint, click_mask = sample_hints(ab, step_generator(0, 0, "cpu"), p_none=0.0, style="clicks")
    left = lambda m: float(m[..., :, :13].sum() / m.sum())  # noqa: E731 - share of hints well inside the object
    assert left(click_mask) > 0.9 and left(random_mask) < 0.7
    revealed = click_hint[:, 0, :, :13][click_mask[:, 0, :, :13].bool()]  # the object's own colour
    torch.testing.assert_close(revealed, torch.full_like(revealed, 40.0))
    mixed = sample_hints(ab, step_generator(0, 1, "cpu"), p_none=0.0, style="mixed")[1]
    assert 0.5 < left(mixed) < 1.0
    with pytest.raises(ParameterError, match="hint_style"):
        sample_hints(ab, step_generator(0, 0, "cpu"), style="wild")


def test_recoloured_objects_follow_the_object_and_the_click_reveals_the_new_colour():
    g = torch.Generator().manual_seed(0)
    lum = torch.full((8, 1, 32, 32), 70.0)
    lum[..., 16:] = 30.0  # right half: another object, darker
    ab = torch.zeros(8, 2, 32, 32)
    ab[:, 0, :, :16] = 40.0
    ab[:, :, :, 16:] = torch.randn(8, 2, 32, 16, generator=g) * 40
    hint_ab, hint_mask = sample_hints(ab, step_generator(0, 0, "cpu"), p_none=0.0, style="clicks")
    same = recolour_objects(lum, ab, hint_ab, hint_mask, step_generator(0, 0, "cpu"), p=0.0)
    assert same[0] is ab and same[2] is hint_mask
    new_ab, new_hint, new_mask = recolour_objects(lum, ab, hint_ab, hint_mask, step_generator(0, 0, "cpu"), p=1.0)
    changed = (new_ab != ab).any(dim=1)
    assert bool((changed.sum(dim=(1, 2)) > 0).all())  # every image had an object recoloured ...
    assert not bool(changed[..., 16:].any())  # ... never across the edge into the other object
    assert float(new_ab.norm(dim=1)[changed].max()) <= 90.0 + 1e-3
    # Every hint left reveals the colour the loss sees there, and each image keeps a click on its object.
    m = new_mask.bool().expand_as(new_ab)
    torch.testing.assert_close(new_hint[m], new_ab[m], atol=1e-3, rtol=0)
    assert bool(((new_mask[:, 0] > 0) & changed).flatten(1).any(dim=1).all())
