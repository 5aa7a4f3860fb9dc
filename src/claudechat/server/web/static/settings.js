// The settings panel of the open conversation: model, system prompt, context strategy,
// budget and recall (PATCH /v1/conversations/{id}); the next turn uses them.

import { patch } from "./api.js";
import { el } from "./dom.js";
import { emit, on, state } from "./state.js";
import { ensureConversation } from "./conversation.js";

const $ = (id) => document.getElementById(id);

export function initSettings() {
  $("settings").addEventListener("click", () => toggle($("settings-panel").hidden));
  $("settings-close").addEventListener("click", () => toggle(false));
  $("settings-save").addEventListener("click", save);
  $("settings-panel").addEventListener("keydown", (event) => {
    if (event.key === "Escape") toggle(false);
  });
  on("conversation-opened", () => {
    if (!$("settings-panel").hidden) fill();
  });
}

function toggle(open) {
  $("settings-panel").hidden = !open;
  $("settings").setAttribute("aria-expanded", String(open));
  $("settings-status").textContent = "";
  if (open) {
    fill();
    $("set-model").focus();
  }
}

function fill() {
  const conv = state.current;
  const defaults = state.info.defaults || {};
  const settings = (conv && conv.settings) || {};
  const model = (conv && conv.model) || defaults.model || "";
  const select = $("set-model");
  const names = state.models.map((m) => m.id);
  if (model && !names.includes(model)) names.unshift(model);
  select.replaceChildren(...names.map((name) => {
    const info = state.models.find((m) => m.id === name);
    return el("option", { value: name, text: info ? `${info.display_name} (${name})` : name });
  }));
  select.value = model;
  $("set-system").value = (conv && conv.system) || "";
  $("set-strategy").value = settings.strategy || defaults.strategy || "window";
  const budget = settings.budget ?? null;
  $("set-budget").value = budget === null ? "" : String(budget);
  $("set-budget").placeholder = defaults.budget ? `server default: ${defaults.budget}` : "server default";
  $("set-recall").checked = Boolean(settings.recall ?? defaults.recall ?? true);
}

async function save() {
  const status = $("settings-status");
  const raw = $("set-budget").value.trim();
  const body = {
    model: $("set-model").value || null,
    system: $("set-system").value,
    strategy: $("set-strategy").value,
    budget: raw === "" ? null : Number(raw),
    recall: $("set-recall").checked,
  };
  if (!body.model) delete body.model;
  try {
    const id = await ensureConversation("");
    state.current = await patch(`/v1/conversations/${id}`, body);
    status.textContent = "Saved: the next turn uses these settings.";
    emit("conversation-changed", state.current);
  } catch (err) {
    status.textContent = err.message;
  }
}
