import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dff
from dff.engine.builders import load_trained
from dff.inference.stream import StreamRunner
from dff.models.normalize import Normalize


def as_input(frame: np.ndarray, size) -> torch.Tensor:
    """An RGB uint8 frame as dff feeds it: area-resized to (h, w), float [0, 1], (1, 3, h, w)."""
    small = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255


def frames(n=7, size=(50, 70), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def test_load_a_checkpoint_and_stream_frames_of_any_size(tiny_run, tiny_cfg):
    seg = dff.load(tiny_run / "best.pt", key_interval=3, device="cpu")
    assert seg.class_names == ["background", "class1", "class2"] and seg.palette == "synthetic"
    out = list(seg.stream(frames()))
    assert [r.index for r in out] == list(range(7)) and [r.is_key for r in out] == [i % 3 == 0 for i in range(7)]
    assert all(r.labels.shape == (50, 70) and r.labels.dtype == np.uint8 for r in out)
    # the model streamed by hand at the network size (short side 48), upsampled to the frame
    model, _ = load_trained(tiny_cfg, tiny_run / "best.pt", torch.device("cpu"))
    runner = StreamRunner(model, 3)
    for frame, result in zip(frames(), out):
        logits, key = runner.step(as_input(frame, (48, 67)))
        labels = F.interpolate(logits, size=(50, 70), mode="bilinear", align_corners=False).argmax(1)[0]
        assert key == result.is_key and np.array_equal(labels.numpy(), result.labels)
    with pytest.raises(ValueError, match="unknown override 'speed'"):
        dff.load(tiny_run / "best.pt", speed=2)


def test_stream_reads_what_infer_reads_and_restarts_on_a_key(tiny_run, synthetic_root):
    seg = dff.load(tiny_run / "best.pt", key_interval=4, device="cpu")
    folder = sorted((synthetic_root / "val").iterdir())[0] / "frames"
    first = list(seg.stream(folder))
    assert len(first) == 8 and first[0].labels.shape == (48, 64)
    again = list(seg.stream(str(folder)))  # a second video starts on a key frame
    assert [r.is_key for r in again] == [r.is_key for r in first] and again[0].is_key
    assert all(np.array_equal(a.labels, b.labels) for a, b in zip(first, again))


def test_load_a_pretrained_segmenter_by_name_or_instance(torchvision_cache, segformer_folder):
    by_name = dff.load("torchvision:lraspp_mobilenet_v3_large", short_side=64, device="cpu")
    assert by_name.class_names[:2] == ["__background__", "aeroplane"] and by_name.palette == "voc"
    assert by_name.model.flow_net.__class__.__name__ == "DISFlow" and by_name.short_side == 64
    clip = frames(4, (60, 80))
    with torch.no_grad():  # the torchvision model's own output, as it came (channels-first)
        own = torchvision_cache(Normalize()(as_input(clip[0], (64, 85))))["out"]
    by_instance = dff.load(torchvision_cache, short_side=64)
    named = [r.labels for r in by_name.stream(clip)]
    assert all(np.array_equal(a, r.labels) for a, r in zip(named, by_instance.stream(clip)))
    # on the CPU its depthwise key network runs channels-last (layout.key_channels_last) and its
    # key frames are still the torchvision model's own output
    stem = next(m.weight for m in by_name.model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    assert stem.is_contiguous(memory_format=torch.channels_last) and not stem.is_contiguous()
    by_name.reset()
    logits, key = by_name.step(clip[0])
    expect = F.interpolate(own, size=(60, 80), mode="bilinear", align_corners=False)
    assert key and (logits - expect).abs().max() <= 1e-5 * expect.abs().max()
    assert np.array_equal(expect.argmax(1)[0].numpy(), named[0])
    folder, net = segformer_folder
    for source in (f"hf:{folder}", net):
        seg = dff.load(source, short_side=32, key_interval=2)
        assert seg.palette == "cityscapes" and len(seg.class_names) == 19
        assert [r.is_key for r in seg.stream(frames(3, (40, 40)))] == [True, False, True]
    assert net.decode_head.classifier.__class__.__name__ == "Conv2d"  # the caller's model is left as it was
    with pytest.raises(ValueError, match="names no complete pretrained model"):
        dff.load("torchvision:fcn_resnet50", pretrained=None)
    with pytest.raises(ValueError, match="cannot wrap a Linear"):
        dff.load(torch.nn.Linear(2, 2))


def test_load_a_dff_model_instance_with_dff_defaults(tiny_cfg):
    from dff.engine.builders import model_from_config

    model = model_from_config(tiny_cfg, 3)
    seg = dff.load(model, key_interval=2)
    assert seg.model is model and seg.short_side == 240 and seg.key_interval == 2
    assert [r.is_key for r in seg.stream(frames(3, (30, 40)))] == [True, False, True]


@pytest.mark.parametrize("k", [1, 3])
def test_keys_computed_ahead_give_the_sequential_output(tiny_run, k):
    """segment_frames(ahead=True) (dff infer on the CPU): the next key network runs in a thread
    while the frames before it propagate; the labels and key flags are those without it."""
    seg = dff.load(tiny_run / "best.pt", key_interval=k, device="cpu")
    clip = frames(8)
    plain = list(seg.segment_frames(clip))
    ahead = list(seg.segment_frames(iter(clip), ahead=True))  # a one-pass iterable, as a decoder gives
    assert [f is g for (f, _, _), g in zip(ahead, clip)] == [True] * 8
    assert [key for *_, key in ahead] == [key for *_, key in plain] == [i % k == 0 for i in range(8)]
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(ahead, plain))
    assert seg.runner.stats.keys == 2 * -(-8 // k)  # each key counted once in each pass
    assert list(seg.segment_frames([], ahead=True)) == []


def test_a_key_state_computed_ahead_where_the_policy_propagates_is_refused(tiny_run):
    seg = dff.load(tiny_run / "best.pt", key_interval=3, device="cpu")
    x = [seg._small(f) for f in frames(2)]
    seg.runner.step(x[0].float() / 255)
    with pytest.raises(RuntimeError, match="computed ahead for frame 2 but the fixed policy decided propagate"):
        seg.runner.step(x[1].float() / 255, seg._key(x[1]))
