// sdserve web UI: drives the AUTOMATIC1111 API of the replica (or gateway) that served it.
// Relative URLs and same-origin credentials, so the gateway's affinity cookie `sd`
// sends progress polls and interrupts to the replica that runs this browser's job.
"use strict";

const API = "sdapi/v1/";
const PROGRESS_POLL_MS = 300;
const NUMBER_FIELDS = ["steps", "width", "height", "cfg_scale", "seed", "batch_size"];

const $ = (id) => document.getElementById(id);
const state = { mode: "txt2img", initImage: null, running: false };

async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(API + path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new Error(errorMessage(response, data, text));
  return data;
}

// FastAPI's 422 `detail` is a list of {loc, msg}; A1111's other errors are
// {error, detail, errors}; anything else is shown as the status line and body.
function errorMessage(response, data, text) {
  const head = `${response.status} ${response.statusText}`.trim();
  if (data && Array.isArray(data.detail)) {
    const lines = data.detail.map((d) => {
      const loc = (d.loc || []).filter((part) => part !== "body").join(".");
      return loc ? `${loc}: ${d.msg}` : d.msg;
    });
    return `${head}\n${lines.join("\n")}`;
  }
  if (data && (data.detail || data.error || data.errors)) {
    const parts = [data.error, data.detail, data.errors].filter(Boolean);
    return `${head}\n${parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("\n")}`;
  }
  return text ? `${head}\n${text.slice(0, 500)}` : head;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function imageSrc(b64) {
  return b64.startsWith("data:") ? b64 : `data:image/png;base64,${b64}`;
}

async function loadSamplers() {
  try {
    const samplers = await api("samplers");
    const select = $("sampler_name");
    const current = select.value;
    select.replaceChildren(...samplers.map((s) => new Option(s.name, s.name)));
    select.value = samplers.some((s) => s.name === current) ? current : samplers[0].name;
  } catch (e) {
    showError(`Could not load the samplers: ${e.message}`);
  }
}

function payload() {
  const body = {
    prompt: $("prompt").value,
    negative_prompt: $("negative_prompt").value,
    sampler_name: $("sampler_name").value,
  };
  // An empty or unreadable number is left out: the server's default applies.
  for (const name of NUMBER_FIELDS) {
    const raw = $(name).value.trim();
    if (raw !== "") body[name] = Number(raw);
  }
  if (state.mode === "img2img") {
    body.init_images = [state.initImage];
    body.denoising_strength = Number($("denoising_strength").value);
  } else if ($("enable_hr").checked) {
    // The webui's hires fix: draw at width x height, upscale, then re-draw at the new size.
    body.enable_hr = true;
    for (const [name, field] of [["hr_scale", "hr_scale"],
      ["hr_second_pass_steps", "hr_second_pass_steps"],
      ["hr_denoising_strength", "denoising_strength"]]) {
      const raw = $(name).value.trim();
      if (raw !== "") body[field] = Number(raw);
    }
  }
  return body;
}

function setProgress(fraction, text) {
  const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  $("progress_bar").style.width = `${percent}%`;
  $("progress_bar").setAttribute("aria-valuenow", String(percent));
  $("progress_text").textContent = text;
}

async function pollProgress() {
  if (!state.running) return;
  try {
    const p = await api("progress");
    if (!state.running) return;
    const s = p.state || {};
    if (!s.job_count && !p.progress) {
      setProgress(0, "Waiting for a replica…");
    } else {
      const step = s.sampling_steps ? ` step ${s.sampling_step}/${s.sampling_steps}` : "";
      const batch = s.job_count > 1 ? ` batch ${s.job_no + 1}/${s.job_count}` : "";
      const eta = p.eta_relative > 0 ? `, ETA ${p.eta_relative.toFixed(1)} s` : "";
      setProgress(p.progress, `${Math.round(p.progress * 100)}%${batch}${step}${eta}`);
    }
    if (p.current_image) {
      $("preview").src = imageSrc(p.current_image);
      $("preview").hidden = false;
    }
  } catch {
    // A missed poll is harmless: the next one, or the result, follows.
  }
  if (state.running) setTimeout(pollProgress, PROGRESS_POLL_MS);
}

function setRunning(running) {
  state.running = running;
  $("generate").disabled = running;
  $("interrupt").disabled = !running;
  document.body.classList.toggle("running", running);
}

async function generate(event) {
  event.preventDefault();
  if (state.running) return;
  showError("");
  if (state.mode === "img2img" && !state.initImage) {
    showError("img2img: choose an input image first.");
    return;
  }
  setRunning(true);
  $("preview").hidden = true;
  setProgress(0, "Sending…");
  const started = performance.now();
  setTimeout(pollProgress, PROGRESS_POLL_MS);
  try {
    const result = await api(state.mode, { method: "POST", body: payload() });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    addToGallery(result);
    setProgress(1, `Done in ${seconds} s.`);
  } catch (e) {
    showError(e.message);
    setProgress(0, "Failed.");
  } finally {
    setRunning(false);
    $("preview").hidden = true;
  }
}

async function interrupt() {
  try {
    await api("interrupt", { method: "POST" });
    $("progress_text").textContent = "Interrupting…";
  } catch (e) {
    showError(`Interrupt failed: ${e.message}`);
  }
}

function parseInfo(info) {
  try { return typeof info === "string" ? JSON.parse(info) : info || {}; } catch { return {}; }
}

function addToGallery(result) {
  const info = parseInfo(result.info);
  const images = result.images || [];
  const cards = images.map((b64, i) => galleryCard(b64, info, i));
  $("gallery").prepend(...cards);
  $("gallery_empty").hidden = $("gallery").children.length > 0;
}

function galleryCard(b64, info, i) {
  const seed = (info.all_seeds || [])[i] ?? info.seed ?? "";
  const infotext = (info.infotexts || [])[i] ?? "";
  const card = document.createElement("figure");
  card.className = "card";
  const img = document.createElement("img");
  img.src = imageSrc(b64);
  img.alt = (info.all_prompts || [])[i] ?? info.prompt ?? "generated image";
  const caption = document.createElement("figcaption");
  const text = document.createElement("pre");
  text.className = "infotext";
  text.textContent = infotext;
  const download = document.createElement("a");
  download.className = "download";
  download.href = img.src;
  download.download = `sdserve-${seed === "" ? Date.now() : seed}.png`;
  download.textContent = "Download";
  const reuse = document.createElement("button");
  reuse.type = "button";
  reuse.textContent = "Send to img2img";
  reuse.addEventListener("click", () => { setInitImage(img.src); setMode("img2img"); });
  caption.append(text, download, reuse);
  card.append(img, caption);
  return card;
}

function setInitImage(dataUrl) {
  state.initImage = dataUrl;
  $("init_preview").src = dataUrl;
  $("init_preview").hidden = false;
}

function readInitImage() {
  const file = $("init_image").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => setInitImage(reader.result);
  reader.onerror = () => showError(`img2img: could not read ${file.name}.`);
  reader.readAsDataURL(file);
}

function setMode(mode) {
  state.mode = mode;
  for (const name of ["txt2img", "img2img"]) {
    const tab = $(`mode-${name}`);
    tab.classList.toggle("active", name === mode);
    tab.setAttribute("aria-selected", String(name === mode));
  }
  $("img2img").hidden = mode !== "img2img";
  $("hires").hidden = mode !== "txt2img";  // hires fix is a txt2img option in the webui
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", generate);
  $("interrupt").addEventListener("click", interrupt);
  $("seed_random").addEventListener("click", () => { $("seed").value = "-1"; });
  $("mode-txt2img").addEventListener("click", () => setMode("txt2img"));
  $("mode-img2img").addEventListener("click", () => setMode("img2img"));
  $("init_image").addEventListener("change", readInitImage);
  $("denoising_strength").addEventListener("input", (e) => {
    $("denoising_value").textContent = Number(e.target.value).toFixed(2);
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("form").requestSubmit();
  });
  loadSamplers();
});
