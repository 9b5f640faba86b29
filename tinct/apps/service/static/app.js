// tinct browser UI: plain JavaScript, no dependencies. Everything follows /api/methods.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  methods: [], image: null, imageUrl: null, imageSize: null, reference: null, mask: null,
  strokes: [], drawing: null, grayData: null, resultUrl: null, polling: null, jobId: null,
};
const FINAL = ["done", "failed", "cancelled"];

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
  resetOutcome();
  showWorkspace();
  updateRunButton();
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
  if (img.naturalWidth > 0) {
    fitView(img.naturalWidth, img.naturalHeight);
    prepareCanvas(img);
  }
  resetOutcome();
  showWorkspace();
  updateRunButton();
}

function setReference(file) {
  state.reference = file;
  $("reference-text").textContent = file.name;
  const prev = $("reference-preview");
  if (prev.src.startsWith("blob:")) URL.revokeObjectURL(prev.src);
  prev.src = URL.createObjectURL(file);
  prev.hidden = false;
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
  for (const id of ["scribble-canvas", "compare-inner", "preview-img"]) $(id).style.width = width;
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

function drawStrokes(ctx) {
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of state.strokes) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
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
  $("scribble-wrap").hidden = !scribbling || comparing;
  $("preview").hidden = !hasImage || scribbling || comparing;
  $("empty").hidden = hasImage;
  if (!hasImage) { $("scribble-wrap").hidden = true; $("compare").hidden = true; $("preview").hidden = true; }
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
  $("compare").hidden = true;
  showWorkspace();
  setProgress(0);
  setStatus("uploading...");
  state.polling = "starting";
  updateRunButton();
  try {
    const job = await (await api("/api/jobs", { method: "POST", body: form })).json();
    state.jobId = job.id;
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

// ---------------------------------------------------------------- start
window.addEventListener("DOMContentLoaded", () => {
  bindDrop("drop", "image-input", setImage);
  bindDrop(null, "reference-input", setReference);
  bindDrop(null, "mask-input", setMask);
  bindCanvas();
  bindCompare();
  $("method").addEventListener("change", onMethodChange);
  $("params").addEventListener("change", resetOutcome);
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
  loadMethods().then(() => setStatus("ready")).catch((err) => setStatus(err.message, true));
});
