"""The expression classes of the emotion networks, in output order; torch-free so the API can import it."""

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
