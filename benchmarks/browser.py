"""The explorer's speed as a person sees it: input event -> new image painted, in Chromium (part of `make bench`).

JupyterLab (1024x768, file browser open) and Voila (`make present`'s dashboard, 1024x768) each serve one
explorer; Playwright clicks, types and presses keys as a learner would. In the page, a capturing listener
takes the input event's time, a MutationObserver sees the <img> get its new src, and the time after the
image has decoded and the next frame was painted (requestAnimationFrame, then a task) ends the measurement.
The page's WebSocket is wrapped to split the time into: front end before sending, kernel round trip (first
message sent -> the message carrying the PNG received), front end after (widget update -> src set), decode,
and paint. Nothing is asserted. Without chromium or playwright the part is skipped with the reason.

    python benchmarks/browser.py [--reps N] [--where lab|voila]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser_support import (  # noqa: E402  (the browser tests' servers and page, not a copy of them)
    CHROMIUM,
    NOTEBOOKS,
    ExplorerPage,
    chromium_page,
    jupyter_lab,
    one_cell_notebook,
    open_and_run_first_cell,
    voila,
)

G = 1 << 30
PAGE_WISE = dict(old=5 * G + 0x1000, new=9 * G + 0x3000, length=G)  # bench.py's 1 GiB page-wise move
VIEWPORT = (1024, 768)

# Wraps WebSocket before the page's own code runs; logs [kind, time, bytes] of every frame.
WS_LOG = """(() => {
  const Base = window.WebSocket;
  const size = d => d.byteLength ?? d.size ?? d.length ?? 0;
  window.__pmws = [];
  window.WebSocket = class extends Base {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', e => window.__pmws.push(['recv', performance.now(), size(e.data)]));
    }
    send(d) { window.__pmws.push(['send', performance.now(), size(d)]); return super.send(d); }
  };
})();"""

# arm(): the next input event starts a measurement, the next src of the explorer's image ends it.
ARM = """() => {
  const img = document.querySelector('img.widget-image');
  const t = {};
  window.__pmDone = new Promise(resolve => {
    const start = e => { if (t.event === undefined) t.event = e.timeStamp; };
    for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, start, {capture: true, once: true});
    const seen = new MutationObserver(async () => {
      seen.disconnect();
      t.src = performance.now();
      try { await img.decode(); } catch (e) {}
      t.decoded = performance.now();
      requestAnimationFrame(() => {
        const ch = new MessageChannel();
        ch.port1.onmessage = () => { t.painted = performance.now(); resolve(t); };
        ch.port2.postMessage(0);
      });
    });
    seen.observe(img, {attributes: true, attributeFilter: ['src']});
  });
}"""

# The measurement, split by the WebSocket frames between the event and the new src.
RESULT = """async () => {
  const t = await Promise.race([window.__pmDone, new Promise(r => setTimeout(() => r(null), 20000))]);
  if (t === null) return null;
  const frames = window.__pmws.filter(f => f[1] >= t.event && f[1] <= t.src);
  const sent = frames.find(f => f[0] === 'send');
  const recv = frames.filter(f => f[0] === 'recv');
  const png = recv.reduce((a, f) => (a && a[2] >= f[2] ? a : f), null);
  return {total: t.painted - t.event, before: sent ? sent[1] - t.event : null,
          kernel: sent && png ? png[1] - sent[1] : null, after: png ? t.src - png[1] : null,
          decode: t.decoded - t.src, paint: t.painted - t.decoded, png_bytes: png ? png[2] : null,
          messages: recv.length};
}"""


def timed(page, action) -> dict:
    """One interaction: arm the page, act, wait until the new image is painted; its timings (ms)."""
    page.evaluate(ARM)
    action()
    out = page.evaluate(RESULT)
    if out is None:
        raise TimeoutError("the picture did not change within 20 s of the interaction")
    time.sleep(0.3)  # let late messages of this interaction land before the next one is armed
    return out


def interactions(page, ex: ExplorerPage, reps: int) -> dict[str, list[dict]]:
    """What a learner does, each `reps` times: flip the kernel, type a new length, step back."""
    out: dict[str, list[dict]] = {"kernel flip": [], "new value in a box": [], "step slider": []}
    kernels = ["6.7", "6.6"]
    for i in range(reps):
        out["kernel flip"].append(timed(page, ex.toggle("Linux", kernels[i % 2]).click))
    length = int(ex.text_box("len").input_value(), 16)
    for i in range(reps):
        box = ex.text_box("len")
        box.fill(f"{length + (i + 1) * 0x1000:#x}")  # a new value every time: no cached picture
        out["new value in a box"].append(timed(page, lambda b=box: b.press("Enter")))
    handle = ex.scope.locator(".widget-slider:has(> .widget-label:text-is('after step')) .noUi-handle").first
    handle.focus()
    steps = int(ex.scope.locator(".widget-label", has_text=re.compile(r"^of \d+$")).first.inner_text().split()[1])
    for i in range(reps):  # from the last step down to 0, then up again (revisited steps come from the cache)
        key = "ArrowLeft" if (i // steps) % 2 == 0 else "ArrowRight"
        out["step slider"].append(timed(page, lambda k=key: page.keyboard.press(k)))
    return out


def page_wise(page, ex: ExplorerPage) -> None:
    """Turn the explorer into the 1 GiB page-wise mremap on 6.6 (typed, as a learner would)."""
    ex.toggle("mode", "mremap").click()
    ex.toggle("Linux", "6.6").click()
    for label, name in (("len", "length"), ("old", "old"), ("new", "new")):
        ex.text_box(label).fill(f"{PAGE_WISE[name]:#x}")
        ex.text_box(label).press("Enter")
        time.sleep(0.5)
    ex.summary.filter(has_text="262144").wait_for(timeout=60_000)
    time.sleep(1)


READING = 2.0  # seconds between the explorer appearing and the first click: a person reads it first


def explorer_ready(page, scope) -> ExplorerPage:
    page.wait_for_selector("img.widget-image", timeout=180_000)
    ex = ExplorerPage(scope)
    ex.summary.wait_for(timeout=60_000)
    time.sleep(READING)
    return ex


def measure_lab(work: Path, reps: int) -> dict:
    one_cell_notebook(work / "explorer.ipynb", "from pagemove.widgets import MoveExplorer\nMoveExplorer(preset='c-overlap')")
    with jupyter_lab(work, work / "state") as lab, chromium_page(work / "state", viewport=VIEWPORT) as page:
        page.add_init_script(WS_LOG)
        panel = open_and_run_first_cell(page, lab.url, "explorer.ipynb")
        return run(page, explorer_ready(page, panel), reps)


def measure_voila(work: Path, reps: int) -> dict:
    shutil.copy2(NOTEBOOKS / "dashboard.ipynb", work / "dashboard.ipynb")
    with voila(work / "dashboard.ipynb", work / "state") as server, \
            chromium_page(work / "state", viewport=VIEWPORT) as page:
        page.add_init_script(WS_LOG)
        page.goto(f"{server.url}/")
        return run(page, explorer_ready(page, page), reps)


def run(page, ex: ExplorerPage, reps: int) -> dict:
    first = timed(page, lambda: ex.toggle("Linux", "6.7").click())  # a fresh explorer in a fresh kernel
    ex.toggle("Linux", "6.6").click()
    time.sleep(1)
    out = {"first interaction": [first]}
    print("  seed case ...", file=sys.stderr)
    out.update({f"seed case, {k}": v for k, v in interactions(page, ex, reps).items()})
    page_wise(page, ex)
    print("  1 GiB page-wise ...", file=sys.stderr)
    out.update({f"1 GiB page-wise, {k}": v for k, v in interactions(page, ex, reps).items()})
    return out


def summarise(samples: list[dict]) -> dict:
    """Median and max of the total, and the median of each part."""
    def med(key):
        values = [s[key] for s in samples if s[key] is not None]
        return round(statistics.median(values), 1) if values else None

    totals = [s["total"] for s in samples]
    return {"median": round(statistics.median(totals), 1), "max": round(max(totals), 1), "n": len(totals),
            **{k: med(k) for k in ("before", "kernel", "after", "decode", "paint", "png_bytes", "messages")}}


def browser_latency(reps: int = 7, where=("lab", "voila")) -> dict:
    """{where: {interaction: summary}}, or {"browser": "skipped: why"}."""
    if CHROMIUM is None:
        return {"browser": "skipped: Debian's chromium is not installed (apt-get install chromium)"}
    try:
        import playwright  # noqa: F401
    except ImportError:
        return {"browser": "skipped: playwright is not installed (pip install -e '.[browser]')"}
    results = {}
    for name in where:
        print(f"browser latency: {name} ...", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix=f"pagemove-bench-{name}-") as tmp:
            measure = measure_lab if name == "lab" else measure_voila
            results[name] = {k: summarise(v) for k, v in measure(Path(tmp), reps).items()}
    return results


def table(results: dict) -> str:
    if "browser" in results:
        return f"browser  {results['browser']}"
    lines = [f"{'where, interaction':<48} {'median':>7} {'max':>7} {'n':>3}   parts (median ms): before / kernel "
             f"/ after / decode / paint, PNG bytes"]
    for where, rows in results.items():
        for k, s in rows.items():
            lines.append(f"{where + ', ' + k:<48} {s['median']:>7} {s['max']:>7} {s['n']:>3}   {s['before']} / "
                         f"{s['kernel']} / {s['after']} / {s['decode']} / {s['paint']}, {s['png_bytes']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--where", choices=["lab", "voila"], action="append")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    results = browser_latency(args.reps, tuple(args.where or ("lab", "voila")))
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
