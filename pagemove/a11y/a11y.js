// pagemove's accessibility layer (see pagemove/a11y/__init__.py): an anywidget ES module, loaded from the
// package itself (nothing is fetched). One instance sits inside each explorer's box (class pagemove-a11y)
// and gives the ipywidgets 8 controls around it what they lack:
//   - names: the noUi slider handles (role="slider", no name) and each toggle group get the name Python
//     gave them (the `names` trait: [css class, name] pairs); the picture gets its alt text (`alt`);
//   - states: a toggle group is a radio group whose buttons say aria-checked (ipywidgets marks the chosen
//     button with the CSS class mod-active only); arrow keys, Home and End choose, one Tab stop per group;
//   - announcements: its own element is a polite live region that reads the `announcement` trait;
//   - keys stay with the control: JupyterLab's notebook shortcuts (arrows move the active cell, "d d"
//     deletes it) listen on the document, so key presses on a control do not travel past the box.
// ipywidgets re-renders buttons when options change, so the attributes are re-applied on every DOM change.

const KEEP = new Set(["Tab", "Escape"]); // keys the notebook keeps: leave the box, leave the cell

function checked(button) {
  return button.classList.contains("mod-active");
}

function set(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

function radioGroup(box, name) {
  const group = box.querySelector(":scope > div:not(.widget-label)") || box;
  const buttons = [...group.querySelectorAll("button")];
  set(group, "role", "radiogroup");
  set(group, "aria-label", name);
  const anyChecked = buttons.some(checked);
  buttons.forEach((b, i) => {
    set(b, "role", "radio");
    set(b, "aria-checked", String(checked(b)));
    // One Tab stop per group: the chosen button (the first when none is).
    set(b, "tabindex", checked(b) || (!anyChecked && i === 0) ? "0" : "-1");
  });
  if (!group._pagemoveKeys) {
    group._pagemoveKeys = true;
    group.addEventListener("keydown", (event) => {
      const all = [...group.querySelectorAll("button")];
      const at = all.indexOf(document.activeElement);
      if (at < 0) return;
      const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
                   Home: 0, End: all.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      const next = all[(to + all.length) % all.length];
      next.focus();
      if (!checked(next)) next.click();
    });
  }
}

function nameControl(box, name) {
  if (box.classList.contains("widget-toggle-buttons")) {
    radioGroup(box, name);
    return;
  }
  for (const el of box.querySelectorAll(".noUi-handle, input, select, textarea")) {
    set(el, "aria-label", name);
  }
  // A slider's readout is an editable field of its own: type a value, Enter.
  for (const el of box.querySelectorAll(".widget-readout[contenteditable=true]")) {
    set(el, "role", "textbox");
    set(el, "aria-label", `${name}, typed`);
  }
}

function apply(root, model) {
  for (const [cls, name] of model.get("names")) {
    for (const box of root.querySelectorAll(`.${cls}`)) nameControl(box, name);
  }
  const alt = model.get("alt");
  for (const img of root.querySelectorAll(".pagemove-picture img, img.pagemove-picture")) {
    set(img, "alt", alt);
  }
  // ipywidgets writes title="null" on a description label that has no tooltip.
  for (const label of root.querySelectorAll('[title="null"]')) label.removeAttribute("title");
}

function keepKeys(root) {
  root.addEventListener("keydown", (event) => {
    if (KEEP.has(event.key) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Enter" && event.shiftKey) return; // Shift+Enter still runs the cell
    event.stopPropagation();
  });
}

function render({ model, el }) {
  const live = document.createElement("div");
  live.className = "pagemove-live";
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  live.setAttribute("aria-atomic", "true");
  el.appendChild(live);
  const say = () => { live.textContent = model.get("announcement"); };
  model.on("change:announcement", say);
  say(); // the text so far (a region's first text is not read out; later changes are)

  let root = null;
  let observer = null;
  const attach = () => {
    root = el.closest(".pagemove-a11y");
    if (!root) return false;
    root.setAttribute("role", "region");
    root.setAttribute("aria-label", model.get("label"));
    keepKeys(root);
    observer = new MutationObserver(() => apply(root, model));
    observer.observe(root, { subtree: true, childList: true, attributes: true,
                             attributeFilter: ["class", "title", "src"] });
    apply(root, model);
    return true;
  };
  // The view is rendered before ipywidgets puts it into its box: wait until it is in the page.
  const waiting = new MutationObserver(() => { if (el.isConnected && attach()) waiting.disconnect(); });
  if (!attach()) waiting.observe(document.body, { childList: true, subtree: true });
  const again = () => root && apply(root, model);
  model.on("change:alt", again);
  model.on("change:names", again);
  return () => {
    waiting.disconnect();
    if (observer) observer.disconnect();
  };
}

export default { render };
