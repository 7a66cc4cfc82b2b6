// Upload each chosen or dropped file to POST jobs, then poll the job until it is finished.
// Every request carries the API key typed above (kept in this browser's localStorage).
"use strict";

const FIRST_POLL_MS = 300;
const MAX_POLL_MS = 2000;

const input = document.getElementById("files");
const dropzone = document.getElementById("dropzone");
const list = document.getElementById("jobs");
const keyInput = document.getElementById("key");
const KEY_STORAGE = "thumbnails.key";

keyInput.value = localStorage.getItem(KEY_STORAGE) || "";
keyInput.addEventListener("change", () => localStorage.setItem(KEY_STORAGE, keyInput.value.trim()));

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
    upload(file, addCard(file.name));
  }
}

function addCard(name) {
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
  list.prepend(card);
  show(card, "uploading", "uploading…");
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

// The thumbnail needs the key too, so it is fetched and shown from a blob URL.
async function finish(job, card) {
  let response;
  try {
    response = await fetch(`jobs/${encodeURIComponent(job.id)}/thumbnail`, authorized());
  } catch (error) {
    show(card, "error", "could not download the thumbnail: " + error.message);
    return;
  }
  if (!response.ok) {
    show(card, "error", errorText(response, await readJson(response)));
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const link = card.querySelector(".preview");
  link.href = url;
  link.download = `${job.id}.${response.headers.get("Content-Type") === "image/png" ? "png" : "jpg"}`;
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
