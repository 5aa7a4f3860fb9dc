// Attachments of the next message: images (PNG, JPEG, GIF, WebP) and PDFs, added with the
// Attach button, dropped onto the conversation or pasted into the message box. Each shows
// as a chip (name, size, an image's thumbnail) with a button that removes it; they go with
// the message as base64 and stay until the service accepts the turn. A file of another type
// or over the API's size is refused here, with a message, and nothing else changes; the
// service checks each file again.

import { el } from "./dom.js";
import { showError } from "./state.js";

const $ = (id) => document.getElementById(id);
const IMAGE_MAX_BYTES = (5 * 1024 * 1024 / 4) * 3; // 5 MB of base64 text, as the API counts
const PDF_MAX_BYTES = (31 * 1024 * 1024 / 4) * 3; // a request's 32 MB, less room for the rest
const MAX_FILES = 20;

const pending = []; // { file, name, mediaType, url, chip }

export function initAttachments() {
  const input = $("attach-file");
  $("attach").addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    await addFiles(files);
  });
  $("prompt").addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return; // text is pasted as usual
    event.preventDefault();
    addFiles(files);
  });
  const chat = $("chat");
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  chat.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    chat.classList.add("dropping");
  });
  chat.addEventListener("dragleave", (event) => {
    if (!chat.contains(event.relatedTarget)) chat.classList.remove("dropping");
  });
  chat.addEventListener("drop", (event) => {
    chat.classList.remove("dropping");
    const files = [...(event.dataTransfer?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    addFiles(files);
  });
}

/** The attachments waiting for the next message. */
export function pendingCount() {
  return pending.length;
}

/** The names and sizes of the attachments waiting (for the message shown while it streams). */
export function pendingSummary() {
  return pending.map((p) => ({ name: p.name, media_type: p.mediaType, bytes: p.file.size }));
}

/** The waiting attachments as the service takes them: [{name, data (base64)}]. */
export async function encodedAttachments() {
  return Promise.all(pending.map(async (p) => ({ name: p.name, data: await base64Of(p.file) })));
}

/** Forget the waiting attachments (the service accepted the message carrying them). */
export function clearAttachments() {
  for (const p of pending.splice(0)) if (p.url) URL.revokeObjectURL(p.url);
  render();
}

/** A size as people read it: 812 B, 14.2 KB, 3.1 MB. */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The short name of a media type: PNG, JPEG, GIF, WebP, PDF. */
export function typeName(mediaType) {
  const names = { "image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP", "application/pdf": "PDF" };
  return names[mediaType] || mediaType;
}

async function addFiles(files) {
  const refused = [];
  for (const file of files) {
    const problem = await problemOf(file);
    if (problem) refused.push(problem);
    else pending.push({ file, name: file.name || "pasted image", mediaType: await sniff(file), url: null });
  }
  render();
  showError(refused.length ? refused.join(" ") : null);
}

async function problemOf(file) {
  const name = file.name || "the pasted file";
  const mediaType = await sniff(file);
  if (!mediaType) return `${name} was not attached: it is not a PNG, JPEG, GIF or WebP image nor a PDF.`;
  const most = mediaType === "application/pdf" ? PDF_MAX_BYTES : IMAGE_MAX_BYTES;
  if (file.size > most) return `${name} was not attached: it is ${formatSize(file.size)}, over the ${formatSize(most)} the API takes.`;
  if (pending.length >= MAX_FILES) return `${name} was not attached: a message carries at most ${MAX_FILES} attachments.`;
  return null;
}

/** The media type a file starts like (its first bytes, never its name), or null. */
async function sniff(file) {
  const head = new Uint8Array(await file.slice(0, 1024).arrayBuffer());
  const starts = (...bytes) => bytes.every((b, i) => head[i] === b);
  const ascii = (from, to) => String.fromCharCode(...head.slice(from, to));
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  if (ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a") return "image/gif";
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
  if (new TextDecoder("latin1").decode(head).replace(/^[\0\t\n\r ]+/, "").startsWith("%PDF-")) return "application/pdf";
  return null;
}

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error(`${file.name} could not be read`));
    reader.readAsDataURL(file);
  });
}

function render() {
  const list = $("attachments");
  list.replaceChildren(...pending.map(chipOf));
  list.hidden = pending.length === 0;
}

function chipOf(p) {
  if (p.mediaType.startsWith("image/") && !p.url) p.url = URL.createObjectURL(p.file);
  const thumb = p.url ? el("img", { class: "chip-thumb", src: p.url, alt: "" }) : el("span", { class: "chip-icon", "aria-hidden": "true", text: typeName(p.mediaType) });
  const remove = el("button", { type: "button", class: "chip-remove", "aria-label": `Remove ${p.name}`, text: "×" });
  remove.addEventListener("click", () => {
    const at = pending.indexOf(p);
    if (at >= 0) pending.splice(at, 1);
    if (p.url) URL.revokeObjectURL(p.url);
    render();
    $("prompt").focus();
  });
  return el("li", { class: "attachment-chip", "data-media-type": p.mediaType },
    thumb, el("span", { class: "chip-name", text: p.name }), el("span", { class: "chip-size", text: formatSize(p.file.size) }), remove);
}
