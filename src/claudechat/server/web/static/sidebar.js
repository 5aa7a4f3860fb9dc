// The sidebar: conversations newest first (open, rename, delete with a confirmation),
// a new chat, and full-text search whose results jump to the message.

import { del, get, patch, withQuery } from "./api.js";
import { openConversation, showTitle, startNewChat } from "./conversation.js";
import { el } from "./dom.js";
import { on, showError, state, tagOf } from "./state.js";

const $ = (id) => document.getElementById(id);

export function initSidebar() {
  $("new-chat").addEventListener("click", () => {
    startNewChat();
    closeMenu();
    $("prompt").focus();
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("search").value.trim());
  });
  $("search").addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      $("search").value = "";
      $("search-results").replaceChildren();
    }
  });
  $("menu").addEventListener("click", () => {
    const open = !document.body.classList.contains("menu-open");
    document.body.classList.toggle("menu-open", open);
    $("menu").setAttribute("aria-expanded", String(open));
  });
  $("chat").addEventListener("click", closeMenu);
  $("sidebar").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("menu-open")) {
      closeMenu();
      $("menu").focus();
    }
  });
  on("conversation-opened", renderList);
  on("conversation-changed", refreshList);
  on("signed-out", () => {
    $("conversations").replaceChildren();
    $("search-results").replaceChildren();
    $("search").value = "";
  });
}

function closeMenu() {
  document.body.classList.remove("menu-open");
  $("menu").setAttribute("aria-expanded", "false");
}

const MAX_LIST = 500; // the most the service lists at once (search finds the others)
let listLimit = 200; // conversations shown; "Show more" adds some
let listHasMore = false;

/** Fetch the conversation list again and show it. */
export async function refreshList() {
  try {
    const page = await get(withQuery("/v1/conversations", { limit: listLimit }));
    state.conversations = page.data;
    listHasMore = page.has_more;
  } catch (err) {
    showError(err.message);
    return;
  }
  renderList();
}

function titleOf(conv) {
  return conv.title || "Untitled";
}

let renaming = false; // the list is not redrawn under a rename in progress

/** Show state.conversations; the open one has aria-current="page". */
export function renderList() {
  if (renaming) return;
  const list = $("conversations");
  const items = state.conversations.map((conv) => item(conv));
  if (listHasMore && listLimit < MAX_LIST) {
    const more = el("button", { type: "button", class: "more", text: "Show more" });
    more.addEventListener("click", () => {
      listLimit = Math.min(MAX_LIST, listLimit + 150);
      refreshList();
    });
    items.push(el("li", { class: "more-item" }, more));
  }
  list.replaceChildren(...items);
}

function item(conv) {
  const active = state.current && state.current.id === conv.id;
  const open = el("button", { type: "button", class: "open", text: titleOf(conv), title: titleOf(conv) });
  open.addEventListener("click", async () => {
    closeMenu();
    await openConversation(conv.id);
  });
  const rename = el("button", { type: "button", class: "rename", "aria-label": `Rename ${titleOf(conv)}`, title: "Rename", text: "✎" });
  const remove = el("button", { type: "button", class: "delete", "aria-label": `Delete ${titleOf(conv)}`, title: "Delete", text: "✕" });
  const li = el("li", { class: "conversation", "data-id": conv.id, "aria-current": active ? "page" : false },
    open, el("span", { class: "item-menu" }, rename, remove));
  rename.addEventListener("click", () => startRename(li, conv));
  remove.addEventListener("click", () => confirmDelete(conv));
  return li;
}

function startRename(li, conv) {
  const input = el("input", { class: "rename-input", "aria-label": "New title", value: conv.title || "" });
  const open = li.querySelector("button.open");
  open.hidden = true;
  li.insertBefore(input, open);
  input.focus();
  input.select();
  renaming = true;
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    renaming = false;
    const title = input.value.trim();
    if (save && title && title !== conv.title) {
      try {
        await patch(`/v1/conversations/${conv.id}`, { title });
        if (state.current && state.current.id === conv.id) {
          state.current.title = title;
          showTitle(title);
        }
      } catch (err) {
        showError(err.message, tagOf(err, conv.id));
      }
    }
    await refreshList();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      finish(false);
    }
  });
  input.addEventListener("blur", () => finish(false));
}

/** Ask in the page's own dialog; resolves true for yes. */
export function confirmDialog(text, yesLabel = "Delete") {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.querySelector(".confirm-yes").textContent = yesLabel;
  return new Promise((resolve) => {
    const close = (answer) => {
      dialog.querySelector(".confirm-yes").removeEventListener("click", yes);
      dialog.querySelector(".confirm-no").removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      dialog.close();
      resolve(answer);
    };
    const yes = () => close(true);
    const no = (event) => {
      if (event) event.preventDefault();
      close(false);
    };
    dialog.querySelector(".confirm-yes").addEventListener("click", yes);
    dialog.querySelector(".confirm-no").addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    dialog.querySelector(".confirm-no").focus();
  });
}

async function confirmDelete(conv) {
  const yes = await confirmDialog(`Delete “${titleOf(conv)}” and every message in it?`);
  if (!yes) return;
  try {
    await del(`/v1/conversations/${conv.id}`);
  } catch (err) {
    showError(err.message, tagOf(err, conv.id));
    return;
  }
  const wasOpen = state.current && state.current.id === conv.id;
  await refreshList();
  if (wasOpen) {
    const next = state.conversations[0];
    if (next) await openConversation(next.id);
    else startNewChat();
  }
}

async function search(query) {
  const box = $("search-results");
  if (!query) {
    box.replaceChildren();
    return;
  }
  let hits;
  try {
    hits = (await get(withQuery("/v1/search", { q: query, limit: 20 }))).data;
  } catch (err) {
    showError(err.message);
    return;
  }
  if (!hits.length) {
    box.replaceChildren(el("p", { class: "no-results", text: `Nothing matches “${query}”.` }));
    return;
  }
  const titles = new Map(state.conversations.map((c) => [c.id, titleOf(c)]));
  box.replaceChildren(...hits.map((hit) => {
    const button = el("button", { type: "button", class: "search-result", "data-conversation-id": hit.conversation_id, "data-hit": hit.message_id },
      el("span", { class: "result-title", text: titles.get(hit.conversation_id) || "Untitled" }),
      snippet(hit.snippet));
    button.addEventListener("click", async () => {
      closeMenu();
      await openConversation(hit.conversation_id, { highlight: hit.message_id });
    });
    return button;
  }));
}

/** A search snippet with its matches («…») marked. */
function snippet(text) {
  const span = el("span", { class: "result-snippet" });
  text.split(/[«»]/).forEach((part, i) => span.append(i % 2 ? el("mark", { text: part }) : part));
  return span;
}
