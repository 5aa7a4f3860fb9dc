// Running a turn (send, retry, edit) and stopping it: the events of the turn's stream
// drive the conversation's streaming view; the conversation is read again at its end.

import { post } from "./api.js";
import { ensureConversation, reloadConversation } from "./conversation.js";
import { streamTurn } from "./sse.js";
import { streamingView } from "./streaming.js";
import { emit, showError, state } from "./state.js";

/**
 * Run a turn of the open conversation. kind: "send" ({text}), "retry" ({from}: the reply
 * replaced), "edit" ({from}: the user message replaced, text). Resolves true once the
 * service accepted the turn, false when it refused it (the error is shown). A send carries
 * `attachments` ([{name, data}]; `shown`: their names and sizes, while it streams). onStarted and
 * onFailed are called when the service accepts the turn and when it fails.
 */
export async function runTurn(kind, { text = null, from = null, attachments = [], shown = [], onStarted = null, onFailed = null } = {}) {
  if (state.streaming) return false;
  showError(null);
  let cid;
  try {
    cid = await ensureConversation(text || "");
  } catch (err) {
    showError(err.message);
    return false;
  }
  const path = kind === "send" ? `/v1/conversations/${cid}/messages`
    : kind === "retry" ? `/v1/conversations/${cid}/retry`
      : `/v1/conversations/${cid}/messages/${from}/edit`;
  const body = kind === "retry" ? { stream: true } : { content: text, stream: true };
  if (kind === "send" && attachments.length) body.attachments = attachments;
  state.streaming = { conversationId: cid };
  emit("streaming", true);
  const display = streamingView({ userText: kind === "retry" ? null : text, from, attachments: shown });
  let started = false;
  let failed = null;
  try {
    await streamTurn(path, body, cid, (event) => {
      if (event.name === "start") {
        started = true;
        display.started(event.data.user_message_id);
        if (onStarted) onStarted();
      } else if (event.name === "delta") {
        display.delta(event.data.text);
      } else if (event.name === "message") {
        display.message(event.data.message);
      } else if (event.name === "error") {
        failed = event.data.error.message;
      }
    });
  } catch (err) {
    failed = err.message;
  } finally {
    display.close();
  }
  if (!started) display.discard();
  state.streaming = null;
  emit("streaming", false);
  if (failed && onFailed) onFailed();
  await reloadConversation();
  if (failed) showError(failed);
  return started;
}

/** Stop the running turn: the reply so far is kept, marked "stopped". */
export async function stopTurn() {
  const running = state.streaming;
  if (!running) return;
  try {
    await post(`/v1/conversations/${running.conversationId}/cancel`);
  } catch (err) {
    showError(err.message);
  }
}
