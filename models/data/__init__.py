"""Training data builders: FER2013 (+ FER+ votes) splits and augmentation, valence/arousal placement of the
classes, synthetic face-track clips and face-saliency targets."""
