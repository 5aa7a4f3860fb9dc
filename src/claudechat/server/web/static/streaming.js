// A turn while it streams: the user's message (unless it is a retry) and the reply as it
// arrives, shown as text and rendered by the server (POST /v1/render) at most every 250 ms;
// the stored message replaces it at the end.

import { post } from "./api.js";
import { attachmentList, messageNode, scrollToEnd, sentWithNextNote } from "./conversation.js";
import { el, setServerHtml } from "./dom.js";

const PREVIEW_MS = 250;

/** The reply's text so far: rendered up to the last preview, the rest as plain text. */
class Preview {
  constructor(rendered, tail) {
    this.rendered = rendered;
    this.tail = tail;
    this.text = "";
    this.renderedLength = 0;
    this.inFlight = false;
    this.lastRender = 0;
    this.timer = null;
    this.closed = false;
  }

  add(piece) {
    this.text += piece;
    this.tail.textContent = this.text.slice(this.renderedLength);
    this.schedule();
  }

  schedule() {
    if (this.timer !== null || this.inFlight || this.closed) return;
    const wait = Math.max(0, PREVIEW_MS - (performance.now() - this.lastRender));
    this.timer = setTimeout(() => this.render(), wait);
  }

  async render() {
    this.timer = null;
    if (this.closed || this.inFlight || this.renderedLength === this.text.length) return;
    this.inFlight = true;
    this.lastRender = performance.now();
    const snapshot = this.text;
    try {
      const { html } = await post("/v1/render", { text: snapshot });
      if (!this.closed) {
        setServerHtml(this.rendered, html);
        this.renderedLength = snapshot.length;
        this.tail.textContent = this.text.slice(this.renderedLength);
      }
    } catch {
      // the preview is best effort: the stored message replaces it
    } finally {
      this.inFlight = false;
    }
    if (this.renderedLength < this.text.length) this.schedule();
  }

  close() {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }
}

function removeFrom(box, messageId) {
  let node = box.querySelector(`[data-message-id="${CSS.escape(messageId)}"]`);
  while (node) {
    const next = node.nextElementSibling;
    node.remove();
    node = next;
  }
}

function pendingNode(role, ...content) {
  const who = role === "user" ? "You" : "Claude";
  return el("article", { class: "message pending", "data-role": role },
    el("header", { class: "message-head" }, el("span", { class: "who", text: who })),
    el("div", { class: "content" }, ...content));
}

/** The user message shown with no reply gets one now: with the new message (`sending`),
 * the model reads the two as one; else (a retry, a turn followed again) this reply is its. */
function answering(box, sending) {
  const node = box.querySelector(".message.unanswered");
  if (!node) return;
  node.classList.remove("unanswered");
  node.querySelector(".actions .retry")?.remove();
  const note = node.querySelector(".no-reply");
  if (!note) return;
  if (!sending) {
    note.remove();
    return;
  }
  node.classList.add("sent-together");
  note.replaceWith(sentWithNextNote());
}

/**
 * Show a turn while it streams. `userText`: the user's message (null for a retry), with its
 * `attachments` (names and sizes); `from`: the message the turn replaces (it and everything
 * after it go).
 */
export function streamingView({ userText = null, from = null, attachments = [] }) {
  const box = document.getElementById("messages");
  document.getElementById("empty-note")?.remove();
  if (from) removeFrom(box, from);
  answering(box, userText !== null);
  const user = userText === null ? null : pendingNode("user", el("p", { class: "plain", text: userText }));
  if (user && attachments.length) user.querySelector(".message-head").after(attachmentList(attachments));
  const rendered = el("div", { class: "rendered" });
  const tail = el("span", { class: "tail" });
  const reply = pendingNode("assistant", rendered, tail);
  reply.classList.add("streaming");
  reply.setAttribute("aria-busy", "true");
  if (user) box.append(user);
  box.append(reply);
  scrollToEnd();
  const preview = new Preview(rendered, tail);
  const nearEnd = () => box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  return {
    started(userMessageId) {
      if (user) user.dataset.messageId = userMessageId;
    },
    delta(piece) {
      const follow = nearEnd();
      preview.add(piece);
      if (follow) scrollToEnd();
    },
    message(msg) {
      preview.close();
      reply.replaceWith(messageNode(msg));
    },
    discard() {
      preview.close();
      user?.remove();
      reply.remove();
    },
    close() {
      preview.close();
    },
  };
}
