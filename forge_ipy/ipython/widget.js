// The model picker's front end (anywidget ES module).
//
// A native <select size=N> list with one <optgroup> per group: real groups, native keyboard
// and screen-reader support. Model names are data: every node is made with createElement and
// filled with textContent / label, never innerHTML. Filtering hides options in place; the
// list's nodes are rebuilt only when the kernel sends new groups.

const LIST_ROWS = 14;

function el(tag, className, props = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  Object.assign(node, props);
  return node;
}

// An option's text collapses runs of spaces, so the formatter's columns (`gpt-4o  128k
// tools`) are kept with no-break spaces, the model ids padded to a common width per group.
const NBSP = "\u00a0";
const MAX_ID_WIDTH = 48;
const modelId = (value) => value.slice(value.indexOf("/") + 1);

function idWidth(options) {
  let width = 0;
  for (const [value, label] of options) {
    const id = modelId(value);
    if (label.startsWith(id) && label.length > id.length) width = Math.max(width, id.length);
  }
  return Math.min(width, MAX_ID_WIDTH);
}

function shown(value, label, width) {
  const id = modelId(value);
  if (!label.startsWith(id) || label.length === id.length) return label;
  const rest = label.slice(id.length).trimStart()
    .replace(/ {2,}/g, (run) => NBSP.repeat(run.length));
  return id + NBSP.repeat(Math.max(2, width - id.length + 2)) + rest;
}

function render({ model, el: host }) {
  const root = el("div", "forge-picker");
  const bar = el("div", "forge-picker-bar");
  const search = el("input", "forge-picker-search", {
    type: "search",
    placeholder: "Search models and providers…",
    spellcheck: false,
    autocomplete: "off",
  });
  search.setAttribute("aria-label", "Search models and providers");
  const favourite = el("button", "forge-picker-favourite", { type: "button" });
  const refresh = el("button", "forge-picker-refresh", {
    type: "button",
    textContent: "↻ Refresh",
    title: "Fetch every provider's list again",
  });
  bar.append(search, favourite, refresh);
  const list = el("select", "forge-picker-list", { size: LIST_ROWS });
  list.setAttribute("aria-label", "Models by provider");
  const info = el("div", "forge-picker-info");
  const status = el("div", "forge-picker-status");
  status.setAttribute("role", "status");
  root.append(bar, list, info, status);
  host.replaceChildren(root);

  // One entry per option: the node, its optgroup, and the lower-case text searched.
  let entries = [];
  let groupNodes = []; // [{node, group, text}]
  let favourites = new Set();
  // Until the person moves the highlight, it follows the active model, in its provider's group.
  let userMoved = false;

  const visible = (option) => !option.hidden && !option.parentNode.hidden && !option.disabled;
  const visibleOptions = () => entries.map((e) => e.option).filter(visible);

  function groupLabel(group, loading) {
    let label = group.label;
    if (group.reason) label += " — " + group.reason;
    else if (group.kind === "provider" && loading.has(group.id)) label += " — refreshing…";
    return label;
  }

  function relabel() {
    const loading = new Set(model.get("loading") || []);
    for (const { node, group } of groupNodes) {
      const label = groupLabel(group, loading);
      if (node.label !== label) node.label = label;
    }
    const providers = groupNodes.filter((g) => g.group.kind === "provider");
    const count = providers.reduce((n, g) => n + g.group.options.length, 0);
    const failed = providers.filter((g) => g.group.disabled).length;
    const answered = providers.length - failed;
    let text = `${count} model${count === 1 ? "" : "s"} from ${answered} ` +
      `provider${answered === 1 ? "" : "s"}`;
    if (failed) text += ` · ${failed} failed`;
    if (loading.size) text += ` · fetching ${[...loading].join(", ")}…`;
    else if (model.get("busy")) text += " · fetching…";
    info.textContent = text;
  }

  function applyFilter() {
    const terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const matches = (text) => terms.every((t) => text.includes(t));
    const shown = new Set();
    for (const entry of entries) {
      const show = matches(entry.text);
      if (entry.option.hidden === show) entry.option.hidden = !show;
      if (show) shown.add(entry.group);
    }
    for (const { node, text } of groupNodes) {
      // An empty group (a failed provider) stays while its name or reason matches.
      const show = shown.has(node) || (!node.childElementCount && matches(text));
      if (node.hidden === show) node.hidden = !show;
    }
  }

  // Highlight the option for `value`: the one already highlighted, else the one in its
  // provider's group, else any.
  function highlight(value, kind) {
    const current = list.selectedOptions[0];
    if (!current || current.value !== value || (kind && current.dataset.kind !== kind)) {
      const same = entries.filter((e) => e.option.value === value);
      const pick = same.find((e) => e.option.dataset.kind === (kind || "provider")) || same[0];
      if (pick) pick.option.selected = true;
      else list.selectedIndex = -1;
    }
    reveal();
    updateFavourite();
  }

  // Scroll the list (only the list, never the notebook) to show the highlighted option.
  function reveal() {
    const option = list.selectedOptions[0];
    if (!option || !visible(option)) return;
    const box = list.getBoundingClientRect();
    const at = option.getBoundingClientRect();
    if (!box.height || !at.height) return; // not laid out yet
    const top = box.top + list.clientTop;
    const bottom = top + list.clientHeight;
    if (at.top < top) list.scrollTop -= top - at.top;
    else if (at.bottom > bottom) list.scrollTop += at.bottom - bottom;
  }

  function rebuild() {
    const before = list.selectedOptions[0];
    const kept = userMoved && before ? [before.value, before.dataset.kind]
      : [model.get("value"), null];
    const scroll = list.scrollTop;
    const fragment = document.createDocumentFragment();
    entries = [];
    groupNodes = [];
    for (const group of model.get("groups") || []) {
      const node = el("optgroup", "forge-picker-group");
      node.dataset.kind = group.kind;
      node.dataset.id = group.id;
      node.disabled = Boolean(group.disabled);
      const groupText = `${group.id} ${group.label}`.toLowerCase();
      groupNodes.push({ node, group, text: `${groupText} ${group.reason}`.toLowerCase() });
      const width = idWidth(group.options);
      for (const [value, label] of group.options) {
        const text = shown(value, label, width);
        const option = el("option", "", { value, title: value, textContent: text });
        option.dataset.kind = group.kind;
        node.append(option);
        entries.push({ option, group: node, text: `${value} ${label} ${groupText}`.toLowerCase() });
      }
      fragment.append(node);
    }
    favourites = new Set(
      (model.get("groups") || []).filter((g) => g.kind === "favourites")
        .flatMap((g) => g.options.map(([value]) => value)),
    );
    list.replaceChildren(fragment);
    relabel();
    applyFilter();
    list.scrollTop = scroll;
    highlight(...kept);
  }

  function updateFavourite() {
    const option = list.selectedOptions[0];
    const on = Boolean(option && favourites.has(option.value));
    favourite.disabled = !option;
    favourite.textContent = on ? "★ Favourite" : "☆ Favourite";
    favourite.title = on ? "Remove the highlighted model from favourites"
      : "Add the highlighted model to favourites";
    favourite.setAttribute("aria-pressed", String(on));
  }

  function showStatus() {
    status.textContent = model.get("status");
    status.classList.toggle("forge-picker-error", model.get("status_kind") === "error");
  }

  function pick(option) {
    if (!option || option.disabled || !visible(option)) return;
    option.selected = true;
    userMoved = true;
    model.send({ type: "select", value: option.value });
  }

  function move(step) {
    const options = visibleOptions();
    if (!options.length) return;
    const at = options.indexOf(list.selectedOptions[0]);
    const next = at < 0 ? (step > 0 ? 0 : options.length - 1)
      : Math.min(options.length - 1, Math.max(0, at + step));
    options[next].selected = true;
    userMoved = true;
    reveal();
    updateFavourite();
  }

  let pending = 0;
  search.addEventListener("input", () => {
    // One filter pass per frame, however fast the typing.
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      applyFilter();
      const option = list.selectedOptions[0];
      if (option && visible(option)) reveal();
      else list.scrollTop = 0;
    });
  });
  search.addEventListener("keydown", (event) => {
    const steps = { ArrowDown: 1, ArrowUp: -1, PageDown: LIST_ROWS, PageUp: -LIST_ROWS };
    if (event.key in steps) {
      event.preventDefault();
      applyFilter();
      move(steps[event.key]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      applyFilter();
      const current = list.selectedOptions[0];
      pick(current && visible(current) ? current : visibleOptions()[0]);
    } else if (event.key === "Escape" && search.value) {
      event.preventDefault();
      event.stopPropagation(); // keep Jupyter from leaving edit mode
      search.value = "";
      applyFilter();
    }
  });
  list.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      pick(list.selectedOptions[0]);
    }
  });
  list.addEventListener("click", (event) => {
    if (event.target instanceof HTMLOptionElement) pick(event.target);
  });
  list.addEventListener("change", () => {
    userMoved = true;
    updateFavourite();
  });
  favourite.addEventListener("click", () => {
    const option = list.selectedOptions[0];
    if (option) model.send({ type: "favourite", value: option.value });
  });
  refresh.addEventListener("click", () => model.send({ type: "refresh" }));
  // Keep Jupyter's notebook shortcuts (a, b, d d, j, k…) out of the picker's keys: Lumino
  // honours the attribute, other hosts see no keydown bubble out of the picker.
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.addEventListener("keydown", (event) => event.stopPropagation());

  const onValue = () => highlight(model.get("value"), null);
  const onStatus = () => {
    showStatus();
    if (model.get("status_kind") === "error") highlight(model.get("value"), null);
  };
  const listeners = [
    ["change:groups", rebuild],
    ["change:loading", relabel],
    ["change:busy", relabel],
    ["change:value", onValue],
    ["change:status", onStatus],
    ["change:status_kind", onStatus],
  ];
  for (const [event, handler] of listeners) model.on(event, handler);
  rebuild();
  showStatus();
  requestAnimationFrame(reveal); // once the host has put the picker on the page

  return () => {
    if (pending) cancelAnimationFrame(pending);
    for (const [event, handler] of listeners) model.off(event, handler);
  };
}

export default { render };
