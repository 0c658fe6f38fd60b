"""The emotion networks of the stream emotion service, and the code that trains, evaluates and ships them.

Laid out like timm: ``nets`` holds the networks the service runs, ``registry`` names them, ``weights``
saves, verifies and loads them through ``weights/manifest.json``; ``data``, ``training`` and ``evaluation``
are the offline side, run through one CLI (``python -m models --help``). Experiments that are not part of
the product live in the top-level ``research`` folder.

Importing this package imports nothing else (no torch): ``models.labels`` is torch-free for the API process.
"""
