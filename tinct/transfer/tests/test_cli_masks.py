"""The transfer methods from the command line, with masks given as image files."""

import numpy as np
import pytest

from tinct.apps.cli import main
from tinct.io import read_image, write_image


@pytest.mark.parametrize("method", ["gmm", "mkl", "sliced"])
def test_cli_transfer_with_mask_files(tmp_path, method, capsys):
    rng = np.random.default_rng(0)
    target = rng.integers(40, 200, (32, 48, 3), dtype=np.uint8)
    reference = np.zeros((30, 40, 3), np.uint8)
    reference[:, :20] = (220, 40, 30)
    reference[:, 20:] = (30, 200, 60)
    reference = np.clip(reference.astype(int) + rng.integers(-15, 15, reference.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((32, 48), np.uint8)
    mask[8:24, 10:40] = 255
    rmask = np.zeros((30, 40), np.uint8)
    rmask[:, :20] = 1  # only the red half of the reference
    for name, arr in (("t.png", target), ("r.png", reference), ("m.png", mask), ("rm.png", rmask)):
        write_image(tmp_path / name, arr)
    out = tmp_path / "out.png"
    code = main(["transfer", str(tmp_path / "t.png"), "-r", str(tmp_path / "r.png"), "--target-mask",
                 str(tmp_path / "m.png"), "--reference-mask", str(tmp_path / "rm.png"), "-m", method,
                 "-p", "feather=2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    res = read_image(out).pixels
    inside = mask != 0
    np.testing.assert_array_equal(res[~inside], target[~inside])
    deep = res[12:20, 16:34].reshape(-1, 3).astype(int)
    assert (deep[:, 0] - deep[:, 1]).mean() > 60  # the red half's colours, not the green's


def test_cli_reports_empty_mask_as_error(tmp_path, capsys):
    write_image(tmp_path / "t.png", np.full((16, 16, 3), 100, np.uint8))
    write_image(tmp_path / "r.png", np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8))
    write_image(tmp_path / "m.png", np.zeros((16, 16), np.uint8))
    code = main(["transfer", str(tmp_path / "t.png"), "-r", str(tmp_path / "r.png"), "--target-mask",
                 str(tmp_path / "m.png"), "-m", "gmm", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "target_mask" in err and "Traceback" not in err
