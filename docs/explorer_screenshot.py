r"""Takes docs/explorer_digits.png: the explorer on the digits export, two W planes clicked.

    python -m trainers.digits --flagfile=configs/digits.flags --model=csvae --model_dir=/tmp/digits_run
    python -m export.saved_model --model_dir=/tmp/digits_run/csvae --export_dir=/tmp/digits_export \
        --label_names=0,1,2,3,4,5,6,7,8,9
    python -c "from csvae_tf.data import digits; import numpy as np; d = digits.load(); \
        np.savez('/tmp/digits_test.npz', inputs=d.test.features, labels=d.test.labels)"
    python docs/explorer_screenshot.py /tmp/digits_export/1 /tmp/digits_test.npz docs/explorer_digits.png

Needs Debian's Chromium (`apt-get install chromium`).
"""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clients import backends, explore  # noqa: E402
from clients.switcher import Switcher  # noqa: E402


def main(export_dir, examples_path, out, example=0, clicks=((3, (3.0, 3.5)), (8, (2.5, 3.0)))):
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    switcher = Switcher(backends.SavedModelBackend(export_dir))
    explorer = explore.Explorer(switcher, explore.load_examples(examples_path, switcher))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = explore.build_app(explorer, title="csvae explorer (digits)")
    explore.launch(app, port=port, block=False)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1700, "height": 1200})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
            page.wait_for_selector("#reconstruction img", timeout=60000)
            if example:
                page.locator("#gallery button").nth(example).click()
                page.wait_for_timeout(1500)
            for attribute, point in clicks:
                plane = page.locator(f"#plane_{attribute} img")
                plane.scroll_into_view_if_needed()
                box = plane.bounding_box()
                natural = page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", plane.element_handle())
                scale = min(box["width"] / natural[0], box["height"] / natural[1], 1.0)
                x, y = explorer.views[attribute].coords_to_pixel(point)
                page.mouse.click(box["x"] + (box["width"] - natural[0] * scale) / 2 + x * scale,
                                 box["y"] + (box["height"] - natural[1] * scale) / 2 + y * scale)
                page.wait_for_selector(f"#switched_{attribute} img", timeout=60000)
            page.wait_for_timeout(1500)
            page.screenshot(path=out, full_page=True)
            browser.close()
    finally:
        app.close()
    print(f"Wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
