"""``filmcolor serve`` in a real headless browser: Debian's Chromium and chromedriver
through Selenium (nothing downloads a browser). Upload a clip and watch it reach done,
open its before/after view, retry a failed upload, and the token rules.

Set ``FILMCOLOR_SCREENSHOTS=DIR`` to save the screenshots the docs show.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import wait_for
from mediagen import make_video
from serveproc import Server, servers

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver)",
    ),
]


@pytest.fixture()
def server(tmp_path: Path, const_weights: Path) -> Iterator[Callable[..., Server]]:
    yield from servers(tmp_path, const_weights)


@pytest.fixture()
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--disable-gpu", "--window-size=1200,1000"):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: object, name: str) -> None:
    folder = os.environ.get("FILMCOLOR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))  # type: ignore[attr-defined]


def row_state(driver: object, job_id: int) -> str:
    cells = driver.find_elements(By.CSS_SELECTOR, f"#job-{job_id} td")  # type: ignore[attr-defined]
    return cells[2].text if len(cells) > 2 else ""


def upload_in_page(driver: object, path: Path, choice: str = "") -> int:
    """Pick ``path`` in the upload form, submit, return the new job's id."""
    d = driver
    if choice:
        Select(d.find_element(By.ID, "choice")).select_by_value(choice)  # type: ignore[attr-defined]
    d.find_element(By.ID, "file").send_keys(str(path))  # type: ignore[attr-defined]
    before = len(d.find_elements(By.CSS_SELECTOR, "#uploads li"))  # type: ignore[attr-defined]
    d.find_element(By.ID, "upload-button").click()  # type: ignore[attr-defined]

    def queued() -> int | None:
        items = d.find_elements(By.CSS_SELECTOR, "#uploads li")  # type: ignore[attr-defined]
        if len(items) <= before:
            return None
        status = items[-1].find_element(By.CLASS_NAME, "upload-status").text
        assert not status.startswith("refused"), status
        job = items[-1].get_attribute("data-job")
        return int(job) if job else None

    return wait_for(queued, 60, "the upload to be queued")


def test_upload_watch_progress_to_done_then_before_after(
    server: Callable[..., Server], browser: object, tmp_path: Path
) -> None:
    s = server("--token", "letmein")
    clip = tmp_path / "family reel.mp4"
    make_video(clip, width=160, height=120, frames=48, rate=24)
    d = browser
    d.get(s.url + "/")  # type: ignore[attr-defined]
    assert "?token=" in d.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    d.get(s.url + "/?token=letmein")  # type: ignore[attr-defined]
    assert d.current_url == s.url + "/"  # type: ignore[attr-defined]  # token not left in it
    job_id = upload_in_page(d, clip, "look:vivid")
    # the row appears and changes by itself (Server-Sent Events), no reload
    wait_for(lambda: row_state(d, job_id) == "done", 120, "the job to reach done")
    progress = d.find_element(By.CSS_SELECTOR, f"#job-{job_id} td.progress span")  # type: ignore[attr-defined]
    assert progress.text == "100%"
    shot(d, "serve-queue.png")
    d.find_element(By.CSS_SELECTOR, f"#job-{job_id} a").click()  # type: ignore[attr-defined]
    wait_for(lambda: d.find_elements(By.ID, "compare"), 30, "the job page")  # type: ignore[attr-defined]
    assert d.find_element(By.ID, "state").text == "done"  # type: ignore[attr-defined]
    assert "look: vivid" in d.find_element(By.ID, "settings").text  # type: ignore[attr-defined]

    def logged_done() -> bool:  # the job_done line is logged just after the state changes
        if "job_done" in d.find_element(By.ID, "log").text:  # type: ignore[attr-defined]
            return True
        d.refresh()  # type: ignore[attr-defined]
        return False

    wait_for(logged_done, 30, "the job_done log line")
    assert '"frames_out": 48' in d.find_element(By.ID, "report").text  # type: ignore[attr-defined]
    ran_with = d.find_element(By.ID, "ran-with").text  # type: ignore[attr-defined]
    assert "saturation = 1.25" in ran_with  # the vivid look

    def loaded(img_id: str) -> bool:
        return bool(
            d.execute_script(  # type: ignore[attr-defined]
                "const i = document.getElementById(arguments[0]);"
                "return i.complete && i.naturalWidth > 0;",
                img_id,
            )
        )

    wait_for(lambda: loaded("before") and loaded("after"), 60, "the before/after pictures")
    src = d.find_element(By.ID, "after").get_attribute("src")  # type: ignore[attr-defined]
    assert "column=colorized" in src and "t=" in src
    d.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('split'); s.value = 30;"
        "s.dispatchEvent(new Event('input'));"
    )
    clip_path = d.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('after-clip').style.clipPath;"
    )
    assert "30%" in clip_path
    shot(d, "serve-job.png")


def test_retry_a_failed_upload_after_fixing_its_preset(
    server: Callable[..., Server], browser: object, tmp_path: Path, const_weights: Path
) -> None:
    presets = tmp_path / "presets"
    presets.mkdir()
    missing = tmp_path / "fine-tuned.safetensors"
    (presets / "tuned.toml").write_text(f'weights = "{missing}"\n')
    s = server("--presets", str(presets), "--retries", "0")
    clip = tmp_path / "reel.mp4"
    make_video(clip, width=96, height=64, frames=12, rate=12)
    d = browser
    d.get(s.url + "/")  # type: ignore[attr-defined]
    job_id = upload_in_page(d, clip, "preset:tuned")
    wait_for(lambda: row_state(d, job_id) == "failed", 120, "the job to fail")
    error = d.find_element(By.CSS_SELECTOR, f"#job-{job_id} td.error").text  # type: ignore[attr-defined]
    assert "fine-tuned.safetensors" in error
    assert (tmp_path / "in" / "failed" / "reel.mp4").is_file()  # quarantined
    d.get(f"{s.url}/jobs/{job_id}")  # type: ignore[attr-defined]
    retry = d.find_element(By.ID, "retry")  # type: ignore[attr-defined]
    assert retry.is_displayed()
    assert not d.find_element(By.ID, "cancel").is_displayed()  # type: ignore[attr-defined]
    shutil.copy(const_weights, missing)  # fix the cause, then retry
    retry.click()
    wait_for(
        lambda: d.find_element(By.ID, "state").text == "done",  # type: ignore[attr-defined]
        120,
        "the retried job to reach done",
    )
    assert not (tmp_path / "in" / "failed" / "reel.mp4").exists()
    assert (tmp_path / "out" / "reel.mp4").is_file()


def test_token_rules_in_the_browser(server: Callable[..., Server], browser: object) -> None:
    s = server("--token", "abc123")
    d = browser
    d.get(s.url + "/api/jobs")  # type: ignore[attr-defined]
    assert "token required" in d.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    d.get(s.url + "/?token=wrong")  # type: ignore[attr-defined]
    assert "401" in d.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    d.get(s.url + "/?token=abc123")  # type: ignore[attr-defined]
    assert d.find_elements(By.ID, "queue")  # type: ignore[attr-defined]
    d.get(s.url + "/api/jobs")  # type: ignore[attr-defined]  # the cookie now
    assert '"jobs"' in d.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
