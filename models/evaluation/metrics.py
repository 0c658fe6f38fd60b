"""Classification and stability metrics, pure numpy: used by evaluation, training and the video report."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def summarize(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> dict:
    """Accuracy, macro-F1, per-class recall and the confusion matrix."""
    matrix = confusion_matrix(labels, preds, num_classes)
    true_counts = matrix.sum(axis=1)
    pred_counts = matrix.sum(axis=0)
    hits = np.diag(matrix)
    recall = np.divide(hits, true_counts, out=np.zeros(num_classes), where=true_counts > 0)
    precision = np.divide(hits, pred_counts, out=np.zeros(num_classes), where=pred_counts > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(num_classes), where=denom > 0)
    return {
        "accuracy": float(hits.sum() / max(matrix.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "recall": recall.tolist(),
        "confusion": matrix.tolist(),
        "count": int(matrix.sum()),
    }


def flip_rate(labels: list[str]) -> float:
    """Share of consecutive analysed frames whose label differs (0 for fewer than two frames)."""
    if len(labels) < 2:
        return 0.0
    return sum(a != b for a, b in zip(labels, labels[1:], strict=False)) / (len(labels) - 1)
