// filmcolor serve: live queue (Server-Sent Events), uploads, retry/cancel, before/after.
// Plain JavaScript, no build step, nothing loaded from the network. Every POST sends the
// X-Filmcolor header the server requires against cross-site requests.
"use strict";

const HEADERS = { "X-Filmcolor": "1" };

function pct(p) { return Math.round((p || 0) * 100) + "%"; }
function eta(s) {
  if (s === null || s === undefined) return "";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
function text(el, value) { if (el) el.textContent = value; }

// -- the queue -------------------------------------------------------------------------

function renderRow(job) {
  const body = document.querySelector("#queue tbody");
  if (!body) return;
  const empty = body.querySelector("tr.empty");
  if (empty) empty.remove();
  let row = document.getElementById("job-" + job.id);
  if (!row) {
    row = document.createElement("tr");
    row.id = "job-" + job.id;
    row.dataset.id = job.id;
    const cells = ["id", "input", "state", "progress", "fps", "eta", "error"];
    for (const c of cells) { const td = document.createElement("td"); td.className = c; row.appendChild(td); }
    row.children[0].textContent = job.id;
    const a = document.createElement("a");
    a.href = "/jobs/" + job.id;
    row.children[1].appendChild(a);
    const bar = document.createElement("progress");
    bar.max = 1;
    row.children[3].append(bar, " ", document.createElement("span"));
    // newest first
    const newer = [...body.children].find((r) => Number(r.dataset.id) < job.id);
    body.insertBefore(row, newer || null);
  }
  row.className = "state-" + job.state;
  text(row.querySelector("a"), job.input);
  text(row.children[2], job.state);
  row.querySelector("progress").value = job.progress || 0;
  text(row.querySelector("td.progress span"), pct(job.progress));
  text(row.children[4], job.fps ? job.fps.toFixed(1) : "");
  text(row.children[5], eta(job.eta_seconds));
  text(row.children[6], job.error || "");
}

function renderDetail(job) {
  const card = document.getElementById("job");
  if (!card || Number(card.dataset.id) !== job.id) return;
  const state = document.getElementById("state");
  const was = state.textContent;
  text(state, job.state);
  state.className = "state-" + job.state;
  document.getElementById("progress").value = job.progress || 0;
  text(document.getElementById("progress-text"), pct(job.progress));
  text(document.getElementById("fps"), job.fps ? job.fps.toFixed(1) + " fps" : "");
  text(document.getElementById("eta"), job.eta_seconds !== null ? "ETA " + eta(job.eta_seconds) : "");
  text(document.getElementById("error"), job.error || "");
  document.getElementById("retry").hidden = !["failed", "cancelled"].includes(job.state);
  document.getElementById("cancel").hidden = !["queued", "running"].includes(job.state);
  if (was !== job.state && ["done", "failed", "cancelled"].includes(job.state)) {
    refreshLog(job.id);
  }
}

async function refreshLog(id) {
  const res = await fetch("/api/jobs/" + id);
  if (!res.ok) return;
  const job = await res.json();
  text(document.getElementById("log"), job.log.map((e) => e.line).join("\n"));
}

function listen() {
  if (!window.EventSource) return;
  const source = new EventSource("/api/events");
  source.addEventListener("jobs", (e) => {
    for (const job of JSON.parse(e.data).jobs.reverse()) { renderRow(job); renderDetail(job); }
  });
  source.addEventListener("job", (e) => { const job = JSON.parse(e.data); renderRow(job); renderDetail(job); });
}

// -- uploads ---------------------------------------------------------------------------

function upload(file, choice) {
  const list = document.getElementById("uploads");
  const item = document.createElement("li");
  const bar = document.createElement("progress");
  bar.max = 1;
  const label = document.createElement("span");
  label.textContent = " " + file.name + " ";
  const status = document.createElement("span");
  status.className = "upload-status";
  item.append(bar, label, status);
  list.appendChild(item);
  const form = new FormData();
  if (choice.startsWith("look:")) form.append("look", choice.slice(5));
  if (choice.startsWith("preset:")) form.append("preset", choice.slice(7));
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/jobs");
  xhr.setRequestHeader("X-Filmcolor", "1");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (err) { body = { error: xhr.statusText }; }
    if (xhr.status === 201) {
      bar.value = 1;
      status.textContent = "queued as #" + body.id;
      item.dataset.job = body.id;
      renderRow(body);
    } else {
      status.textContent = "refused: " + (body.error || xhr.status);
      status.classList.add("error");
    }
  };
  xhr.onerror = () => { status.textContent = "upload failed (connection)"; };
  xhr.send(form);
}

function setupUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file");
  const drop = document.getElementById("drop");
  const choice = () => document.getElementById("choice").value;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const f of input.files) upload(f, choice());
    form.reset();
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    for (const f of e.dataTransfer.files) upload(f, choice());
  });
}

// -- one job: actions and before/after -------------------------------------------------

function setupJob() {
  const card = document.getElementById("job");
  if (!card) return;
  const id = card.dataset.id;
  for (const button of card.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      const res = await fetch(`/api/jobs/${id}/${button.dataset.action}`, { method: "POST", headers: HEADERS });
      const body = await res.json();
      text(document.getElementById("action-result"), res.ok ? "" : body.error);
      if (res.ok) renderDetail(body);
    });
  }
  const split = document.getElementById("split");
  const clip = document.getElementById("after-clip");
  if (split && clip) {
    const apply = () => { clip.style.clipPath = `inset(0 0 0 ${split.value}%)`; };
    split.addEventListener("input", apply);
    apply();
  }
  const time = document.getElementById("time");
  if (time) {
    const show = () => {
      const t = Number(time.value).toFixed(3);
      text(document.getElementById("time-text"), Number(time.value).toFixed(2) + " s");
      document.getElementById("before").src = `/api/jobs/${id}/preview.png?column=source&t=${t}`;
      document.getElementById("after").src = `/api/jobs/${id}/preview.png?column=colorized&t=${t}`;
    };
    time.addEventListener("change", show);
    show();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupUpload();
  setupJob();
  listen();
});
