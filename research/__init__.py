"""Experiments around the emotion networks that are not part of the product (see research/README.md).

Research code imports ``models``; ``models`` and ``service`` never import research.
"""
