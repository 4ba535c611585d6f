// meersim explore: the page's logic. Plain JS, no build step; talks to the JSON API of
// meersim.eval.explore (docs/explore.md).
"use strict";

const state = { info: null, sort: "anomaly", desc: true, filters: [], offset: 0, limit: 60,
                selected: null, labels: {} };
const $ = (id) => document.getElementById(id);

function status(text, isError = true) {
  $("status").textContent = text || "";
  $("status").className = isError ? "error" : "info";
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toPrecision(4);
  return String(value);
}

function tile(record, caption, extraClass) {
  const div = document.createElement("div");
  div.className = "tile " + (extraClass || "");
  div.dataset.crop = record.crop_id;
  if (record.label) div.classList.add(record.label);
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = "crop " + record.crop_id;
  img.src = "/api/thumb?crop=" + record.crop_id;
  const cap = document.createElement("div");
  cap.className = "cap";
  cap.textContent = caption;
  cap.title = caption;
  div.append(img, cap);
  div.addEventListener("click", () => select(record.crop_id));
  return div;
}

function query() {
  const q = new URLSearchParams({ sort: state.sort, order: state.desc ? "desc" : "asc",
                                  offset: state.offset, limit: state.limit });
  for (const [c, op, v] of state.filters) q.append("filter", `${c}:${op}:${v}`);
  return q;
}

async function loadGrid() {
  try {
    const page = await api("/api/crops?" + query());
    const grid = $("grid");
    grid.replaceChildren(...page.crops.map((r) => {
      const key = state.sort === "relevance" ? "anomaly" : state.sort;
      const value = state.sort === "relevance" ? "" : " · " + fmt(r[key]);
      const t = tile(r, `#${r.crop_id}${value}`);
      if (r.crop_id === state.selected) t.classList.add("selected");
      return t;
    }));
    const last = Math.min(page.total, state.offset + state.limit);
    $("page").textContent = page.total ? `${state.offset + 1}–${last} of ${page.total}` : "none";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = last >= page.total;
    status("");
  } catch (err) { status(err.message); }
}

function showTruth(record) {
  const table = $("sel-truth");
  table.replaceChildren();
  for (const [k, v] of Object.entries(record)) {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = fmt(v);
  }
}

function showLabel(label) {
  $("sel-label").textContent = label ? "labelled: " + label : "not labelled";
  for (const b of document.querySelectorAll(".relabel")) {
    b.classList.toggle("active", (b.dataset.label || null) === (label || null));
  }
}

function showNeighbours(answer) {
  const box = $("neighbours");
  box.replaceChildren(...answer.neighbours.map((n) => {
    const t = tile(n, `#${n.crop_id} ${n.similarity.toFixed(3)} ${n.relevance_label ?? ""}`,
                   "neighbour");
    t.dataset.sim = n.similarity;
    return t;
  }));
  $("precision").textContent = answer.precision_at_k === null || answer.precision_at_k === undefined
    ? "" : `precision@${answer.neighbours.length} (${answer.label}): ${answer.precision_at_k.toFixed(3)}`;
}

async function select(cropId) {
  state.selected = cropId;
  for (const t of document.querySelectorAll("#grid .tile")) {
    t.classList.toggle("selected", Number(t.dataset.crop) === cropId);
  }
  try {
    const k = Number($("k").value) || 8;
    const label = $("label").value;
    const answer = await api(`/api/neighbours?crop=${cropId}&k=${k}&label=${encodeURIComponent(label)}`);
    const record = answer.query;
    $("sel-title").textContent = `crop #${cropId}`;
    $("sel-img").src = "/api/thumb?crop=" + cropId;
    $("sel-img").hidden = false;
    $("relabel").hidden = false;
    showTruth(record);
    showLabel(record.label);
    showNeighbours(answer);
    if (state.info.attention) {
      $("att-img").src = "/api/attention?crop=" + cropId;
      $("attention-box").hidden = false;
    }
    status("");
  } catch (err) { status(err.message); }
}

async function relabel(label) {
  if (state.selected === null) return;
  try {
    const answer = await api("/api/label", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ crop: state.selected, label: label }) });
    showLabel(answer.label);
    for (const t of document.querySelectorAll(`.tile[data-crop="${state.selected}"]`)) {
      t.classList.remove("interesting", "not");
      if (answer.label) t.classList.add(answer.label);
    }
    for (const row of $("sel-truth").rows) {
      if (row.cells[0].textContent === "label") row.cells[1].textContent = fmt(answer.label);
    }
    status(`${answer.labels} crops labelled (saved to relabels.csv)`, false);
  } catch (err) { status(err.message); }
}

async function queryFits() {
  const path = $("fits").value.trim();
  if (!path) return;
  $("fits-msg").textContent = "embedding…";
  try {
    const k = Number($("k").value) || 8;
    const answer = await api("/api/query", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: path, k: k, label: $("label").value }) });
    $("fits-msg").textContent = "neighbours of " + answer.query.path;
    $("sel-title").textContent = "query: " + answer.query.path.split("/").pop();
    showNeighbours(answer);
  } catch (err) { $("fits-msg").textContent = err.message; }
}

function renderFilters() {
  const box = $("filters");
  box.replaceChildren(...state.filters.map((f, i) => {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = f.join(" ");
    const x = document.createElement("button");
    x.textContent = "×";
    x.title = "remove";
    x.addEventListener("click", () => { state.filters.splice(i, 1); state.offset = 0;
                                         renderFilters(); loadGrid(); });
    chip.append(x);
    return chip;
  }));
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text ?? value;
  select.append(o);
}

function setSort(key, desc) {
  state.sort = key; state.desc = desc; state.offset = 0;
  $("sort").value = key;
  $("order").innerHTML = desc ? "&darr; desc" : "&uarr; asc";
  loadGrid();
}

async function init() {
  try {
    state.info = await api("/api/info");
  } catch (err) { status(err.message); return; }
  const info = state.info;
  $("summary").textContent = `${info.n} crops · ${info.product} · D=${info.dim} · ${info.index} index`;
  for (const key of info.sort_keys) option($("sort"), key);
  for (const key of Object.keys(info.columns)) option($("fcol"), key);
  option($("fcol"), "anomaly");
  for (const [key, kind] of Object.entries(info.columns)) {
    if (key !== "crop_id") option($("label"), key);
  }
  if (info.default_label) $("label").value = info.default_label;
  if (!info.checkpoint) {
    $("fits").disabled = true; $("fits-go").disabled = true;
    $("fits-msg").textContent = "no checkpoint in meta.json: FITS queries are off";
  } else if (info.fits_dirs.length) {
    $("fits-msg").textContent = "FITS images under " + info.fits_dirs.join(", ");
  }
  $("sort").addEventListener("change", () => setSort($("sort").value, state.desc));
  $("order").addEventListener("click", () => setSort(state.sort, !state.desc));
  $("top-anomalies").addEventListener("click", () => setSort("anomaly", true));
  $("rerank").addEventListener("click", () => setSort("relevance", true));
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadGrid(); });
  $("next").addEventListener("click", () => { state.offset += state.limit; loadGrid(); });
  $("fadd").addEventListener("click", () => {
    const value = $("fval").value.trim();
    if (!value) return;
    state.filters.push([$("fcol").value, $("fop").value, value]);
    state.offset = 0; renderFilters(); loadGrid();
  });
  for (const b of document.querySelectorAll(".relabel")) {
    b.addEventListener("click", () => relabel(b.dataset.label));
  }
  $("fits-go").addEventListener("click", queryFits);
  $("fits").addEventListener("keydown", (e) => { if (e.key === "Enter") queryFits(); });
  for (const id of ["k", "label"]) {
    $(id).addEventListener("change", () => { if (state.selected !== null) select(state.selected); });
  }
  await loadGrid();
}

init();
