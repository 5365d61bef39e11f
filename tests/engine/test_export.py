"""ONNX export: both graphs equal the PyTorch model on onnxruntime, for dff's own
DFF and Accel models and a torchvision adapter (with DIS flow as an input), and `dff infer
--backend onnxruntime` gives the PyTorch path's labels."""
import json

import numpy as np
import pytest
import torch

from dff.cli import main
from dff.config import merge
from dff.engine.builders import load_trained, model_from_config
from dff.engine.export import export_onnx

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _compare(model, folder, size):
    """Max |ORT - PyTorch| of (features, logits) on the key graph and on the propagate graph."""
    torch.manual_seed(0)
    key_frame, frame = torch.rand(1, 3, *size), torch.rand(1, 3, *size)
    key_graph = ort.InferenceSession(str(folder / "key.onnx"))
    prop_graph = ort.InferenceSession(str(folder / "propagate.onnx"))
    info = json.loads((folder / "export.json").read_text())
    with torch.no_grad():
        state = model.key(key_frame)
        moved = model.propagate(state, frame)
        ref = [state.features, model.logits(state), moved.features, model.logits(moved)]
    features, logits = key_graph.run(None, {"frame": key_frame.numpy()})
    inputs = {"frame": frame.numpy(), "key_features": features}
    if info["flow_input"]:
        inputs["flow"] = moved.flow.numpy()
    else:
        inputs["key_frame"] = key_frame.numpy()
    got = [features, logits, *prop_graph.run(None, inputs)]
    return [float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref)], ref


@pytest.mark.parametrize("arch", ["dff", "accel", "dff refined", "dff key_flip"])
def test_exported_graphs_equal_pytorch(tiny_run, tiny_cfg, tmp_path, arch):
    if arch == "dff":
        model = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))[0]
    elif arch == "dff refined":  # model.refine: guided, its correction not zero as at the start
        torch.manual_seed(1)
        model = model_from_config(merge(tiny_cfg, {"model": {"refine": "guided"}}), 3).eval()
        torch.nn.init.normal_(model.refine.out.weight, std=0.5)
    elif arch == "dff key_flip":  # the key graph holds the mirror image's pass
        flip_cfg = merge(tiny_cfg, {"model": {"key_flip": True}})
        model = load_trained(flip_cfg, tiny_run / "best.pt", torch.device("cpu"))[0]
        assert model.key_flip
    else:
        cfg = merge(tiny_cfg, {"model": {"arch": "accel", "update_backbone": "mobilenet_v3_small",
                                         "update_output_stride": 32, "update_channels": 8}})
        torch.manual_seed(1)
        model = model_from_config(cfg, 3).eval()
    info = export_onnx(model, tmp_path, (48, 64), {})
    assert info["opset"] == 17 and info["flow_input"] is False and info["feature_grid"] == [6, 8]
    worst, ref = _compare(model, tmp_path, (48, 64))
    assert worst[1] <= 1e-4 and worst[3] <= 1e-4, worst  # logits of the key and the propagate graph
    assert worst[0] <= 1e-4 and worst[2] <= 1e-4, worst
    assert ref[3].abs().max() > 0.01  # not a trivially zero output


def test_a_torchvision_adapter_with_dis_takes_the_flow_as_an_input(tmp_path):
    from dff.config import load_config

    cfg = load_config(None, ["model.key_network=torchvision:lraspp_mobilenet_v3_large", "model.flow=dis",
                             "model.num_classes=3"])
    torch.manual_seed(0)
    model = model_from_config(cfg, 3).eval()
    info = export_onnx(model, tmp_path, (64, 96), {})
    assert info["flow_input"] and info["propagate_inputs"] == ["frame", "key_features", "flow"]
    worst, ref = _compare(model, tmp_path, (64, 96))
    scale = max(1.0, float(ref[1].abs().max()))  # random weights: logits far from 1
    assert worst[1] <= 1e-4 * scale and worst[3] <= 1e-4 * scale, (worst, scale)


def test_export_and_infer_on_onnxruntime_give_the_pytorch_labels(tiny_run, synthetic_root, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "onnx"
    ckpt = str(tiny_run / "best.pt")
    assert main(["export", "--checkpoint", ckpt, "--out", str(out), "--size", "48x64"]) == 0
    assert "key.onnx, propagate.onnx (its flow network inside)" in capsys.readouterr().out
    info = json.loads((out / "export.json").read_text())
    assert info["num_classes"] == 3 and info["key_interval"] == 3 and info["size"] == [48, 64]
    assert main(["export", "--checkpoint", ckpt, "--out", str(out)]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    frames = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    base = ["infer", "--input", str(frames), "--mode", "labels"]
    assert main(base + ["--checkpoint", ckpt, "--output", str(tmp_path / "pt"), "--device", "cpu"]) == 0
    assert main(base + ["--backend", "onnxruntime", "--onnx", str(out), "--output", str(tmp_path / "ort")]) == 0
    read = lambda d: np.stack([np.array(Image.open(p)) for p in sorted(d.glob("*.png"))])  # noqa: E731
    pt, onnx = read(tmp_path / "pt"), read(tmp_path / "ort")
    assert pt.shape == onnx.shape == (8, 48, 64) and (pt == onnx).mean() >= 0.999
    assert main(base + ["--backend", "onnxruntime", "--output", str(tmp_path / "x")]) == 1
    assert "--backend onnxruntime and --onnx DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--checkpoint", ckpt, "--out", str(tmp_path / "o15"), "--opset", "15"])
