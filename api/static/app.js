// Upload each chosen or dropped file to POST jobs, then poll the job until it is finished.
// Every request carries the API key typed above (kept in this browser's localStorage), except
// the thumbnails themselves: they are shown by their signed URLs.
// Below the new uploads, the caller's earlier jobs (GET jobs), a page at a time.
"use strict";

const FIRST_POLL_MS = 300;
const MAX_POLL_MS = 2000;
const HISTORY_PAGE = 20;

const input = document.getElementById("files");
const dropzone = document.getElementById("dropzone");
const list = document.getElementById("jobs");
const keyInput = document.getElementById("key");
const moreButton = document.getElementById("more");
const KEY_STORAGE = "thumbnails.key";
const shown = new Set(); // job ids with a card already
let nextCursor = null;

keyInput.value = localStorage.getItem(KEY_STORAGE) || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem(KEY_STORAGE, keyInput.value.trim());
  loadHistory(true);
});
moreButton.addEventListener("click", () => loadHistory(false));
if (keyInput.value) {
  loadHistory(true);
}

// History needs a job database on the server: without one (501), or without a key (401), the
// page simply shows no earlier jobs.
async function loadHistory(fromTheStart) {
  if (fromTheStart) {
    for (const old of list.querySelectorAll("li.job[data-history]")) {
      shown.delete(old.dataset.job);
      old.remove();
    }
    nextCursor = null;
  }
  const cursor = nextCursor ? `&cursor=${encodeURIComponent(nextCursor)}` : "";
  let response;
  try {
    response = await fetch(`jobs?limit=${HISTORY_PAGE}${cursor}`, authorized());
  } catch (error) {
    return;
  }
  const body = await readJson(response);
  if (!response.ok || !body) {
    moreButton.hidden = true;
    return;
  }
  for (const job of body.jobs) {
    if (shown.has(job.id)) {
      continue;
    }
    const card = addCard(`${new Date(job.start).toLocaleString()} · job ${job.id.slice(0, 8)}`, false);
    card.dataset.history = "";
    card.dataset.job = job.id;
    shown.add(job.id);
    if (job.expired) {
      show(card, "expired", `${job.status}, expired: its files were removed`);
    } else {
      follow(job, card, FIRST_POLL_MS);
    }
  }
  nextCursor = body.next;
  moreButton.hidden = !nextCursor;
}

function authorized(options = {}) {
  const key = keyInput.value.trim();
  return key ? { ...options, headers: { ...options.headers, Authorization: `Bearer ${key}` } } : options;
}

input.addEventListener("change", () => {
  uploadAll(input.files);
  input.value = "";
});
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("over");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  uploadAll(event.dataTransfer.files);
});

function uploadAll(files) {
  for (const file of files) {
    const card = addCard(file.name, true);
    card.dataset.filename = file.name;
    upload(file, card);
  }
}

function addCard(name, atTheTop) {
  const card = document.createElement("li");
  card.className = "job";
  const title = document.createElement("span");
  title.className = "name";
  title.textContent = name;
  const message = document.createElement("span");
  message.className = "message";
  const preview = document.createElement("a");
  preview.className = "preview";
  card.append(preview, title, message);
  if (atTheTop) {
    list.prepend(card);
    show(card, "uploading", "uploading…");
  } else {
    list.append(card);
  }
  return card;
}

function show(card, status, text) {
  card.dataset.status = status;
  card.querySelector(".message").textContent = text;
}

async function upload(file, card) {
  const form = new FormData();
  form.append("image", file, file.name);
  let response;
  try {
    response = await fetch("jobs", authorized({ method: "POST", body: form }));
  } catch (error) {
    show(card, "error", "could not reach the service: " + error.message);
    return;
  }
  const body = await readJson(response);
  if (!response.ok) {
    show(card, "error", errorText(response, body));
    return;
  }
  card.dataset.job = body.id;
  shown.add(body.id);
  follow(body, card, FIRST_POLL_MS);
}

async function follow(job, card, delay) {
  if (job.status === "complete") {
    finish(job, card);
    return;
  }
  if (job.status === "failed" || job.status === "cancelled") {
    show(card, "failed", `${job.status}: ${job.message} (${job.code})`);
    return;
  }
  show(card, job.status, job.message || job.status);
  await new Promise((resolve) => setTimeout(resolve, delay));
  let response;
  try {
    response = await fetch(`jobs/${encodeURIComponent(job.id)}`, authorized());
  } catch (error) {
    show(card, job.status, "connection lost; retrying…");
    follow(job, card, MAX_POLL_MS);
    return;
  }
  const body = await readJson(response);
  if (!response.ok) {
    show(card, "error", errorText(response, body));
    return;
  }
  follow(body, card, Math.min(delay * 1.5, MAX_POLL_MS));
}

// A complete job's outputs carry signed URLs that need no key: the thumbnail is an ordinary
// <img src>, cached by the browser (ETag, immutable). Only without one (expired) is it fetched
// with the key and shown from a blob URL.
async function finish(job, card) {
  const signed = job.outputs && job.outputs[0] && job.outputs[0].signed_url;
  // An S3 pre-signed URL (SIGNED_URLS=s3) is on another origin: shown as it is (a browser names
  // a download from another origin itself, so its type is not asked for).
  const elsewhere = signed && new URL(signed, location.href).origin !== location.origin;
  let url = signed, type = "image/jpeg";
  if (!elsewhere) {
    try {
      const response = await fetch(signed || `jobs/${encodeURIComponent(job.id)}/thumbnail`,
        signed ? { method: "HEAD" } : authorized());
      if (!response.ok) {
        show(card, "error", errorText(response, await readJson(response)));
        return;
      }
      type = response.headers.get("Content-Type") || type;
      url = signed || URL.createObjectURL(await response.blob());
    } catch (error) {
      show(card, "error", "could not download the thumbnail: " + error.message);
      return;
    }
  }
  const link = card.querySelector(".preview");
  link.href = url;
  // Named after the uploaded file when this page uploaded it (photo.jpg -> photo.thumbnail.png).
  const extension = type.split("/")[1].replace("jpeg", "jpg");
  const stem = card.dataset.filename ? card.dataset.filename.replace(/\.[^.]*$/, "") : job.id;
  link.download = `${stem}.thumbnail.${extension}`;
  link.title = "download the thumbnail";
  const image = document.createElement("img");
  image.className = "thumbnail";
  image.alt = "thumbnail of " + card.querySelector(".name").textContent;
  image.src = url;
  link.replaceChildren(image);
  show(card, "complete", "done — click the thumbnail to download it");
}

async function readJson(response) {
  try {
    return await response.json();
  } catch (error) {
    return null;
  }
}

function errorText(response, body) {
  const reason = body && (body.message || body.error);
  const hint = response.status === 401 ? " — enter your API key above" : "";
  return `${response.status} ${reason || response.statusText || "error"}${hint}`;
}
