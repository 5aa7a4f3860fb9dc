// Export (JSON: every branch, lossless; Markdown: the active branch) and import (a JSON
// export) of conversations.

import { errorOf, get, requestInit } from "./api.js";
import { openConversation } from "./conversation.js";
import { el } from "./dom.js";
import { confirmDialog } from "./sidebar.js";
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

/** Import the chosen file. One of the user's conversations already (imported before, or
 * their own export): asked whether to import another copy; else that one opens. */
async function importFile(event) {
  const input = event.target;
  const file = input.files && input.files[0];
  if (!file) return;
  showError(null);
  try {
    const text = await file.text();
    let response = await fetch("/v1/conversations/import", requestInit("POST", text));
    if (response.status === 409) {
      const err = await errorOf(response);
      if (err.type !== "already_imported") throw err;
      const there = await get(`/v1/conversations/${JSON.parse(text).conversation.id}`);
      const copy = await confirmDialog(`“${there.title || "Untitled"}” is here already. Import another copy of it?`, "Import a copy");
      if (!copy) {
        await openConversation(there.id);
        return;
      }
      response = await fetch("/v1/conversations/import?again=true", requestInit("POST", text));
    }
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
