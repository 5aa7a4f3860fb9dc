// The composer: Enter sends, Shift-Enter is a new line, Esc (or Stop) stops the reply.
// The text and the attachments leave it only when the service accepts the turn; the text
// comes back if the turn fails.

import { clearAttachments, encodedAttachments, initAttachments, pendingCount, pendingSummary } from "./attachments.js";
import { on, showError, state } from "./state.js";
import { runTurn, stopTurn } from "./turns.js";

const $ = (id) => document.getElementById(id);

export function initComposer() {
  const prompt = $("prompt");
  initAttachments();
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("stop").addEventListener("click", stopTurn);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.streaming) {
      event.preventDefault();
      stopTurn();
    }
  });
  on("streaming", (running) => {
    $("stop").hidden = !running;
    $("send").disabled = running;
  });
}

async function send() {
  const prompt = $("prompt");
  const text = prompt.value;
  if (state.streaming) return;
  if (!text.trim()) {
    if (pendingCount()) showError("Write a message to send with the attachments.");
    return;
  }
  let attachments = [];
  try {
    attachments = await encodedAttachments();
  } catch (err) {
    showError(err.message);
    return;
  }
  await runTurn("send", {
    text,
    attachments,
    shown: pendingSummary(),
    onStarted: () => {
      if (prompt.value === text) prompt.value = "";
      clearAttachments();
    },
    onFailed: () => {
      if (!prompt.value) prompt.value = text;
    },
  });
  prompt.focus();
}
