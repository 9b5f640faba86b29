import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tinct.errors import ParameterError, TinctError
from tinct.models.tinctnet import load
from tinct.train.loop import TrainConfig, Trainer, export_weights, lr_factor


def tiny_images(n=8, size=32, seed=0):
    """Colourful synthetic photos: a smooth vertical gradient 'sky' over a textured 'ground'."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        top = rng.integers(0, 256, 3)
        bottom = rng.integers(0, 256, 3)
        img[i, : size // 2] = top
        img[i, size // 2 :] = bottom
        img[i] = np.clip(img[i].astype(int) + rng.integers(-10, 10, (size, size, 1)), 0, 255)
    return img


def cfg(tmp_path, **kw):
    base = dict(data=["<memory>"], out=str(tmp_path / "run"), steps=6, batch_size=4, crop=32, load_size=32,
                val_count=2, width=8, warmup=2, ckpt_every=3, eval_every=3, log_every=1, device="cpu",
                prior_images=16, lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)


def test_lr_schedule_warms_up_then_decays():
    f = [lr_factor(s, 10, 100, 0.02) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[-1] == pytest.approx(0.02, abs=1e-3)


def test_loss_decreases_on_a_tiny_set(tmp_path):
    torch.set_num_threads(1)
    c = cfg(tmp_path, steps=30, batch_size=8, val_count=0, hints=False, smooth=0.5, ckpt_every=1000,
            eval_every=1000, warmup=4, lr=5e-3)
    t = Trainer(c, images=tiny_images(8), log=lambda *a: None)
    losses = [t.train_step()["loss"] for _ in range(c.steps)]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_mse_baseline_trains_too(tmp_path):
    c = cfg(tmp_path, steps=20, loss="mse", val_count=0, hints=False, smooth=0.0, batch_size=8, lr=5e-3)
    t = Trainer(c, images=tiny_images(8), log=lambda *a: None)
    losses = [t.train_step()["mse"] for _ in range(c.steps)]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


def test_resume_continues_bit_identically(tmp_path):
    torch.set_num_threads(1)
    images = tiny_images(10)
    straight = Trainer(cfg(tmp_path / "a"), images=images, log=lambda *a: None)
    straight.run()
    first = Trainer(cfg(tmp_path / "b", steps=6, max_minutes=0.0), images=images, log=lambda *a: None)
    first.run()  # stops after one step (time limit), checkpointed
    assert first.step == 1
    resumed = Trainer(cfg(tmp_path / "b", resume="auto"), images=images, log=lambda *a: None)
    assert resumed.step == 1
    resumed.run()
    assert resumed.step == straight.step == 6
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    sa, sb = straight.opt.state_dict()["state"], resumed.opt.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    log = [json.loads(line) for line in (tmp_path / "b" / "run" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "time limit" for r in log) and any("val_ce" in r for r in log)
    assert list((tmp_path / "b" / "run").glob("sheet-*.png"))


def test_resume_follows_the_new_schedule_length(tmp_path):
    images = tiny_images(6)
    Trainer(cfg(tmp_path, steps=10, max_minutes=0.0), images=images, log=lambda *a: None).run()
    t = Trainer(cfg(tmp_path, steps=4, resume="auto"), images=images, log=lambda *a: None)
    expected = 3e-3 * lr_factor(1, 2, 4, 0.02)
    assert t.opt.param_groups[0]["lr"] == pytest.approx(expected)
    t.train_step()
    assert t.opt.param_groups[0]["lr"] == pytest.approx(3e-3 * lr_factor(2, 2, 4, 0.02))


def test_resume_refuses_an_incompatible_checkpoint(tmp_path):
    images = tiny_images(6)
    Trainer(cfg(tmp_path, steps=1), images=images, log=lambda *a: None).run()
    with pytest.raises(ParameterError, match="width"):
        Trainer(cfg(tmp_path, width=16, resume="auto"), images=images, log=lambda *a: None)
    with pytest.raises(TinctError, match="not found"):
        Trainer(cfg(tmp_path, resume=str(tmp_path / "nope.pt")), images=images, log=lambda *a: None)


def test_export_writes_fp16_weights_that_reproduce_the_model(tmp_path):
    t = Trainer(cfg(tmp_path, steps=3), images=tiny_images(8), log=lambda *a: None)
    t.run()
    info = export_weights(tmp_path / "run" / "ckpt-last.pt", tmp_path / "w.pt")
    assert info["sha256"] == hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    net = load(tmp_path / "w.pt")
    assert net.bins == "313" and net.output_stride == 4
    lum = torch.rand(1, 1, 32, 32) * 100
    t.model.eval()
    with torch.no_grad():
        ref = t.model(lum)
        out = net(lum)
    assert out.shape == ref.shape == (1, 313, 8, 8)
    torch.testing.assert_close(out, ref, atol=0.05, rtol=0.01)


def test_config_validation_names_the_parameter(tmp_path):
    for kw, name in [(dict(loss="l1"), "loss"), (dict(rebalance=0.0), "rebalance"), (dict(crop=30), "crop"),
                     (dict(device="tpu"), "device"), (dict(data=[]), "data"), (dict(steps=0), "steps")]:
        with pytest.raises(ParameterError, match=name):
            cfg(tmp_path, **kw).validate()


def test_command_line_trains_and_exports(tmp_path, capsys):
    from PIL import Image

    from tinct.train.__main__ import main

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(tiny_images(6, 32)):
        Image.fromarray(img).save(folder / f"{i}.png")
    common = ["--out", str(tmp_path / "r"), "--steps", "2", "--batch-size", "2", "--crop", "32", "--load-size",
              "32", "--width", "8", "--val-count", "2", "--log-every", "1", "--prior-images", "4"]
    assert main([str(folder), *common]) == 0
    assert (tmp_path / "r" / "ckpt-last.pt").exists() and (tmp_path / "r" / "sheet-0000002.png").exists()
    capsys.readouterr()
    assert main(["--export", str(tmp_path / "r" / "ckpt-last.pt"), "--weights-out", str(tmp_path / "w.pt")]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    assert main([str(folder), *common, "--loss", "mse", "--rebalance", "0"]) == 2
    assert "rebalance" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), *common]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data" in err


def test_python_m_tinct_train_help_runs_without_the_other_commands():
    p = subprocess.run([sys.executable, "-m", "tinct.train", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--rebalance" in p.stdout


def test_init_takes_the_weights_only_and_a_run_checkpoint_wins_over_it(tmp_path):
    images = tiny_images(6)
    donor = Trainer(cfg(tmp_path / "donor", steps=3), images=images, log=lambda *a: None)
    donor.run()
    ck = str(tmp_path / "donor" / "run" / "ckpt-last.pt")
    fresh = Trainer(cfg(tmp_path / "fresh", steps=5, init=ck), images=images, log=lambda *a: None)
    assert fresh.step == 0 and not fresh.opt.state_dict()["state"]
    for (k, a), b in zip(donor.model.state_dict().items(), fresh.model.state_dict().values()):
        assert torch.equal(a, b), k
    fresh.run()
    again = Trainer(cfg(tmp_path / "fresh", steps=5, init=ck, resume="auto"), images=images, log=lambda *a: None)
    assert again.step == 5  # its own checkpoint, not the donor's weights
    with pytest.raises(ParameterError, match="init: checkpoint has width"):
        Trainer(cfg(tmp_path / "other", width=16, init=ck), images=images, log=lambda *a: None)


def test_init_from_a_shipped_weights_file_starts_from_its_network(tmp_path):
    images = tiny_images(6)
    donor = Trainer(cfg(tmp_path / "donor", steps=3), images=images, log=lambda *a: None)
    donor.run()
    weights = tmp_path / "donor.pt"
    export_weights(tmp_path / "donor" / "run" / "ckpt-last.pt", weights, half=False)
    fresh = Trainer(cfg(tmp_path / "fresh", steps=5, init=str(weights)), images=images, log=lambda *a: None)
    assert fresh.step == 0
    for (k, a), b in zip(donor.model.state_dict().items(), fresh.model.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ParameterError, match="init: weights have width"):
        Trainer(cfg(tmp_path / "other", width=16, init=str(weights)), images=images, log=lambda *a: None)


def test_export_logit_adjustment_shifts_each_logit_by_alpha_log_weight(tmp_path):
    from tinct.train.losses import rebalance_weights

    t = Trainer(cfg(tmp_path, steps=2, hints=False), images=tiny_images(8), log=lambda *a: None)
    t.run()
    ck = tmp_path / "run" / "ckpt-last.pt"
    export_weights(ck, tmp_path / "plain.pt", half=False)
    info = export_weights(ck, tmp_path / "adj.pt", half=False, logit_adjustment=0.25)
    assert info["logit_adjustment"] == 0.25
    lum = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        diff = load(tmp_path / "adj.pt")(lum) - load(tmp_path / "plain.pt")(lum)
    expected = -0.25 * np.log(rebalance_weights(t.prior, t.cfg.rebalance))
    torch.testing.assert_close(diff, torch.as_tensor(expected, dtype=torch.float32).view(1, -1, 1, 1).expand_as(diff),
                               atol=1e-4, rtol=0)
    assert expected.std() > 0.1  # the adjustment is not a constant (which softmax would ignore)
