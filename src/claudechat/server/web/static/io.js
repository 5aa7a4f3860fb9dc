// Export (JSON: every branch, lossless; Markdown: the active branch) and import (a JSON
// export) of conversations.

import { errorOf, requestInit } from "./api.js";
import { openConversation } from "./conversation.js";
import { el } from "./dom.js";
import { emit, showError, state } from "./state.js";

const $ = (id) => document.getElementById(id);

export function initExportImport() {
  $("export-json").addEventListener("click", () => download("json"));
  $("export-markdown").addEventListener("click", () => download("markdown"));
  $("import-file").addEventListener("change", importFile);
}

function slug(text) {
  return (text || "conversation").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) || "conversation";
}

function download(format) {
  const conv = state.current;
  if (!conv) {
    showError("Nothing to export yet: this chat has no messages.");
    return;
  }
  const link = el("a", {
    href: `/v1/conversations/${conv.id}/export?format=${format}`,
    download: `${slug(conv.title)}.${format === "json" ? "json" : "md"}`,
    hidden: true,
  });
  document.body.append(link);
  link.click();
  link.remove();
}

async function importFile(event) {
  const input = event.target;
  const file = input.files && input.files[0];
  if (!file) return;
  showError(null);
  try {
    const text = await file.text();
    const response = await fetch("/v1/conversations/import", requestInit("POST", text));
    if (!response.ok) throw await errorOf(response);
    const conv = await response.json();
    emit("conversation-changed", conv);
    await openConversation(conv.id);
  } catch (err) {
    showError(`Import failed: ${err.message}`);
  } finally {
    input.value = "";
  }
}
