"""FER2013 training targets and splits."""

import torch

from models.data.fer import load_split, soft_targets


def test_soft_targets_blend_original_label_and_votes():
    labels = torch.tensor([3, 0])
    votes = torch.tensor([[0, 0, 0, 0.5, 0, 0, 0.5], [0, 0, 0, 0, 0, 0, 0]])
    targets = soft_targets(labels, votes, vote_weight=0.4, smoothing=0.0)
    torch.testing.assert_close(targets[0], torch.tensor([0, 0, 0, 0.8, 0, 0, 0.2]))
    torch.testing.assert_close(targets[1], torch.tensor([1.0, 0, 0, 0, 0, 0, 0]))  # no votes: original only


def test_load_split_keeps_only_its_usage(tiny_fer):
    train, test = load_split(tiny_fer, "Training"), load_split(tiny_fer, "PublicTest")
    assert train.images.shape == (28, 1, 48, 48) and test.images.shape == (14, 1, 48, 48)
    assert float(train.images.min()) >= 0.0 and float(train.images.max()) <= 1.0
    assert (train.ferplus_majority == -1).all()  # no FER+ votes in the file
