// The model picker's front end (anywidget ES module).
//
// A listbox (ARIA `listbox` with `option` rows and group headers) that draws only the rows
// in view: 2,000 models filter in a few milliseconds per keystroke, widening included,
// since no hidden node has to be styled or laid out again. Model names are data: every node
// is made with createElement and filled with textContent, never innerHTML.

const LIST_ROWS = 14; // rows in view
const BUFFER = 6; // rows drawn beyond the view on each side, for smooth scrolling
const MAX_ID_WIDTH = 48;
const GAP = "  ";
// Per column (id, context, tools, reasoning, price): pad at the end (left-aligned text) or
// at the start (right-aligned numbers).
const ALIGN = ["end", "start", "end", "end", "start"];

function el(tag, className, props = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  Object.assign(node, props);
  return node;
}

// Column widths shared by the whole list, so every group's columns line up.
function columnWidths(groups) {
  const widths = [0, 0, 0, 0, 0];
  for (const group of groups) {
    for (const option of group.options) {
      for (let i = 0; i < 5; i++) widths[i] = Math.max(widths[i], option[i + 1].length);
    }
  }
  widths[0] = Math.min(widths[0], MAX_ID_WIDTH);
  return widths;
}

function rowText(option, widths) {
  const cells = [];
  for (let i = 0; i < 5; i++) {
    let cell = option[i + 1];
    // An id wider than its column is cut, so the columns after it still line up.
    if (cell.length > widths[i]) cell = `${cell.slice(0, widths[i] - 1)}…`;
    const pad = " ".repeat(Math.max(0, widths[i] - cell.length));
    cells.push(ALIGN[i] === "start" ? pad + cell : cell + pad);
  }
  return cells.join(GAP).trimEnd();
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
  const list = el("div", "forge-picker-list", { tabIndex: 0 });
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Models by provider");
  const canvas = el("div", "forge-picker-canvas");
  list.append(canvas);
  const info = el("div", "forge-picker-info");
  const status = el("div", "forge-picker-status");
  status.setAttribute("role", "status");
  root.append(bar, list, info, status);
  host.replaceChildren(root);

  let groups = []; // [{group, text, entries: [{value, kind, text, search, isNew}]}]
  let rows = []; // what the search shows: {header: group} or {entry}
  let chosen = null; // the highlighted entry
  let favourites = new Set();
  let matched = 0; // models the search shows, each once
  // Until the person moves the highlight, it follows the active model, in its provider's group.
  let userMoved = false;
  let rowHeight = 0;

  function groupLabel(group, loading) {
    if (group.reason) return `${group.label} — ${group.reason}`;
    if (group.kind === "provider" && loading.has(group.id)) return `${group.label} — refreshing…`;
    return group.label;
  }

  // `652 models from 9 providers`, or while searching `8 of 652 models`.
  function showInfo() {
    const loading = new Set(model.get("loading") || []);
    const providers = groups.filter((g) => g.group.kind === "provider");
    const count = providers.reduce((n, g) => n + g.entries.length, 0);
    const failed = providers.filter((g) => g.group.disabled).length;
    const shown = providers.filter((g) => g.entries.length).length;
    const models = (n) => `${n.toLocaleString("en")} model${n === 1 ? "" : "s"}`;
    let text = search.value.trim() ? `${matched.toLocaleString("en")} of ${models(count)}`
      : `${models(count)} from ${shown} provider${shown === 1 ? "" : "s"}`;
    if (failed) text += ` · ${failed} failed`;
    if (loading.size) text += ` · fetching ${[...loading].join(", ")}…`;
    else if (model.get("busy")) text += " · fetching…";
    info.textContent = text;
  }

  function applyFilter() {
    const terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const matches = (text) => terms.every((t) => text.includes(t));
    const next = [];
    matched = 0;
    for (const g of groups) {
      const shown = terms.length ? g.entries.filter((e) => matches(e.search)) : g.entries;
      // An empty group (a failed provider) stays while its name or reason matches.
      if (!shown.length && (g.entries.length || !matches(g.text))) continue;
      next.push({ header: g });
      for (const entry of shown) next.push({ entry });
      if (g.group.kind === "provider") matched += shown.length;
    }
    rows = next; // the highlight stays when the search hides it, for when it shows again
    canvas.style.height = `${rows.length * measure()}px`;
    showInfo();
    draw();
  }

  // The height of one row, read once from a real row (fonts and themes differ).
  function measure() {
    if (rowHeight) return rowHeight;
    const probe = el("div", "forge-picker-option", { textContent: "M" });
    canvas.append(probe);
    rowHeight = probe.getBoundingClientRect().height || 0;
    probe.remove();
    if (rowHeight) list.style.height = `${LIST_ROWS * rowHeight + 2}px`;
    return rowHeight || 18;
  }

  // Draw the rows in view (and a few beyond): a few dozen nodes, however long the list.
  function draw() {
    const height = measure();
    const first = Math.max(0, Math.floor(list.scrollTop / height) - BUFFER);
    const last = Math.min(rows.length, first + LIST_ROWS + 2 * BUFFER);
    const fragment = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const row = rows[i];
      let node;
      if (row.header) {
        const { group } = row.header;
        node = el("div", "forge-picker-group", {
          textContent: groupLabel(group, new Set(model.get("loading") || [])),
        });
        node.setAttribute("role", "presentation");
        node.dataset.kind = group.kind;
        node.dataset.id = group.id;
        if (group.disabled) node.classList.add("forge-picker-failed");
      } else {
        const { entry } = row;
        node = el("div", "forge-picker-option", { textContent: entry.text, title: entry.value });
        node.setAttribute("role", "option");
        node.dataset.value = entry.value;
        node.dataset.kind = entry.kind;
        node.dataset.row = String(i);
        if (entry.isNew) node.classList.add("forge-picker-new");
        const on = entry === chosen;
        node.setAttribute("aria-selected", String(on));
        if (on) {
          node.id = `${listId}-chosen`;
          node.classList.add("forge-picker-chosen");
        }
      }
      node.style.top = `${i * height}px`;
      fragment.append(node);
    }
    canvas.replaceChildren(fragment);
    if (chosen) list.setAttribute("aria-activedescendant", `${listId}-chosen`);
    else list.removeAttribute("aria-activedescendant");
  }
  const listId = `forge-picker-${Math.random().toString(36).slice(2)}`;

  // Highlight the entry for `value`: the one already highlighted, else the one in its
  // provider's group, else any.
  function highlight(value, kind) {
    if (!chosen || chosen.value !== value || (kind && chosen.kind !== kind)) {
      const same = rows.filter((r) => r.entry && r.entry.value === value).map((r) => r.entry);
      chosen = same.find((e) => e.kind === (kind || "provider")) || same[0] || null;
    }
    reveal();
    updateFavourite();
  }

  // Scroll the list (only the list, never the notebook) to show the highlighted row.
  function reveal() {
    const index = rows.findIndex((r) => r.entry === chosen);
    if (index < 0) {
      draw();
      return;
    }
    const height = measure();
    // With the group's header when the row is its group's first.
    const top = (rows[index - 1] && rows[index - 1].header ? index - 1 : index) * height;
    const bottom = (index + 1) * height;
    if (top < list.scrollTop) list.scrollTop = top;
    else if (bottom > list.scrollTop + list.clientHeight) {
      list.scrollTop = bottom - list.clientHeight;
    }
    draw();
  }

  function rebuild() {
    const kept = userMoved && chosen ? [chosen.value, chosen.kind] : [model.get("value"), null];
    const received = model.get("groups") || [];
    const widths = columnWidths(received);
    groups = received.map((group) => {
      const text = `${group.id} ${group.label}`.toLowerCase();
      return {
        group,
        text: `${text} ${group.reason}`.toLowerCase(),
        entries: group.options.map((cells) => ({
          value: cells[0],
          kind: group.kind,
          isNew: Boolean(cells[6]),
          text: rowText(cells, widths) + (cells[6] ? `${GAP}● new` : ""),
          search: `${cells[0]} ${cells.slice(2, 6).join(" ")} ${text}`.toLowerCase(),
        })),
      };
    });
    favourites = new Set(
      received.filter((g) => g.kind === "favourites").flatMap((g) => g.options.map((o) => o[0])),
    );
    chosen = null;
    applyFilter();
    highlight(...kept);
  }

  function updateFavourite() {
    const on = Boolean(chosen && favourites.has(chosen.value));
    favourite.disabled = !chosen;
    favourite.textContent = on ? "★ Favourite" : "☆ Favourite";
    favourite.title = on ? "Remove the highlighted model from favourites"
      : "Add the highlighted model to favourites";
    favourite.setAttribute("aria-pressed", String(on));
  }

  function showStatus() {
    status.textContent = model.get("status");
    status.classList.toggle("forge-picker-error", model.get("status_kind") === "error");
  }

  function pick(entry) {
    if (!entry) return;
    chosen = entry;
    userMoved = true;
    reveal();
    updateFavourite();
    model.send({ type: "select", value: entry.value });
  }

  function move(step) {
    const options = rows.filter((r) => r.entry).map((r) => r.entry);
    if (!options.length) return;
    const at = options.indexOf(chosen);
    const next = at < 0 ? (step > 0 ? 0 : options.length - 1)
      : Math.min(options.length - 1, Math.max(0, at + step));
    chosen = options[next];
    userMoved = true;
    reveal();
    updateFavourite();
  }

  const isShown = (entry) => Boolean(entry) && rows.some((r) => r.entry === entry);
  const steps = { ArrowDown: 1, ArrowUp: -1, PageDown: LIST_ROWS, PageUp: -LIST_ROWS };

  let pending = 0;
  search.addEventListener("input", () => {
    // One filter pass per frame, however fast the typing.
    if (pending) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      applyFilter();
      if (isShown(chosen)) reveal();
      else list.scrollTop = 0;
    });
  });
  search.addEventListener("keydown", (event) => {
    if (event.key in steps) {
      event.preventDefault();
      applyFilter();
      move(steps[event.key]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      applyFilter();
      pick(isShown(chosen) ? chosen : (rows.find((r) => r.entry) || {}).entry);
    } else if (event.key === "Escape" && search.value) {
      event.preventDefault();
      event.stopPropagation(); // keep Jupyter from leaving edit mode
      search.value = "";
      applyFilter();
      reveal();
    }
  });
  list.addEventListener("keydown", (event) => {
    if (event.key in steps) {
      event.preventDefault();
      move(steps[event.key]);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      move(event.key === "Home" ? -rows.length : rows.length);
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (isShown(chosen)) pick(chosen);
    }
  });
  list.addEventListener("click", (event) => {
    const node = event.target instanceof Element && event.target.closest(".forge-picker-option");
    if (node) pick(rows[Number(node.dataset.row)].entry);
  });
  list.addEventListener("scroll", () => draw(), { passive: true });
  favourite.addEventListener("click", () => {
    if (chosen) model.send({ type: "favourite", value: chosen.value });
  });
  refresh.addEventListener("click", () => model.send({ type: "refresh" }));
  // Keep Jupyter's notebook shortcuts (a, b, d d, j, k…) out of the picker's keys: Lumino
  // honours the attribute, other hosts see no keydown bubble out of the picker.
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.addEventListener("keydown", (event) => event.stopPropagation());
  // What the list shows, for tests and assistive tools: every row the search keeps, not
  // only the ones drawn.
  root.forgeRows = () => rows.map((r) => (r.header
    ? { group: r.header.group.id, kind: r.header.group.kind,
        label: groupLabel(r.header.group, new Set(model.get("loading") || [])),
        disabled: Boolean(r.header.group.disabled) }
    : { value: r.entry.value, kind: r.entry.kind, text: r.entry.text,
        chosen: r.entry === chosen }));

  const onValue = () => highlight(model.get("value"), null);
  const onStatus = () => {
    showStatus();
    if (model.get("status_kind") === "error") highlight(model.get("value"), null);
  };
  const onLoading = () => {
    showInfo();
    draw();
  };
  const listeners = [
    ["change:groups", rebuild],
    ["change:loading", onLoading],
    ["change:busy", showInfo],
    ["change:value", onValue],
    ["change:status", onStatus],
    ["change:status_kind", onStatus],
  ];
  for (const [event, handler] of listeners) model.on(event, handler);
  rebuild();
  showStatus();
  // Once the host has put the picker on the page (a notebook may do so after render), and
  // whenever it is shown again: measure a row, then scroll to the highlight.
  let laidOut = false;
  const resized = new ResizeObserver(() => {
    const shown = list.clientHeight > 0;
    if (shown && !laidOut) {
      rowHeight = 0;
      applyFilter();
      reveal();
    }
    laidOut = shown;
  });
  resized.observe(list);

  return () => {
    resized.disconnect();
    if (pending) cancelAnimationFrame(pending);
    for (const [event, handler] of listeners) model.off(event, handler);
  };
}

export default { render };
