"""Held-out scoring (``python -m models evaluate``), ONNX export with a parity check
(``python -m models export``) and the numpy metrics both use."""
