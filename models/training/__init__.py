"""Training of the per-face network (``python -m models train``) and of the temporal head
(``python -m models train-temporal``), with the losses and tricks they share."""
