// tinct browser UI: plain JavaScript, no dependencies. Everything follows /api/methods.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  methods: [], image: null, imageUrl: null, imageSize: null, reference: null, mask: null,
  strokes: [], drawing: null, grayData: null, resultUrl: null, polling: null, jobId: null,
  // colour pins and regions (methods that declare a hints input): positions in pixels of the image
  pins: [], regions: [], selected: null, currentRegion: null, history: [], drag: null, painting: null,
  colourEdit: false, preview: { timer: null, busy: false, again: false, seq: 0, url: null }, suggestSeq: 0,
  palette: null,
};
const FINAL = ["done", "failed", "cancelled"];
// Region masks of a reopened job (uploaded images, not strokes), by region maskId: white where the region is,
// with the mask's gray level as alpha.
const maskCanvases = new Map();
const tintedMasks = new Map();  // "maskId|colour" -> the mask drawn in that colour

// ---------------------------------------------------------------- API
function headers() {
  const token = sessionStorage.getItem("tinct-token");
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (res.status === 401) {
    $("token-box").hidden = false;
    const given = Boolean(sessionStorage.getItem("tinct-token"));
    throw new Error(given ? "this API token is not valid for this server: enter another at the top right"
                          : "this server needs an API token: enter it at the top right");
  }
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return res;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function setProgress(p) {
  const pct = Math.round(Math.max(0, Math.min(1, p)) * 100);
  $("progress-bar").style.width = `${pct}%`;
  document.querySelector(".progress").setAttribute("aria-valuenow", String(pct));
}

// A new image, method, reference or mask makes the last outcome stale: clear "done", the bar and the result.
function resetOutcome() {
  if (state.polling !== null) return;  // a job is running: its progress stays
  $("compare").hidden = true;
  setProgress(0);
  setStatus("");
  showWorkspace();
}

// ---------------------------------------------------------------- methods and the parameter form
function currentMethod() {
  return state.methods.find((m) => m.name === $("method").value);
}

async function loadMethods() {
  const health = await (await fetch("/api/health")).json();
  if (health.auth) $("token-box").hidden = false;
  const methods = await (await api("/api/methods")).json();
  if (health.auth) $("token").classList.remove("bad");
  state.methods = methods;
  const select = $("method");
  select.innerHTML = "";
  for (const kind of ["colorize", "transfer"]) {
    const group = document.createElement("optgroup");
    group.label = kind === "colorize" ? "Colorize (black and white to colour)" : "Transfer (colours of a reference)";
    for (const m of methods.filter((x) => x.kind === kind)) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = m.name;
      group.appendChild(opt);
    }
    if (group.children.length) select.appendChild(group);
  }
  const preferred = methods.find((m) => m.name === "reinhard") || methods[0];
  if (preferred) select.value = preferred.name;
  onMethodChange();
}

function paramInput(name, spec) {
  const label = document.createElement("label");
  let input;
  if (spec.enum) {
    input = document.createElement("select");
    for (const v of spec.enum) {
      const o = document.createElement("option");
      o.value = v; o.textContent = v;
      input.appendChild(o);
    }
    input.value = spec.default;
  } else if (spec.type === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(spec.default);
    label.className = "check";
  } else if (spec.type === "integer" || spec.type === "number") {
    input = document.createElement("input");
    input.type = "number";
    if (spec.minimum !== undefined) input.min = spec.minimum;
    if (spec.maximum !== undefined) input.max = spec.maximum;
    input.step = spec.type === "integer" ? "1" : "any";
    if (spec.default !== null && spec.default !== undefined) input.value = spec.default;
  } else {
    input = document.createElement("input");
    input.type = "text";
    if (spec.default !== null && spec.default !== undefined) input.value = spec.default;
  }
  input.name = name;
  input.dataset.type = spec.type;
  input.id = `param-${name}`;
  const title = document.createElement("span");
  title.textContent = name.replace(/_/g, " ");
  const help = document.createElement("small");
  help.textContent = spec.description || "";
  if (spec.type === "boolean") {
    label.append(input, title, help);
    help.style.gridColumn = "1 / span 2";
  } else {
    label.append(title, input, help);
  }
  return label;
}

function onMethodChange() {
  const m = currentMethod();
  const form = $("params");
  form.innerHTML = "";
  if (!m) return;
  $("method-summary").textContent = m.summary;
  // What changes the look first; engineering parameters (solver, device, threads, backend...) under "Advanced".
  const advanced = new Set(m.advanced || []);
  const entries = Object.entries(m.params);
  const more = document.createElement("details");
  more.className = "advanced";
  const summary = document.createElement("summary");
  more.appendChild(summary);
  for (const [name, spec] of entries) (advanced.has(name) ? more : form).appendChild(paramInput(name, spec));
  summary.textContent = `Advanced (${more.children.length - 1})`;
  if (more.children.length > 1) form.appendChild(more);
  const needsRef = m.inputs.reference !== "none";
  $("reference-step").hidden = !needsRef;
  $("reference-need").textContent = m.inputs.reference === "required" ? "required" : "optional";
  $("mask-step").hidden = !m.inputs.mask;
  const scribbles = m.inputs.scribbles !== "none";
  $("scribble-step").hidden = !scribbles;
  $("scribble-need").textContent = m.inputs.scribbles === "required" ? "required" : "optional";
  $("pins-step").hidden = !pinMethod(m);
  const regions = declares(m, "regions");
  for (const id of ["tool-region", "region-brush", "region-new"]) $(id).disabled = !regions;
  if (!regions) $("tool-pin").checked = true;
  resetOutcome();
  showWorkspace();
  updateRunButton();
  if (pinning()) schedulePreview(0);
}

function collectParams() {
  const out = {};
  const m = currentMethod();
  for (const input of $("params").querySelectorAll("input, select")) {
    const spec = m.params[input.name];
    if (input.type === "checkbox") {
      if (input.checked !== Boolean(spec.default)) out[input.name] = input.checked;
      continue;
    }
    const text = input.value.trim();
    if (text === "" || String(spec.default) === text) continue;
    if (input.dataset.type === "integer") out[input.name] = parseInt(text, 10);
    else if (input.dataset.type === "number") out[input.name] = parseFloat(text);
    else out[input.name] = text;
  }
  return out;
}

function declares(m, kind) {
  return Boolean(m && Object.values(m.inputs.declared || {}).some((i) => i.kind === kind));
}

// The pin tools are offered for methods steered by hints alone (auto, siggraph17). scribble takes hints too,
// through the API; in the page its strokes are the guidance (a preview would need them as well).
function pinMethod(m) {
  return declares(m, "hints") && m.inputs.scribbles === "none" && m.inputs.reference !== "required";
}

function pinning() {
  return pinMethod(currentMethod()) && Boolean(state.image);
}

function updateRunButton() {
  const m = currentMethod();
  let ok = Boolean(m && state.image);
  if (m && m.inputs.reference === "required" && !state.reference) ok = false;
  if (m && m.inputs.scribbles === "required" && state.strokes.length === 0) ok = false;
  $("run").disabled = !ok || state.polling !== null;
}

// ---------------------------------------------------------------- files
function bindDrop(labelId, inputId, onFile) {
  const zone = $(labelId) || $(inputId).parentElement;
  $(inputId).addEventListener("change", (e) => { if (e.target.files[0]) onFile(e.target.files[0]); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]);
  });
}

async function setImage(file) {
  state.image = file;
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  state.imageUrl = URL.createObjectURL(file);
  const img = new Image();
  img.src = state.imageUrl;
  try { await img.decode(); } catch (e) { setStatus("the browser cannot display this image; the server will judge it"); }
  state.imageSize = [img.naturalWidth, img.naturalHeight];
  $("drop-text").textContent = file.name;
  $("image-info").textContent = `${img.naturalWidth} x ${img.naturalHeight} px, ${(file.size / 1024).toFixed(0)} KB`;
  $("preview-img").src = state.imageUrl;
  state.strokes = [];
  state.grayData = null;
  resetPins();
  $("pins-img").src = state.imageUrl;
  if (img.naturalWidth > 0) {
    fitView(img.naturalWidth, img.naturalHeight);
    prepareCanvas(img);
    preparePins(img.naturalWidth, img.naturalHeight);
  }
  resetOutcome();
  showWorkspace();
  updateRunButton();
  if (pinning()) schedulePreview(0);
}

function setReference(file) {
  state.reference = file;
  $("reference-text").textContent = file.name;
  const prev = $("reference-preview");
  if (prev.src.startsWith("blob:")) URL.revokeObjectURL(prev.src);
  prev.src = URL.createObjectURL(file);
  prev.hidden = false;
  setPalette(file);  // the reference is also where the eyedropper picks colours
  resetOutcome();
  updateRunButton();
}

function setMask(file) {
  state.mask = file;
  $("mask-text").textContent = file.name;
  resetOutcome();
}

// Show the picture as large as the panel allows (small images are scaled up), at most 70% of the window height.
function fitView(w, h) {
  const width = `min(100%, ${(70 * w / Math.max(1, h)).toFixed(3)}vh)`;
  for (const id of ["scribble-canvas", "compare-inner", "preview-img", "pins-box"]) $(id).style.width = width;
}

// ---------------------------------------------------------------- scribble canvas
// The canvas holds the gray input at full size; strokes are kept as polylines and rendered on top.
// What is sent is a copy of the gray image with the strokes in their exact colours (no blended edges).
function prepareCanvas(img) {
  const canvas = $("scribble-canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {  // Rec. 601 luma, as tinct.color.rgb2gray
    const y = Math.round(0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]);
    px[i] = px[i + 1] = px[i + 2] = y;
    px[i + 3] = 255;
  }
  state.grayData = data;
  redraw();
}

function strokeWidth() {
  const canvas = $("scribble-canvas");
  const scale = canvas.width / Math.max(1, canvas.getBoundingClientRect().width);
  return Number($("brush").value) * scale;
}

// One brush stroke (a dot when it has one point) in the context's current colour.
function drawStroke(ctx, s) {
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = s.width;
  ctx.beginPath();
  ctx.moveTo(s.points[0][0], s.points[0][1]);
  if (s.points.length === 1) {
    ctx.arc(s.points[0][0], s.points[0][1], s.width / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    for (const [x, y] of s.points.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

function drawStrokes(ctx) {
  for (const s of state.strokes) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    drawStroke(ctx, s);
  }
}

function redraw() {
  if (!state.grayData) return;
  const ctx = $("scribble-canvas").getContext("2d");
  ctx.putImageData(state.grayData, 0, 0);
  drawStrokes(ctx);
}

function canvasPoint(e) {
  const canvas = $("scribble-canvas");
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
}

function bindCanvas() {
  const canvas = $("scribble-canvas");
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.grayData) return;
    canvas.setPointerCapture(e.pointerId);
    state.drawing = { color: $("color").value, width: strokeWidth(), points: [canvasPoint(e)] };
    state.strokes.push(state.drawing);
    redraw();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!state.drawing) return;
    state.drawing.points.push(canvasPoint(e));
    redraw();
  });
  const end = () => { state.drawing = null; updateRunButton(); };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  $("color").addEventListener("input", () => { $("compare").hidden = true; showWorkspace(); });
  $("undo").addEventListener("click", () => { state.strokes.pop(); redraw(); updateRunButton(); });
  $("clear").addEventListener("click", () => { state.strokes = []; redraw(); updateRunButton(); });
}

function scribbleBlob() {
  // Render the strokes alone, then put each stroke pixel (alpha >= 1/2) in its exact colour over the gray copy.
  const w = state.grayData.width, h = state.grayData.height;
  const layer = document.createElement("canvas");
  layer.width = w; layer.height = h;
  const lctx = layer.getContext("2d", { willReadFrequently: true });
  drawStrokes(lctx);
  const strokes = lctx.getImageData(0, 0, w, h).data;
  const out = new ImageData(new Uint8ClampedArray(state.grayData.data), w, h);
  const px = out.data;
  // Canvas pixels are stored premultiplied, so edge pixels come back a unit off: snap to the stroke colours used.
  const palette = [...new Set(state.strokes.map((s) => s.color))].map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
  for (let i = 0; i < px.length; i += 4) {
    if (strokes[i + 3] < 128) continue;
    let best = palette[0], bestD = Infinity;
    for (const c of palette) {
      const d = Math.abs(c[0] - strokes[i]) + Math.abs(c[1] - strokes[i + 1]) + Math.abs(c[2] - strokes[i + 2]);
      if (d < bestD) { bestD = d; best = c; }
    }
    px[i] = best[0]; px[i + 1] = best[1]; px[i + 2] = best[2];
  }
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  c.getContext("2d").putImageData(out, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

// The view shows one of: nothing yet, the chosen picture, the scribble canvas, or the before/after result.
function showWorkspace() {
  const m = currentMethod();
  const hasImage = Boolean(state.image);
  const comparing = !$("compare").hidden;
  const scribbling = Boolean(m && m.inputs.scribbles !== "none" && hasImage);
  const pins = pinning() && !scribbling;
  $("scribble-wrap").hidden = !scribbling || comparing;
  $("pins-wrap").hidden = !pins || comparing;
  $("preview").hidden = !hasImage || scribbling || pins || comparing;
  $("empty").hidden = hasImage;
  $("edit").hidden = !(scribbling || pins);
  if (!hasImage) {
    for (const id of ["scribble-wrap", "pins-wrap", "compare", "preview"]) $(id).hidden = true;
  }
  if (pins && !comparing) drawPins();
}

// ---------------------------------------------------------------- running a job
async function run() {
  const m = currentMethod();
  const form = new FormData();
  form.append("image", state.image, state.image.name);
  form.append("method", m.name);
  form.append("params", JSON.stringify(collectParams()));
  if ($("post").value) form.append("post", $("post").value);
  if (m.inputs.reference !== "none" && state.reference) form.append("reference", state.reference, state.reference.name);
  if (m.inputs.mask && state.mask) form.append("mask", state.mask, state.mask.name);
  if (m.inputs.scribbles !== "none" && state.strokes.length) form.append("scribbles", await scribbleBlob(), "scribbles.png");
  if (pinMethod(m)) await appendGuidance(form, m);
  $("compare").hidden = true;
  showWorkspace();
  setProgress(0);
  setStatus("uploading...");
  state.polling = "starting";
  updateRunButton();
  try {
    const job = await (await api("/api/jobs", { method: "POST", body: form })).json();
    state.jobId = job.id;
    history.replaceState(null, "", `#job=${job.id}`);  // a reload reopens this job, pins and regions included
    $("cancel").hidden = false;
    $("cancel").disabled = false;
    const end = await follow(job.id);
    if (end.state === "done") {
      await showResult(end);
    } else if (end.state === "cancelled") {
      setProgress(0);
      setStatus("cancelled");
    } else {
      throw new Error(`job failed: ${end.error}`);
    }
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    state.polling = null;
    state.jobId = null;
    $("cancel").hidden = true;
    updateRunButton();
  }
}

async function cancel() {
  if (!state.jobId) return;
  $("cancel").disabled = true;
  setStatus("cancelling...");
  try {
    await api(`/api/jobs/${state.jobId}/cancel`, { method: "POST" });
  } catch (err) {
    setStatus(err.message, true);
  }
}

function onStatus(job) {
  setProgress(job.progress);
  if (!FINAL.includes(job.state)) setStatus(job.state === "queued" ? "waiting in the queue..." : `${job.stage}...`);
}

// Follow a job to its end: progress pushed by the server (Server-Sent Events, read through fetch so that the
// Authorization header goes with it), or polling where the stream is not available or breaks off.
async function follow(id) {
  try {
    const end = await followEvents(id);
    if (end) return end;
  } catch (e) { /* fall back to polling */ }
  return poll(id);
}

async function followEvents(id) {
  if (!window.ReadableStream || !window.TextDecoder) return null;
  const res = await fetch(`/api/jobs/${id}/events`, { headers: headers() });
  if (!res.ok || !res.body) return null;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!data || !block.includes("event: status")) continue;
      const job = JSON.parse(data);
      onStatus(job);
      if (FINAL.includes(job.state)) {
        reader.cancel().catch(() => {});
        return job;
      }
    }
  }
}

async function poll(id) {
  for (;;) {
    const job = await (await api(`/api/jobs/${id}`)).json();
    onStatus(job);
    if (FINAL.includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function showResult(job) {
  const blob = await (await api(job.result_url)).blob();
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  $("before-img").src = state.imageUrl;
  const after = $("result-img");
  after.src = state.resultUrl;
  await after.decode().catch(() => {});
  after.dataset.jobId = job.id;
  const link = $("download");
  link.href = state.resultUrl;
  link.download = `${(state.image.name || "image").replace(/\.[^.]+$/, "")}.${job.method}.png`;
  const t = job.timings || {};
  $("timings").textContent = `${job.width} x ${job.height} px, method ${(t.method_s || 0).toFixed(2)} s, total ${(t.total_s || 0).toFixed(2)} s`;
  $("compare").hidden = false;
  $("scribble-wrap").hidden = true;
  $("pins-wrap").hidden = true;
  $("preview").hidden = true;
  $("empty").hidden = true;
  setProgress(1);
  setStatus("done");
}

function bindCompare() {
  const slider = $("slider");
  const update = () => {
    const v = Number(slider.value);
    $("result-img").style.clipPath = `inset(0 ${100 - v}% 0 0)`;
    $("divider").style.left = `${v}%`;
  };
  slider.addEventListener("input", update);
  update();
}

// ---------------------------------------------------------------- colour pins, regions and the live preview
// Pins and region strokes live in pixels of the image; the overlay canvas has the image's size and is scaled
// by CSS like the picture under it. The picture is the latest low-resolution preview from /api/preview.
const HIT_PX = 11;  // how near (in screen pixels) a press must be to grab a pin

function resetPins() {
  state.pins = []; state.regions = []; state.selected = null; state.currentRegion = null; state.history = [];
  state.drag = null; state.painting = null;
  $("swatches").innerHTML = "";
  renderRegionList();
  updatePinButtons();
}

function preparePins(w, h) {
  const canvas = $("pins-canvas");
  canvas.width = w;
  canvas.height = h;
  drawPins();
}

function screenScale() {
  const canvas = $("pins-canvas");
  return canvas.width / Math.max(1, canvas.getBoundingClientRect().width);
}

function pinPoint(e) {
  const canvas = $("pins-canvas");
  const r = canvas.getBoundingClientRect();
  const x = (e.clientX - r.left) * canvas.width / r.width;
  const y = (e.clientY - r.top) * canvas.height / r.height;
  return [Math.min(canvas.width - 1, Math.max(0, x)), Math.min(canvas.height - 1, Math.max(0, y))];
}

// A reopened region's mask in a colour, made once per mask and colour (pins are redrawn on every pointer move).
function tintedMask(maskId, colour) {
  const key = `${maskId}|${colour}`;
  if (!tintedMasks.has(key)) {
    const mask = maskCanvases.get(maskId);
    const c = document.createElement("canvas");
    c.width = mask.width; c.height = mask.height;
    const ctx = c.getContext("2d");
    ctx.drawImage(mask, 0, 0);
    ctx.globalCompositeOperation = "source-in";  // the mask's shape in the region's colour
    ctx.fillStyle = colour;
    ctx.fillRect(0, 0, c.width, c.height);
    tintedMasks.set(key, c);
  }
  return tintedMasks.get(key);
}

function drawRegion(ctx, region, colour) {
  if (region.maskId != null && maskCanvases.has(region.maskId)) ctx.drawImage(tintedMask(region.maskId, colour), 0, 0);
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  for (const s of region.strokes) drawStroke(ctx, s);
}

function drawPins() {
  const canvas = $("pins-canvas");
  if (!canvas.width) return;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.globalAlpha = 0.4;
  for (const region of state.regions) drawRegion(ctx, region, region.color);
  ctx.globalAlpha = 1;
  const k = screenScale();
  state.pins.forEach((p, i) => {
    const r = (i === state.selected ? 8 : 6) * k;
    ctx.beginPath();
    ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
    ctx.fillStyle = p.color;
    ctx.fill();
    ctx.lineWidth = 2 * k;
    ctx.strokeStyle = "#ffffff";
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(p.x, p.y, r + 1.5 * k, 0, 2 * Math.PI);
    ctx.lineWidth = (i === state.selected ? 2 : 1) * k;
    ctx.strokeStyle = "#000000";
    ctx.stroke();
  });
  canvas.dataset.pins = String(state.pins.length);
  canvas.dataset.regions = String(state.regions.length);
}

function snapshot() {
  return JSON.stringify({ pins: state.pins,
                          regions: state.regions.map((r) => ({ color: r.color, strokes: r.strokes, maskId: r.maskId })) });
}

function remember() {
  state.history.push(snapshot());
  if (state.history.length > 200) state.history.shift();
  state.colourEdit = false;
  updatePinButtons();
}

function undoPins() {
  const last = state.history.pop();
  if (!last) return;
  const s = JSON.parse(last);
  state.pins = s.pins;
  state.regions = s.regions;
  state.selected = null;
  state.currentRegion = state.regions.length ? state.regions.length - 1 : null;
  state.colourEdit = false;
  $("swatches").innerHTML = "";
  renderRegionList();
  pinsChanged();
}

function pinsChanged() {
  drawPins();
  updatePinButtons();
  resetOutcome();
  schedulePreview();
}

function updatePinButtons() {
  $("pin-delete").disabled = state.selected === null;
  $("pin-undo").disabled = state.history.length === 0;
  $("pin-clear").disabled = state.pins.length === 0 && state.regions.length === 0;
}

function hitPin(x, y) {
  const reach = HIT_PX * screenScale();
  let best = null, bestD = reach * reach;
  state.pins.forEach((p, i) => {
    const d = (p.x - x) ** 2 + (p.y - y) ** 2;
    if (d <= bestD) { best = i; bestD = d; }
  });
  return best;
}

function tool() {
  return $("tool-region").checked ? "region" : "pin";
}

function selectPin(i) {
  state.selected = i;
  state.colourEdit = false;
  if (i !== null) {
    $("pin-color").value = state.pins[i].color;
    suggestFor(i);
  }
  drawPins();
  updatePinButtons();
}

function deleteSelected() {
  if (state.selected === null) return;
  remember();
  state.pins.splice(state.selected, 1);
  state.selected = null;
  $("swatches").innerHTML = "";
  pinsChanged();
}

// A colour chosen (picker, swatch, eyedropper) goes to the selected pin, or in brush mode to the current region.
function applyColour(colour) {
  $("pin-color").value = colour;
  let target = null;
  if (tool() === "pin" && state.selected !== null) target = state.pins[state.selected];
  else if (tool() === "region" && state.currentRegion !== null) target = state.regions[state.currentRegion];
  if (!target || target.color === colour) return;
  if (!state.colourEdit) { remember(); state.colourEdit = true; }  // one undo step per colour-picking session
  target.color = colour;
  if (tool() === "region") renderRegionList();
  pinsChanged();
}

function renderRegionList() {
  const list = $("region-list");
  list.innerHTML = "";
  state.regions.forEach((r, i) => {
    const li = document.createElement("li");
    li.className = i === state.currentRegion ? "current" : "";
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = r.color;
    const name = document.createElement("span");
    name.textContent = `Region ${i + 1} ${r.color}`;
    const pick = document.createElement("button");
    pick.type = "button";
    pick.textContent = "Select";
    pick.addEventListener("click", () => {
      state.currentRegion = i;
      $("tool-region").checked = true;
      $("pin-color").value = r.color;
      state.colourEdit = false;
      renderRegionList();
    });
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Delete";
    del.addEventListener("click", () => {
      remember();
      state.regions.splice(i, 1);
      state.currentRegion = state.regions.length ? state.regions.length - 1 : null;
      renderRegionList();
      pinsChanged();
    });
    li.append(chip, name, pick, del);
    list.appendChild(li);
  });
}

function bindPins() {
  const canvas = $("pins-canvas");
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.image || e.button !== 0) return;
    canvas.setPointerCapture(e.pointerId);
    canvas.focus();
    const [x, y] = pinPoint(e);
    if (tool() === "region") {
      remember();
      if (state.currentRegion === null) {
        state.regions.push({ color: $("pin-color").value, strokes: [] });
        state.currentRegion = state.regions.length - 1;
        renderRegionList();
      }
      state.painting = { width: Number($("region-brush").value) * screenScale(), points: [[x, y]] };
      state.regions[state.currentRegion].strokes.push(state.painting);
      drawPins();
      return;
    }
    const hit = hitPin(x, y);
    if (hit !== null) {
      state.drag = { index: hit, before: snapshot(), moved: false };
      selectPin(hit);
      return;
    }
    remember();
    state.pins.push({ x, y, color: $("pin-color").value });
    selectPin(state.pins.length - 1);
    pinsChanged();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (state.painting) {
      state.painting.points.push(pinPoint(e));
      drawPins();
    } else if (state.drag) {
      const [x, y] = pinPoint(e);
      const p = state.pins[state.drag.index];
      if (!state.drag.moved && Math.hypot(p.x - x, p.y - y) < 2 * screenScale()) return;
      state.drag.moved = true;
      p.x = x; p.y = y;
      drawPins();
    }
  });
  const end = () => {
    if (state.painting) {
      state.painting = null;
      pinsChanged();
    } else if (state.drag) {
      const { index, before, moved } = state.drag;
      state.drag = null;
      if (moved) {
        state.history.push(before);
        pinsChanged();
        suggestFor(index);
      }
    }
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("keydown", (e) => {
    if (e.key === "Delete" || e.key === "Backspace") { e.preventDefault(); deleteSelected(); }
    if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undoPins(); }
  });
  $("pin-color").addEventListener("input", (e) => applyColour(e.target.value));
  $("pin-delete").addEventListener("click", deleteSelected);
  $("pin-undo").addEventListener("click", undoPins);
  $("pin-clear").addEventListener("click", () => {
    remember();
    state.pins = []; state.regions = []; state.selected = null; state.currentRegion = null;
    $("swatches").innerHTML = "";
    renderRegionList();
    pinsChanged();
  });
  $("region-new").addEventListener("click", () => {
    $("tool-region").checked = true;
    state.currentRegion = null;  // the next stroke starts a region of the colour then chosen
    renderRegionList();
  });
  for (const id of ["tool-pin", "tool-region"]) $(id).addEventListener("change", () => { state.colourEdit = false; });
  $("edit").addEventListener("click", () => {
    $("compare").hidden = true;
    showWorkspace();
    $("view").scrollIntoView({ block: "start" });
  });
  window.addEventListener("resize", drawPins);
  bindDrop(null, "palette-input", setPalette);
  $("palette-canvas").addEventListener("click", (e) => {
    const c = $("palette-canvas");
    const r = c.getBoundingClientRect();
    const x = Math.floor((e.clientX - r.left) * c.width / r.width);
    const y = Math.floor((e.clientY - r.top) * c.height / r.height);
    const px = c.getContext("2d", { willReadFrequently: true }).getImageData(x, y, 1, 1).data;
    c.dataset.pickedAt = `${x},${y}`;
    applyColour(`#${[px[0], px[1], px[2]].map((v) => v.toString(16).padStart(2, "0")).join("")}`);
  });
}

// The eyedropper's photo: a reference image loaded for another method, or one chosen here.
async function setPalette(file) {
  const img = new Image();
  const url = URL.createObjectURL(file);
  img.src = url;
  try { await img.decode(); } catch (e) { URL.revokeObjectURL(url); return; }
  const c = $("palette-canvas");
  const scale = Math.min(1, 600 / Math.max(img.naturalWidth, img.naturalHeight));
  c.width = Math.max(1, Math.round(img.naturalWidth * scale));
  c.height = Math.max(1, Math.round(img.naturalHeight * scale));
  c.getContext("2d", { willReadFrequently: true }).drawImage(img, 0, 0, c.width, c.height);
  URL.revokeObjectURL(url);
  c.hidden = false;
  state.palette = file;
  $("palette-text").textContent = `Eyedropper: click ${file.name} below to pick a colour`;
}

function hintsJson() {
  // a pin sits on a pixel: its centre, as tinct reads x = column, y = row
  return JSON.stringify(state.pins.map((p) => ({ x: Math.round(p.x * 10) / 10, y: Math.round(p.y * 10) / 10,
                                                  color: p.color })));
}

function regionMaskBlob(region) {
  const canvas = $("pins-canvas");
  const c = document.createElement("canvas");
  c.width = canvas.width; c.height = canvas.height;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#000000";
  ctx.fillRect(0, 0, c.width, c.height);
  drawRegion(ctx, region, "#ffffff");
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

async function appendGuidance(form, m) {
  if (state.pins.length) form.append("hints", hintsJson());
  const regions = declares(m, "regions") ? state.regions.filter((r) => r.strokes.length || r.maskId != null) : [];
  if (!regions.length) return;
  form.append("regions", JSON.stringify(regions.map((r, i) => ({ mask: i, color: r.color }))));
  for (const [i, r] of regions.entries()) form.append("region_mask", await regionMaskBlob(r), `region-${i}.png`);
}

// The live preview: debounced, one request at a time; a change made meanwhile sends one more when it ends.
function schedulePreview(delay = 250) {
  if (!pinning()) return;
  clearTimeout(state.preview.timer);
  state.preview.timer = setTimeout(requestPreview, delay);
}

async function requestPreview() {
  const m = currentMethod();
  if (!pinning()) return;
  if (state.preview.busy) { state.preview.again = true; return; }
  state.preview.busy = true;
  state.preview.again = false;
  const image = state.image;
  const pins = state.pins.length;
  $("pins-canvas").classList.add("busy");
  const t0 = performance.now();
  try {
    const form = new FormData();
    form.append("image", image, image.name);
    form.append("method", m.name);
    form.append("params", JSON.stringify(collectParams()));
    await appendGuidance(form, m);
    const res = await api("/api/preview", { method: "POST", body: form });
    const blob = await res.blob();
    if (image !== state.image || m !== currentMethod()) return;  // the picture or method changed meanwhile
    if (state.preview.url) URL.revokeObjectURL(state.preview.url);
    state.preview.url = URL.createObjectURL(blob);
    const img = $("pins-img");
    img.src = state.preview.url;
    await img.decode().catch(() => {});
    state.preview.seq += 1;
    img.dataset.previewSeq = String(state.preview.seq);
    img.dataset.previewPins = String(pins);
    $("preview-status").classList.remove("error");
    $("preview-status").textContent = `preview ${res.headers.get("X-Preview-Size") || ""} in ${Math.round(performance.now() - t0)} ms`;
  } catch (err) {
    $("preview-status").classList.add("error");
    $("preview-status").textContent = err.message.startsWith("preview:") ? err.message : `preview: ${err.message}`;
  } finally {
    state.preview.busy = false;
    $("pins-canvas").classList.remove("busy");
    if (state.preview.again) schedulePreview(0);
  }
}

// Suggested colours at a pin: the network's most likely colours there, given the other pins.
async function suggestFor(index) {
  const m = currentMethod();
  const pin = state.pins[index];
  if (!pin || !m) return;
  const seq = ++state.suggestSeq;
  const form = new FormData();
  form.append("image", state.image, state.image.name);
  form.append("method", m.name);
  form.append("x", String(Math.round(pin.x * 10) / 10));
  form.append("y", String(Math.round(pin.y * 10) / 10));
  form.append("k", "8");
  const others = state.pins.filter((p, i) => i !== index);
  if (others.length) form.append("hints", JSON.stringify(others.map((p) => ({ x: p.x, y: p.y, color: p.color }))));
  try {
    const found = await (await api("/api/suggest", { method: "POST", body: form })).json();
    if (seq !== state.suggestSeq) return;
    const box = $("swatches");
    box.innerHTML = "";
    for (const s of found) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "swatch";
      b.style.background = s.color;
      b.dataset.color = s.color;
      b.title = `${s.color} (${Math.round(s.probability * 100)}%)`;
      b.setAttribute("aria-label", b.title);
      b.addEventListener("click", () => applyColour(s.color));
      box.appendChild(b);
    }
  } catch (err) {
    if (seq === state.suggestSeq) $("swatches").textContent = `suggestions: ${err.message}`;
  }
}

// ---------------------------------------------------------------- reopening a job (#job=ID)
async function loadMask(url, id) {
  const bitmap = await createImageBitmap(await (await api(url)).blob());
  const c = document.createElement("canvas");
  c.width = bitmap.width; c.height = bitmap.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height);
  for (let i = 0; i < d.data.length; i += 4) {
    d.data[i + 3] = d.data[i];
    d.data[i] = d.data[i + 1] = d.data[i + 2] = 255;
  }
  ctx.putImageData(d, 0, 0);
  maskCanvases.set(id, c);
}

async function inputFile(job, role) {
  const blob = await (await api(`/api/jobs/${job.id}/inputs/${role}`)).blob();
  return new File([blob], role === "image" ? job.name || "image" : role, { type: blob.type });
}

async function reopen(id) {
  const job = await (await api(`/api/jobs/${id}`)).json();
  if (state.methods.some((m) => m.name === job.method)) {
    $("method").value = job.method;
    onMethodChange();
  }
  for (const [name, value] of Object.entries(job.params || {})) {
    const input = $(`param-${name}`);
    if (!input) continue;
    if (input.type === "checkbox") input.checked = Boolean(value); else input.value = value;
  }
  if ((job.inputs || []).includes("reference")) setReference(await inputFile(job, "reference"));
  if ((job.inputs || []).includes("mask")) setMask(await inputFile(job, "mask"));
  await setImage(await inputFile(job, "image"));
  state.pins = (job.hints || []).map((h) => ({ x: h.x, y: h.y, color: h.color }));
  for (const [i, r] of (job.regions || []).entries()) {
    const maskId = `${job.id}-${i}`;
    await loadMask(r.mask_url, maskId);
    state.regions.push({ color: r.color, strokes: [], maskId });
  }
  state.currentRegion = state.regions.length ? state.regions.length - 1 : null;
  renderRegionList();
  pinsChanged();
  if (job.state === "done") await showResult(job);
  else setStatus(`reopened job ${job.id} (${job.state}); Run to colorize again`);
}

// ---------------------------------------------------------------- start
window.addEventListener("DOMContentLoaded", () => {
  bindDrop("drop", "image-input", setImage);
  bindDrop(null, "reference-input", setReference);
  bindDrop(null, "mask-input", setMask);
  bindCanvas();
  bindPins();
  bindCompare();
  $("method").addEventListener("change", onMethodChange);
  $("params").addEventListener("change", () => { resetOutcome(); schedulePreview(); });
  $("post").addEventListener("change", resetOutcome);
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("token").value = sessionStorage.getItem("tinct-token") || "";
  $("token").addEventListener("change", (e) => {
    sessionStorage.setItem("tinct-token", e.target.value.trim());
    loadMethods()
      .then(() => setStatus("ready"))  // the token works: the earlier "needs an API token" no longer applies
      .catch((err) => { $("token").classList.add("bad"); setStatus(err.message, true); });
  });
  const reopening = /^#job=([A-Za-z0-9_-]+)$/.exec(location.hash);
  loadMethods()
    .then(() => setStatus("ready"))
    .then(() => (reopening ? reopen(reopening[1]) : null))
    .catch((err) => {
      if (reopening) history.replaceState(null, "", location.pathname);  // an expired job: start afresh
      setStatus(err.message, true);
    });
});
