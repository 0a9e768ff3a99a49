"""User guidance: coloured reference frames, colour hints, and keyframe export.

- ``types``: what a reference and a hint are (shared by the modules below).
- ``sources``: reading ``--reference`` / ``--references`` (timecode names, JSON/CSV lists).
- ``hints``: reading ``--hints`` files and drawing a hint at render size.
- ``keyframes``: ``filmcolor keyframes``, one gray frame per shot to colour by hand.
- ``propagate``: carrying a reference's or hint's colour through its shot by optical flow.
- ``match``: steering colour from a different picture by matching the model's encoder features.
"""
