"""Our ResNet-18 is torchvision's: the same parameter names and shapes, the same random start for a seed,
and the same output, so ``resnet18_57.pth`` and encoders trained before it load and answer unchanged."""

from __future__ import annotations

import torch
from torchvision.models import resnet18

from sgim_desktop.engine.resnet18 import ResNet18


def test_it_has_torchvisions_names_shapes_and_random_start():
    torch.manual_seed(7)
    theirs = resnet18(weights=None, num_classes=512).state_dict()
    torch.manual_seed(7)
    ours = ResNet18(num_classes=512).state_dict()
    assert list(ours) == list(theirs)
    for name, value in ours.items():
        assert torch.equal(value, theirs[name]), name


def test_it_computes_what_torchvision_computes():
    torch.manual_seed(0)
    theirs = resnet18(weights=None, num_classes=512).eval()
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    ours = ResNet18(num_classes=512).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 126, 510)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
