// Upload each chosen or dropped file to POST jobs, then poll the job until it is finished.
"use strict";

const FIRST_POLL_MS = 300;
const MAX_POLL_MS = 2000;

const input = document.getElementById("files");
const dropzone = document.getElementById("dropzone");
const list = document.getElementById("jobs");

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
    response = await fetch("jobs", { method: "POST", body: form });
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
  if (job.status === "failed") {
    show(card, "failed", `failed: ${job.message} (${job.code})`);
    return;
  }
  show(card, job.status, job.message || job.status);
  await new Promise((resolve) => setTimeout(resolve, delay));
  let response;
  try {
    response = await fetch(`jobs/${encodeURIComponent(job.id)}`);
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

function finish(job, card) {
  const url = `jobs/${encodeURIComponent(job.id)}/thumbnail`;
  const link = card.querySelector(".preview");
  link.href = url;
  link.download = "";
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
  return `${response.status} ${reason || response.statusText || "error"}`;
}
