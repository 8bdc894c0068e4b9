#!/usr/bin/python3
"""Drives the studio page in headless Chromium through WebDriver (selenium + chromedriver).

    drive.py demo URL SHOTS PREFIX TIMEOUT_S
        Loads URL (?demo=tiny&...), waits for <pre id="darts-pt-result">, records the longest
        gap between animation frames meanwhile and saves a screenshot of every panel as
        SHOTS/PREFIX-PANEL.png. Prints {"result": ..., "longest_frame_gap_ms": ..., "console": [...]}.
    drive.py open BASE RUN_DIR TABLE_CSV SHOTS PREFIX TIMEOUT_S
        Packs RUN_DIR as a zip (Python's zipfile, not the page's code), chooses it in the page's
        "run as zip" chooser and TABLE_CSV in its NAS-Bench-201 chooser, waits until the studio
        has read both, and screenshots the cell and selection panels; then chooses RUN_DIR in the
        "run folder" chooser and waits for that copy too. Prints
        {"shown": <dartsPt.describe()>, "folder": <describe() after the folder>, ...}.
    drive.py interrupt BASE DOWNLOADS TIMEOUT_S
        Starts the tiny demo, closes the page once the search has checkpointed an epoch (as a
        user closing the tab), opens it again, and downloads the interrupted run as a zip into
        DOWNLOADS. Prints {"before": ..., "after": <describe() after the reload>, "zip": path}.

Every check is the caller's (tests/it/web.rs)."""

import json
import os
import sys
import tempfile
import time
import zipfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PANELS = ["runs", "cell", "selection", "perturbation", "curves", "device"]

# Measures the page's responsiveness: the longest time between two animation frames.
FRAME_PROBE = """
window.__gap = 0;
let last = performance.now();
function tick(t) { window.__gap = Math.max(window.__gap, t - last); last = t; requestAnimationFrame(tick); }
requestAnimationFrame(tick);
"""


# The list of files the page has stored in its origin-private file system ('' if none).
STORED_INDEX = """
const done = arguments[arguments.length - 1];
(async () => {
  try {
    const dir = await navigator.storage.getDirectory();
    done(await (await (await dir.getFileHandle('index.json')).getFile()).text());
  } catch (e) { done(''); }
})();
"""


def browser(downloads=None):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader",
              "--window-size=1400,900", "--disable-dev-shm-usage"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads:
        opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                               "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    if downloads:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    driver.set_script_timeout(30)
    return driver


def console(driver):
    return [e["message"] for e in driver.get_log("browser")][-20:]


def described(driver):
    """The studio's own account of what it shows, once the module has loaded."""
    text = driver.execute_script("return window.dartsPt ? window.dartsPt.describe() : ''")
    return json.loads(text) if text else None


def wait_described(driver, timeout, until, what):
    last = [None]

    def check(d):
        error = d.execute_script("const e = document.getElementById('darts-pt-error');"
                                 "return e && e.style.display === 'block' ? e.textContent : ''")
        if error:
            raise RuntimeError(f"the page shows an error while waiting for {what}: {error}")
        last[0] = described(d)
        return last[0] is not None and until(last[0])

    try:
        WebDriverWait(driver, timeout, poll_frequency=1).until(check)
    except Exception as e:
        raise RuntimeError(f"waiting for {what}: {e}; the studio showed {last[0]}; console {console(driver)}")
    return last[0]


def screenshots(driver, shots, prefix, panels):
    for panel in panels:
        driver.execute_script(f"window.dartsPt && window.dartsPt.show_panel('{panel}')")
        time.sleep(1.5)
        driver.save_screenshot(f"{shots}/{prefix}-{panel}.png")


def demo(url, shots, prefix, timeout):
    driver = browser()
    try:
        driver.get(url)
        driver.execute_script(FRAME_PROBE)
        el = WebDriverWait(driver, timeout, poll_frequency=1).until(
            lambda d: d.find_element(By.ID, "darts-pt-result"))
        gap = driver.execute_script("return window.__gap")
        result = json.loads(el.get_attribute("textContent"))
        screenshots(driver, shots, prefix, PANELS)
        return {"result": result, "longest_frame_gap_ms": gap, "console": console(driver)}
    finally:
        driver.quit()


def open_run(base, run_dir, table, shots, prefix, timeout):
    name = os.path.basename(os.path.normpath(run_dir))
    with tempfile.TemporaryDirectory() as tmp:
        archive = os.path.join(tmp, f"{name}.zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for root, _, files in os.walk(run_dir):
                for f in files:
                    path = os.path.join(root, f)
                    z.write(path, os.path.join(name, os.path.relpath(path, run_dir)))
        driver = browser()
        try:
            driver.get(f"{base}/index.html?backend=cpu")
            wait_described(driver, timeout, lambda s: True, "the studio")
            driver.find_element(By.ID, "darts-pt-open-zip").send_keys(archive)
            driver.find_element(By.ID, "darts-pt-open-table").send_keys(table)
            shown = wait_described(
                driver, timeout,
                lambda s: s["table"] not in ("not loaded", "loading") and any(
                    r["read"] and r["selections"] and r["path"] == s["current"] for r in s["runs"]),
                "the uploaded run and table")
            screenshots(driver, shots, prefix, ["runs", "cell", "selection"])
            # The same run again, chosen as a folder (the chooser lists its files).
            driver.find_element(By.ID, "darts-pt-open-folder").send_keys(os.path.abspath(run_dir))
            folder = wait_described(
                driver, timeout,
                lambda s: s["current"] != shown["current"] and any(
                    r["read"] and r["selections"] and r["path"] == s["current"] for r in s["runs"]),
                "the run chosen as a folder")
            return {"shown": shown, "folder": folder, "console": console(driver)}
        finally:
            driver.quit()


def interrupt(base, downloads, timeout):
    driver = browser(downloads)
    try:
        driver.get(f"{base}/index.html?demo=tiny&backend=cpu")

        def checkpointed(s):
            return any(r["state"] == "running" and (r["epoch"] or 0) >= 1 and r["has_checkpoint"]
                       for r in s["runs"])

        before = wait_described(driver, timeout, checkpointed, "the demo's first epoch")
        run = next(r["path"] for r in before["runs"] if checkpointed({"runs": [r]}))
        # The page mirrors its runs to the browser's storage twice a second: wait until the
        # stored index lists the checkpoint.
        WebDriverWait(driver, 60, poll_frequency=0.5).until(
            lambda d: f"{run}/checkpoint.safetensors" in d.execute_async_script(STORED_INDEX))
        driver.get(f"{base}/index.html?backend=cpu")
        wait_described(driver, timeout, lambda s: True, "the reloaded studio")
        driver.execute_script(f"window.dartsPt.open_run({json.dumps(run)})")
        after = wait_described(driver, timeout,
                               lambda s: any(r["path"] == run and r["read"] for r in s["runs"]),
                               "the stored run")
        driver.execute_script(f"window.dartsPt.download_run({json.dumps(run)})")
        zip_path = os.path.join(downloads, os.path.basename(run) + ".zip")
        WebDriverWait(driver, 60, poll_frequency=0.5).until(lambda d: os.path.exists(zip_path))
        return {"before": before, "after": after, "zip": zip_path, "console": console(driver)}
    finally:
        driver.quit()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "demo":
        out = demo(args[0], args[1], args[2], float(args[3]))
    elif mode == "open":
        out = open_run(args[0], args[1], args[2], args[3], args[4], float(args[5]))
    elif mode == "interrupt":
        out = interrupt(args[0], args[1], float(args[2]))
    else:
        sys.exit(f"unknown mode {mode}: demo, open or interrupt")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
