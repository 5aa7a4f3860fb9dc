// The composer: Enter sends, Shift-Enter is a new line, Esc (or Stop) stops the reply.
// The text leaves the box only when the service accepts the turn, and comes back if the
// turn fails.

import { on, state } from "./state.js";
import { runTurn, stopTurn } from "./turns.js";

const $ = (id) => document.getElementById(id);

export function initComposer() {
  const prompt = $("prompt");
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
  if (!text.trim() || state.streaming) return;
  await runTurn("send", {
    text,
    onStarted: () => {
      if (prompt.value === text) prompt.value = "";
    },
    onFailed: () => {
      if (!prompt.value) prompt.value = text;
    },
  });
  prompt.focus();
}
