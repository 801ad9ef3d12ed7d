"""ResNet-18 with a C-channel stem: layout, output shapes, layer3 cut, and that it learns."""
import pytest
import torch

from av_pose.models.resnet import ResNet18

TORCHVISION_RESNET18_PARAMETERS = 11_689_512
"""torchvision.models.resnet18() (3-channel stem, 1000 classes) has this many parameters."""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_imagenet_layout_matches_torchvision_resnet18_count_and_names():
    model = ResNet18(in_channels=3, embed_dim=1000)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_RESNET18_PARAMETERS
    names = set(model.state_dict())
    for name in ('conv1.weight', 'bn1.running_mean', 'layer1.1.conv2.weight', 'layer2.0.downsample.0.weight',
                 'layer4.1.bn2.num_batches_tracked', 'fc.bias'):
        assert name in names
    assert 'layer1.0.downsample.0.weight' not in names  # same shape: identity skip
    assert len(names) == 122  # 102 from BatchNorm statistics and affine terms, 20 conv and fc tensors


@pytest.mark.parametrize('in_channels, height, width, embed_dim, expected', [
    (4, 256, 256, 512, (2, 512)),     # SLfM's [L mag, L phase, R mag, R phase] spectrogram
    (2, 512, 96, 1024, (2, 1024)),    # a binaural spectrogram, frequency × frames
    (1, 64, 40, None, (2, 512)),      # no fc: the pooled features
])
def test_embedding_shapes(in_channels, height, width, embed_dim, expected):
    model = ResNet18(in_channels=in_channels, embed_dim=embed_dim).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, height, width)).shape == expected
    assert model.out_dim == expected[1]


def test_layer3_cut_has_stride_16_and_no_layer4_parameters():
    full = ResNet18(in_channels=3, embed_dim=128).eval()
    cut = ResNet18(in_channels=3, output='layer3').eval()
    cut.load_state_dict({k: v for k, v in full.state_dict().items()
                         if not k.startswith(('layer4.', 'fc.'))}, strict=True)
    assert not any(name.startswith(('layer4', 'fc')) for name in cut.state_dict())
    images = torch.randn(2, 3, 256, 320)
    with torch.no_grad():
        feature_map = cut(images)
        assert feature_map.shape == (2, 256, 16, 20)
        assert torch.equal(feature_map, full.forward_layer3(images))
    assert cut.out_dim == 256


def test_eval_mode_answers_each_sample_independently_of_the_batch():
    torch.manual_seed(0)
    model = ResNet18(in_channels=2, embed_dim=16)
    batch = torch.randn(4, 2, 64, 64)
    model.train()
    with torch.no_grad():
        model(batch)  # update the BatchNorm running statistics once
    model.eval()
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(sample[None]) for sample in batch])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_learns_which_channel_is_louder():
    """A two-channel level-difference task (like an interaural level cue): > 90 % held-out accuracy."""
    torch.manual_seed(0)

    def batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 2, (size,))
        signal = torch.randn(size, 2, 32, 32)
        gains = torch.ones(size, 2)
        gains[torch.arange(size), labels] = 1.6
        return signal * gains[:, :, None, None], labels

    model = ResNet18(in_channels=2, embed_dim=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(30):
        inputs, labels = batch(16)
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    inputs, labels = batch(256)
    with torch.no_grad():
        accuracy = (model(inputs).argmax(dim=1) == labels).float().mean().item()
    assert accuracy > 0.9


def test_rejects_unknown_output_mode():
    with pytest.raises(ValueError, match='layer3'):
        ResNet18(output='layer2')
