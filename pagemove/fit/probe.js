// pagemove's width probe: reports the width (CSS pixels) its container gives the explorer's picture.
// A zero-height block beside the picture; a ResizeObserver sends its width to the kernel, which then
// draws the picture exactly that wide (so nothing is scaled down and every label keeps its size).
// Small changes (under STEP pixels) are not sent: they would redraw a picture that looks the same.
const STEP = 8;
const SETTLE_MS = 120; // a window being dragged wider sends one width when it stops, not one per frame

export default {
  render({ model, el }) {
    el.classList.add("pagemove-probe");
    let sent = 0;
    let timer = null;
    const report = () => {
      const width = Math.floor(el.getBoundingClientRect().width);
      if (width > 0 && Math.abs(width - sent) >= STEP) {
        sent = width;
        model.set("width", width);
        model.save_changes();
      }
    };
    const observer = new ResizeObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(report, sent ? SETTLE_MS : 0); // the first width at once
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      clearTimeout(timer);
    };
  },
};
