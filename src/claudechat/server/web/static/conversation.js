// The open conversation: its messages (the last page first, older ones loaded on scroll
// up), each with its actions (retry, edit, fork, details) and branch navigator, and the
// streaming reply while a turn runs (a turn still running when the conversation is opened
// is followed again).

import { get, patch, post, withQuery } from "./api.js";
import { formatSize, typeName } from "./attachments.js";
import { el, number, setServerHtml, usd } from "./dom.js";
import { emit, on, showError, state } from "./state.js";
import { detachTurn, reattach, runTurn } from "./turns.js";

const $ = (id) => document.getElementById(id);
const FIRST_PAGE = 30; // more than a screen holds; older messages load on scroll up
const PAGE = 50;
const JUMP_PAGE = 200; // pages read while looking for a search hit

// atEnd: the last message shown is the head (false while a search hit's page is shown)
const view = { id: null, messages: [], hasMore: false, atEnd: true, loading: null };

export function initConversation() {
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 300) loadOlder();
  });
  on("signed-out", () => startNewChat());
}

/** The messages shown now (oldest first). */
export function shownMessages() {
  return view.messages;
}

/** The conversation's title in the header and the window's title. */
export function showTitle(title) {
  const text = title || "Untitled";
  $("conv-title").textContent = text;
  document.title = `${text} · claudechat`;
}

let openings = 0; // conversations shown (or new chats started) since the page loaded

/** How many conversations the page has shown so far (or new chats started). */
export function openingCount() {
  return openings;
}

/** Show an empty new chat (stored on its first message). */
export function startNewChat() {
  openings += 1;
  detachTurn();
  showError(null);
  state.current = null;
  Object.assign(view, { id: null, messages: [], hasMore: false, atEnd: true });
  showTitle("New chat");
  history.replaceState(null, "", location.pathname);
  renderMessages();
  emit("conversation-opened", null);
}

/** Open a conversation: its last page of messages; `highlight` a message id to jump to. */
export async function openConversation(id, { highlight = null } = {}) {
  const opening = ++openings;
  detachTurn(); // a turn shown now goes on in the service; it is followed again when back
  showError(null);
  const listed = state.conversations.find((c) => c.id === id);
  let conv;
  try {
    conv = listed || (await get(`/v1/conversations/${id}`));
  } catch (err) {
    showError(err.message);
    return;
  }
  if (opening !== openings) return; // another was opened meanwhile
  state.current = conv;
  showTitle(state.current.title);
  history.replaceState(null, "", `#c=${encodeURIComponent(id)}`);
  view.id = id;
  await loadLast(FIRST_PAGE, { attach: true });
  if (opening !== openings) return;
  emit("conversation-opened", state.current);
  if (highlight) await jumpTo(highlight);
}

/** Show the last `limit` messages. `attach`: when the last one is unfinished (a reply the
 * service keeps as partial while it streams, or a user message with no reply yet), follow
 * the conversation's turn if one runs or ran just now; else it shows as stored. A partial
 * reply with no turn running was stopped: it shows as stored, not replayed. */
async function loadLast(limit, { attach = false } = {}) {
  const id = view.id;
  const page = await get(withQuery(`/v1/conversations/${id}/messages`, { limit }));
  if (view.id !== id) return;
  const last = page.data[page.data.length - 1];
  const follow = attach && last && unfinished(last) && (page.turn_running || last.role === "user");
  const running = follow ? await reattach(id) : null;
  if (view.id !== id) {
    running?.cancel();
    return;
  }
  view.messages = page.data;
  view.hasMore = page.has_more;
  view.atEnd = true;
  renderMessages();
  running?.show(last.role === "assistant" ? last.id : null); // in place of the stored partial
  scrollToEnd();
  fillScreen();
}

/** True for a reply stored as partial or a user message with none after it. */
function unfinished(msg) {
  return msg.role === "user" || msg.status === "partial";
}

/** Load older pages while the messages do not fill the screen (no scroll bar to pull). */
async function fillScreen() {
  const box = $("messages");
  while (view.hasMore && box.scrollHeight <= box.clientHeight + 300) {
    if (!(await loadOlder())) break;
  }
}

/** Read the open conversation again (after a turn, a branch switch); `follow`: follow its
 * turn if one runs (see loadLast). */
export async function reloadConversation({ follow = false } = {}) {
  if (!view.id) return;
  try {
    const [conv] = await Promise.all([
      get(`/v1/conversations/${view.id}`),
      loadLast(Math.min(1000, Math.max(FIRST_PAGE, view.messages.length + 2)), { attach: follow }),
    ]);
    state.current = conv;
    showTitle(conv.title);
  } catch (err) {
    showError(err.message);
  }
  emit("conversation-changed", state.current);
}

/** Load the page before the first message shown; true when it did (or one in flight did). */
async function loadOlder(size = PAGE) {
  if (view.loading) {
    await view.loading;
    return true;
  }
  if (!view.hasMore || !view.messages.length) return false;
  view.loading = fetchOlder(size);
  try {
    return await view.loading;
  } finally {
    view.loading = null;
  }
}

async function fetchOlder(size) {
  const box = $("messages");
  try {
    const id = view.id;
    const before = view.messages[0].id;
    const page = await get(withQuery(`/v1/conversations/${id}/messages`, { limit: size, before }));
    if (view.id !== id) return false;
    const height = box.scrollHeight;
    const following = view.messages[0];
    view.messages = [...page.data, ...view.messages];
    view.hasMore = page.has_more;
    box.prepend(...page.data.map((msg, i) => messageNode(msg, page.data[i + 1] || following)));
    box.scrollTop += box.scrollHeight - height; // keep what was on screen in place
    return true;
  } catch (err) {
    showError(err.message);
    return false;
  }
}

/** Show a message (a search hit) highlighted: in the pages shown, or in the page that ends
 * at it (switching to its branch when it is on another one). */
async function jumpTo(messageId) {
  const selector = `#messages [data-message-id="${CSS.escape(messageId)}"]`;
  let node = document.querySelector(selector);
  if (!node) {
    try {
      node = await showPageUntil(messageId);
    } catch (err) {
      showError(err.message);
      return;
    }
  }
  if (!node) return;
  for (const old of document.querySelectorAll("#messages .highlight")) old.classList.remove("highlight");
  node.classList.add("highlight");
  node.scrollIntoView({ block: "center" });
}

async function showPageUntil(messageId) {
  const id = view.id;
  const path = `/v1/conversations/${id}/messages`;
  let page;
  try {
    page = await get(withQuery(path, { limit: FIRST_PAGE, until: messageId }));
  } catch (err) {
    if (err.status !== 404 || state.streaming) throw err;
    // on another branch: make the newest branch through it the active one
    await post(`/v1/conversations/${id}/checkout`, { message_id: messageId, newest_leaf: true });
    await reloadConversation();
    const node = document.querySelector(`#messages [data-message-id="${CSS.escape(messageId)}"]`);
    if (node) return node;
    page = await get(withQuery(path, { limit: FIRST_PAGE, until: messageId }));
  }
  if (view.id !== id) return null;
  detachTurn(); // the end of the conversation leaves the screen; "Show the latest" follows it again
  view.messages = page.data;
  view.hasMore = page.has_more;
  view.atEnd = !state.current || messageId === state.current.head_id;
  renderMessages();
  if (!view.atEnd) {
    // the newer messages are not shown: a way back to them
    const latest = el("button", { type: "button", class: "latest", text: "Show the latest messages ↓" });
    latest.addEventListener("click", () => loadLast(FIRST_PAGE, { attach: true }));
    $("messages").append(latest);
  }
  return document.querySelector(`#messages [data-message-id="${CSS.escape(messageId)}"]`);
}

/** Scroll the messages to the newest. */
export function scrollToEnd() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

/** Show view.messages. */
export function renderMessages() {
  const box = $("messages");
  if (!view.messages.length) {
    box.replaceChildren(el("p", { id: "empty-note", text: "Start a conversation below." }));
    return;
  }
  const after = (i) => (i + 1 < view.messages.length ? view.messages[i + 1] : view.atEnd ? null : undefined);
  box.replaceChildren(...view.messages.map((msg, i) => messageNode(msg, after(i))));
}

// ------------------------------------------------------------------ one message

function blocksOf(msg) {
  return typeof msg.content === "string" ? [{ type: "text", text: msg.content }] : msg.content || [];
}

function collapsed(kind, summary, text) {
  return el("details", { class: kind }, el("summary", { text: summary }), el("pre", { class: "block-text", text }));
}

function sideBlocks(msg) {
  const nodes = [];
  for (const block of blocksOf(msg)) {
    if (block.type === "thinking") nodes.push(collapsed("thinking", "Thinking", block.thinking || ""));
    else if (block.type === "redacted_thinking") nodes.push(collapsed("thinking", "Thinking (redacted)", ""));
    else if (block.type === "tool_use" || block.type === "server_tool_use") {
      nodes.push(collapsed("tool", `Tool call: ${block.name}`, JSON.stringify(block.input, null, 2)));
    } else if (block.type === "tool_result" || block.type.endsWith("_tool_result")) {
      const content = typeof block.content === "string" ? block.content : JSON.stringify(block.content, null, 2);
      nodes.push(collapsed("tool", block.is_error ? "Tool result (error)" : "Tool result", content));
    }
  }
  return nodes;
}

function isToolResults(msg) {
  const blocks = blocksOf(msg);
  return msg.role === "user" && blocks.length > 0 && blocks.every((b) => b.type === "tool_result");
}

function detailsPanel(msg) {
  const u = msg.usage || {};
  const write = u.cache_write_5m_tokens === undefined ? null : (u.cache_write_5m_tokens || 0) + (u.cache_write_1h_tokens || 0);
  const rows = [
    ["input_tokens", "Tokens in", number(u.input_tokens)],
    ["output_tokens", "Tokens out", number(u.output_tokens)],
    ["cache_read", "Cache read", number(u.cache_read_tokens)],
    ["cache_write", "Cache write", number(write)],
    ["cost_usd", "Cost", usd(msg.cost_usd)],
    ["model", "Model", msg.model || "–"],
    ["stop_reason", "Stop reason", msg.stop_reason || "–"],
  ];
  const list = el("dl");
  for (const [field, label, value] of rows) {
    list.append(el("dt", { text: label }), el("dd", { "data-field": field, text: value }));
  }
  if (msg.cost_usd !== null && msg.cost_usd !== undefined) list.querySelector("[data-field=cost_usd]").dataset.usd = String(msg.cost_usd);
  return el("div", { class: "details", hidden: true }, list);
}

function branchNav(msg) {
  const s = msg.siblings;
  if (!s || s.count < 2) return null;
  const prev = el("button", { type: "button", class: "prev", "aria-label": "Previous branch", text: "‹", disabled: s.index === 0 });
  const next = el("button", { type: "button", class: "next", "aria-label": "Next branch", text: "›", disabled: s.index === s.count - 1 });
  prev.addEventListener("click", () => switchBranch(s.ids[s.index - 1]));
  next.addEventListener("click", () => switchBranch(s.ids[s.index + 1]));
  return el("span", { class: "branch-nav", role: "group", "aria-label": "Branches" },
    prev, el("span", { class: "branch-pos", text: `${s.index + 1}/${s.count}` }), next);
}

async function switchBranch(messageId) {
  if (state.streaming || !messageId) return;
  showError(null);
  try {
    await post(`/v1/conversations/${view.id}/checkout`, { message_id: messageId, newest_leaf: true });
  } catch (err) {
    showError(err.message);
    return;
  }
  await reloadConversation();
}

function action(name, label, handler) {
  const button = el("button", { type: "button", class: name, text: label });
  button.addEventListener("click", handler);
  return button;
}

/** The attachments of a user message: name, type and size each; an image's thumbnail and a
 * PDF's download link from the service (for a stored message: `messageId`). */
export function attachmentList(attachments, messageId = null) {
  const items = attachments.map((a, i) => {
    const url = messageId && view.id
      ? `/v1/conversations/${encodeURIComponent(view.id)}/messages/${encodeURIComponent(messageId)}/attachments/${a.index ?? i}`
      : null;
    const image = a.media_type.startsWith("image/");
    const meta = el("span", { class: "attachment-meta", text: `${typeName(a.media_type)} · ${formatSize(a.bytes)}` });
    const name = url && !image
      ? el("a", { class: "attachment-name", href: url, download: a.name, text: a.name })
      : el("span", { class: "attachment-name", text: a.name });
    const thumb = url && image ? el("img", { class: "attachment-thumb", src: url, alt: a.name, loading: "lazy" }) : null;
    return el("li", { class: "attachment", "data-media-type": a.media_type }, thumb, name, meta);
  });
  return el("ul", { class: "attachments", "aria-label": "Attachments" }, ...items);
}

/** A user message's note about its reply: none came (`next` null: it is the head), or the
 * next message went with it (the API takes user and assistant messages in turn, so the
 * two were sent as one); null when it has a reply of its own or `next` is not known. */
function replyNote(msg, next) {
  if (msg.role !== "user" || isToolResults(msg)) return null;
  if (next === null) {
    return el("span", { class: "no-reply", title: "The turn was stopped (or failed) before any reply: Retry asks again; a new message is sent together with this one", text: "no reply — stopped" });
  }
  if (next && next.role === "user" && !isToolResults(next)) return sentWithNextNote();
  return null;
}

/** The note of a user message that had no reply, sent again with the next one. */
export function sentWithNextNote() {
  return el("span", { class: "sent-with-next", title: "It had no reply: the model read it and the next message as one message", text: "sent with the next message" });
}

/** The node of one stored message; `next`: the message after it on the branch (null: none,
 * undefined: not known), for a user message's note about its reply. */
export function messageNode(msg, next = undefined) {
  const partial = msg.status === "partial";
  const toolTurn = isToolResults(msg);
  const note = replyNote(msg, next);
  const unanswered = note !== null && next === null;
  const node = el("article", {
    class: `message${partial ? " partial" : ""}${toolTurn ? " tool-turn" : ""}${unanswered ? " unanswered" : ""}${note && !unanswered ? " sent-together" : ""}`,
    "data-message-id": msg.id,
    "data-role": msg.role,
  });
  const who = msg.role === "user" ? (toolTurn ? "Tool results" : "You") : "Claude";
  node.append(el("header", { class: "message-head" }, el("span", { class: "who", text: who }), branchNav(msg)));
  if (msg.attachments && msg.attachments.length) node.append(attachmentList(msg.attachments, msg.id));
  node.append(...sideBlocks(msg));
  const content = el("div", { class: "content" });
  setServerHtml(content, msg.html || "");
  node.append(content);
  if (partial) node.append(el("span", { class: "partial-mark", title: "The reply was stopped before its end; what arrived is kept", text: "stopped" }));
  if (note) node.append(note);
  const actions = el("div", { class: "actions" });
  if (msg.role === "assistant" || unanswered) actions.append(action("retry", "Retry", () => retry(msg)));
  if (msg.role === "user" && !toolTurn) actions.append(action("edit", "Edit", () => startEdit(node, msg)));
  actions.append(action("fork", "Fork", () => fork(msg)));
  const details = detailsPanel(msg);
  const toggle = action("details", "Details", () => {
    details.hidden = !details.hidden;
    toggle.setAttribute("aria-expanded", String(!details.hidden));
  });
  toggle.setAttribute("aria-expanded", "false");
  actions.append(toggle);
  node.append(actions, details);
  return node;
}

// ------------------------------------------------------------------ actions

/** A new reply in place of `msg` (a reply: its sibling), or to `msg` (a user message that
 * has none). The service retries the head's turn: the head goes to `msg` first, wherever
 * it is (a reply shown by a search may be far from the head). */
async function retry(msg) {
  const id = view.id;
  await runTurn("retry", {
    from: msg.role === "assistant" ? msg.id : null,
    prepare: () => post(`/v1/conversations/${id}/checkout`, { message_id: msg.id }),
  });
}

function startEdit(node, msg) {
  if (state.streaming || node.querySelector(".edit-input")) return;
  const input = el("textarea", { class: "edit-input", "aria-label": "Edited message", rows: 3 });
  input.value = msg.text;
  const save = el("button", { type: "button", class: "edit-save", text: "Save and send" });
  const cancel = el("button", { type: "button", class: "edit-cancel", text: "Cancel" });
  const box = el("div", { class: "edit-box" }, input, el("div", { class: "edit-buttons" }, save, cancel));
  node.querySelector(".content").after(box);
  input.focus();
  cancel.addEventListener("click", () => box.remove());
  const submit = async () => {
    const text = input.value;
    if (!text.trim()) return;
    const started = await runTurn("edit", { from: msg.id, text });
    if (!started) return; // the box stays with the text
    box.remove();
  };
  save.addEventListener("click", submit);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape") {
      box.remove();
    }
  });
}

async function fork(msg) {
  if (state.streaming) return;
  showError(null);
  try {
    const conv = await post(`/v1/conversations/${view.id}/fork`, { message_id: msg.id });
    await openConversation(conv.id);
    emit("conversation-changed", conv);
  } catch (err) {
    showError(err.message);
  }
}

/** Make the new chat a stored conversation, titled by its first message `firstText` ("":
 * untitled, as Settings saved on a new chat makes it; its first message titles it then). */
export async function ensureConversation(firstText) {
  const title = firstText.replace(/\s+/g, " ").trim().slice(0, 60) || null;
  if (state.current) {
    if (title && !state.current.title && !state.current.messages && !view.messages.length) {
      state.current = await patch(`/v1/conversations/${state.current.id}`, { title });
      showTitle(state.current.title);
    }
    return state.current.id;
  }
  const conv = await post("/v1/conversations", { title });
  state.current = conv;
  view.id = conv.id;
  view.messages = [];
  view.hasMore = false;
  view.atEnd = true;
  showTitle(conv.title);
  history.replaceState(null, "", `#c=${encodeURIComponent(conv.id)}`);
  return conv.id;
}
