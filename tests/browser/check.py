#!/usr/bin/env python3
"""Opens a report.html in headless Chromium and checks that it renders.

    check.py CHROMIUM REPORT_HTML SCREENSHOT_PNG

Starts CHROMIUM headless with a fresh profile, drives it through the Chrome
DevTools Protocol over a pipe (--remote-debugging-pipe: commands written to
its fd 3, answers read from its fd 4, one JSON message per NUL), opens
REPORT_HTML as a file:// URL in a 1280 x 900 window, waits for the load event
and fails on any of:

  * an uncaught JavaScript exception (Runtime.exceptionThrown);
  * a console message of type error (Runtime.consoleAPICalled);
  * a browser log entry of level error (Log.entryAdded), which is where a
    missing file shows: "Failed to load resource: net::ERR_FILE_NOT_FOUND";
  * an <img> not complete or with naturalWidth 0 (not loaded, not decodable);
  * a link to a local file that does not exist (<a href> of a file:// URL);
  * content wider than the window (document.documentElement.scrollWidth >
    window.innerWidth), with the outermost elements that stick out.

Writes a full-page PNG screenshot to SCREENSHOT_PNG in every case where the
page loaded. Chromium is always killed at the end.

Exit status: 0 renders cleanly; 1 problems found (each printed on a line
starting "problem:"); 2 bad usage, or Chromium could not be started or driven.
Python 3.11 standard library only.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

WIDTH, HEIGHT = 1280, 900
LOAD_TIMEOUT_S = float(os.environ.get("HACASIM_BROWSER_TIMEOUT", "60"))
COMMAND_TIMEOUT_S = 30.0
# After the load event: time for late console messages and log entries.
SETTLE_S = 0.5


class Broken(Exception):
    """Chromium could not be started or driven (exit 2)."""


class Browser:
    """Chromium on a DevTools pipe: commands, their answers, and the events."""

    def __init__(self, chromium: str, profile: str, log_path: Path):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():  # in the child, before exec: its fd 3 and fd 4
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(r, 3)  # inheritable
            os.dup2(w, 4)
            os.setsid()  # its own process group, killed whole at the end

        self.log = open(log_path, "wb")
        args = [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            "about:blank",
        ]
        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=self.log,
                close_fds=False,  # fds 3 and 4 made in child_fds; others are CLOEXEC
                preexec_fn=child_fds,
            )
        except OSError as e:
            raise Broken(f"cannot start {chromium}: {e}") from e
        finally:
            os.close(to_chrome_r)
            os.close(from_chrome_w)
        self.next_id = 0
        self.buf = b""
        self.events = []  # (sessionId, method, params) in arrival order

    def _read_message(self, deadline: float):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.from_chrome], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                try:
                    code = self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    code = "none yet"
                raise Broken(f"chromium closed the pipe (exit {code})")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def _keep(self, m):
        if "method" in m:
            self.events.append((m.get("sessionId"), m["method"], m.get("params", {})))

    def send(self, method: str, params=None, session=None, timeout=COMMAND_TIMEOUT_S):
        self.next_id += 1
        cmd = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            cmd["sessionId"] = session
        data = json.dumps(cmd).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self.to_chrome, data) :]
        except OSError as e:
            raise Broken(f"{method}: cannot write to chromium: {e}") from e
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m is None:
                raise Broken(f"{method}: no answer within {timeout:.0f}s")
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise Broken(f"{method}: {m['error'].get('message', m['error'])}")
                return m.get("result", {})
            self._keep(m)

    def wait_event(self, method: str, session, timeout: float) -> bool:
        """True once `method` has arrived on `session` (earlier ones count)."""
        deadline = time.monotonic() + timeout
        while True:
            if any(s == session and e == method for s, e, _ in self.events):
                return True
            m = self._read_message(deadline)
            if m is None:
                return False
            self._keep(m)

    def drain(self, seconds: float):
        deadline = time.monotonic() + seconds
        while (m := self._read_message(deadline)) is not None:
            self._keep(m)

    def close(self):
        try:
            os.write(self.to_chrome, b'{"id":0,"method":"Browser.close"}\0')
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of its process group (renderers, zygotes, crashpad).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self.to_chrome, self.from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()


# Evaluated in the page after the load event.
INSPECT_JS = r"""
(() => {
  const w = window.innerWidth;
  const images = Array.from(document.images).map((img, i) => ({
    i, src: img.getAttribute('src') || '', complete: img.complete,
    naturalWidth: img.naturalWidth,
  }));
  // Links to local files (the plots' PNG and SVG beside the report).
  const links = Array.from(document.links)
    .filter(a => a.protocol === 'file:')
    .map(a => ({ href: a.getAttribute('href') || '', url: a.href }));
  // The outermost elements whose right edge is beyond the window.
  const wide = [];
  for (const el of document.body ? document.body.querySelectorAll('*') : []) {
    const r = el.getBoundingClientRect();
    if (r.right <= w + 0.5) continue;
    const p = el.parentElement;
    if (p && p !== document.body && p.getBoundingClientRect().right > w + 0.5) continue;
    let name = el.tagName.toLowerCase();
    if (el.id) name += '#' + el.id;
    if (el.classList.length) name += '.' + Array.from(el.classList).join('.');
    const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    wide.push(`${name} (right edge ${Math.round(r.right)}px${text ? ', "' + text + '"' : ''})`);
    if (wide.length >= 5) break;
  }
  return {
    innerWidth: w,
    scrollWidth: document.documentElement.scrollWidth,
    title: document.title,
    images, links, wide,
  };
})()
"""


def check(chromium: str, report: Path, screenshot: Path) -> list:
    problems = []
    profile = tempfile.mkdtemp(prefix="hacasim-chromium-")
    log_path = Path(profile) / "chromium.log"
    browser = None
    try:
        browser = Browser(chromium, profile, log_path)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send(
                "Target.attachToTarget", {"targetId": target, "flatten": True}
            )["sessionId"]
            for domain in ("Runtime", "Log", "Page"):
                browser.send(f"{domain}.enable", session=session)
            browser.events.clear()  # what about:blank said is not the report's
            url = report.resolve().as_uri()
            nav = browser.send("Page.navigate", {"url": url}, session=session)
            if nav.get("errorText"):
                return [f"cannot open {url}: {nav['errorText']}"]
            if not browser.wait_event("Page.loadEventFired", session, LOAD_TIMEOUT_S):
                problems.append(f"no load event within {LOAD_TIMEOUT_S:.0f}s")
            browser.drain(SETTLE_S)
            page = browser.send(
                "Runtime.evaluate",
                {"expression": INSPECT_JS, "returnByValue": True},
                session=session,
            )
            if "exceptionDetails" in page:
                raise Broken(f"inspecting the page failed: {page['exceptionDetails']}")
            info = page["result"]["value"]

            # Full-page screenshot: the whole content, beyond the viewport.
            metrics = browser.send("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            shot = browser.send(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {
                        "x": 0,
                        "y": 0,
                        "width": max(size["width"], 1),
                        "height": max(size["height"], 1),
                        "scale": 1,
                    },
                },
                session=session,
                timeout=LOAD_TIMEOUT_S,
            )
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            browser.drain(0.05)  # anything that came with the screenshot
        except Broken as e:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise Broken(str(e) + ("\nchromium's output:\n  " + "\n  ".join(tail) if tail else ""))
    finally:
        if browser is not None:
            browser.close()
        shutil.rmtree(profile, ignore_errors=True)

    for s, method, p in browser.events:
        if s != session:
            continue
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description") or d.get("text", "")
            where = f" at {d.get('url', '')}:{d.get('lineNumber', 0) + 1}" if d.get("url") else ""
            problems.append(f"uncaught exception{where}: {text}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            text = " ".join(
                str(a.get("value", a.get("description", a.get("type", "?"))))
                for a in p.get("args", [])
            )
            problems.append(f"console error: {text}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            url = f" ({e['url']})" if e.get("url") else ""
            problems.append(f"log error [{e.get('source', '?')}]: {e.get('text', '')}{url}")
    for img in info["images"]:
        if not img["complete"]:
            problems.append(f"image {img['i']} not loaded (incomplete): src={img['src']!r}")
        elif img["naturalWidth"] == 0:
            problems.append(f"image {img['i']} broken (naturalWidth 0): src={img['src']!r}")
    for link in info["links"]:
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(link["url"]).path))
        if not path.exists():
            problems.append(f"broken link: href={link['href']!r} ({path} does not exist)")
    if info["scrollWidth"] > info["innerWidth"]:
        problems.append(
            f"content wider than the page: scrollWidth {info['scrollWidth']}px > "
            f"innerWidth {info['innerWidth']}px"
            + ("; sticking out: " + "; ".join(info["wide"]) if info["wide"] else "")
        )
    print(
        f"{report}: {info['title']!r}, {len(info['images'])} images, "
        f"{len(info['links'])} local links, "
        f"{size['width']:.0f} x {size['height']:.0f} px, screenshot {screenshot}"
    )
    return problems


def main(argv) -> int:
    if len(argv) != 4:
        print("usage: check.py CHROMIUM REPORT_HTML SCREENSHOT_PNG", file=sys.stderr)
        return 2
    chromium, report, screenshot = argv[1], Path(argv[2]), Path(argv[3])
    if not report.is_file():
        print(f"check.py: {report}: no such file", file=sys.stderr)
        return 2
    try:
        problems = check(chromium, report, screenshot)
    except Broken as e:
        print(f"check.py: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"problem: {p}")
    if problems:
        print(f"{report}: {len(problems)} problem(s)")
        return 1
    print(f"{report}: renders cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
