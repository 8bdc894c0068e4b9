#!/usr/bin/python3
"""Drives the studio page in headless Chromium through WebDriver (selenium + chromedriver).

    drive.py URL SHOTS_DIR PREFIX TIMEOUT_S

Loads URL, waits for <pre id="darts-pt-result">, records the longest gap between animation
frames meanwhile, saves a screenshot of every panel as SHOTS_DIR/PREFIX-PANEL.png, and prints
one JSON line: {"result": <the element's JSON>, "longest_frame_gap_ms": ..., "console": [...]}.
The checks are the caller's (tests/it/web.rs)."""

import json
import sys
import time

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


def main():
    url, shots, prefix, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader",
              "--window-size=1400,900", "--disable-dev-shm-usage"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.set_script_timeout(30)
        driver.get(url)
        driver.execute_script(FRAME_PROBE)
        el = WebDriverWait(driver, timeout, poll_frequency=1).until(
            lambda d: d.find_element(By.ID, "darts-pt-result"))
        gap = driver.execute_script("return window.__gap")
        result = json.loads(el.get_attribute("textContent"))
        for panel in PANELS:
            driver.execute_script(f"window.dartsPt && window.dartsPt.show_panel('{panel}')")
            time.sleep(1.5)
            driver.save_screenshot(f"{shots}/{prefix}-{panel}.png")
        console = [e["message"] for e in driver.get_log("browser")][-20:]
        print(json.dumps({"result": result, "longest_frame_gap_ms": gap, "console": console}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
