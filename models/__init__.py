"""PyTorch models of the stream emotion service: definitions, training and evaluation.

Nothing here loads weights or reads settings at import time; see ``models.checkpoint`` for loading.
"""
