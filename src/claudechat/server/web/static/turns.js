// Running a turn (send, retry, edit), following one already running, and stopping it: the
// events of the turn's stream drive the conversation's streaming view; the conversation is
// read again at its end. The page follows the open conversation's turn only: showing
// another conversation detaches it (the turn goes on in the service), and opening its
// conversation again follows it again (GET .../stream).

import { post } from "./api.js";
import { ensureConversation, reloadConversation } from "./conversation.js";
import { openTurnStream, readTurn, streamTurn } from "./sse.js";
import { streamingView } from "./streaming.js";
import { clearError, emit, showError, state, turnTag } from "./state.js";

/** Follow a turn of the open conversation: Stop and Esc act on it, Send waits for it. */
function follow(conversationId) {
  const turn = { conversationId, controller: new AbortController(), detached: false };
  state.streaming = turn;
  emit("streaming", true);
  return turn;
}

function unfollow(turn) {
  if (state.streaming !== turn) return;
  state.streaming = null;
  emit("streaming", false);
}

/** Stop following the turn shown (another conversation is shown): its reading stops, the
 * turn goes on in the service. */
export function detachTurn() {
  const turn = state.streaming;
  if (!turn) return;
  turn.detached = true;
  turn.controller.abort();
  unfollow(turn);
}

/** Show the events `read` gives in `display` until the turn ends (or is detached); its
 * error message and, for a refused turn, the HTTP status. */
async function showEvents(turn, display, read, onStart = null) {
  let failed = null;
  let status = null;
  try {
    await read((event) => {
      if (turn.detached) return;
      if (event.name === "start") {
        if (onStart) onStart(event.data);
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
    status = err.status;
  } finally {
    display.close();
  }
  unfollow(turn);
  return { failed, status };
}

/**
 * Run a turn of the open conversation. kind: "send" ({text}), "retry" ({from}: the reply
 * replaced; null for a user message with no reply), "edit" ({from}: the user message
 * replaced, text). Resolves true once the service accepted the turn, false when it refused
 * it (the error is shown; a refusal because a turn of the conversation runs already, from
 * another tab or process, follows that turn, and its error goes when it ends). A send
 * carries `attachments` ([{name, data}]; `shown`: their names and sizes, while it streams).
 * `prepare`: a call made first, the turn already on screen (a failure fails the turn).
 * onStarted and onFailed are called when the service accepts the turn and when it fails.
 */
export async function runTurn(kind, { text = null, from = null, attachments = [], shown = [], prepare = null, onStarted = null, onFailed = null } = {}) {
  if (state.streaming) return false;
  showError(null);
  let cid;
  try {
    cid = await ensureConversation(text || "");
  } catch (err) {
    showError(err.message);
    return false;
  }
  if (state.streaming) return false;
  const path = kind === "send" ? `/v1/conversations/${cid}/messages`
    : kind === "retry" ? `/v1/conversations/${cid}/retry`
      : `/v1/conversations/${cid}/messages/${from}/edit`;
  const body = kind === "retry" ? { stream: true } : { content: text, stream: true };
  if (kind === "send" && attachments.length) body.attachments = attachments;
  const turn = follow(cid);
  const display = streamingView({ userText: kind === "retry" ? null : text, from, attachments: shown });
  let started = false;
  const { failed, status } = await showEvents(
    turn,
    display,
    async (onEvent) => {
      if (prepare) await prepare();
      if (!turn.detached) await streamTurn(path, body, cid, onEvent, turn.controller.signal);
    },
    (data) => {
      started = true;
      display.started(data.user_message_id);
      if (onStarted) onStarted();
    },
  );
  if (turn.detached) return started;
  if (!started) display.discard();
  if (failed && onFailed) onFailed();
  if (status === 409) {
    showError(failed, turnTag(cid));
    await reloadConversation({ follow: true });
    return false;
  }
  clearError(turnTag(cid)); // a rename refused while it ran, say
  await reloadConversation();
  if (failed) showError(failed);
  return started;
}

/**
 * The running (or just ended) turn of the open conversation `conversationId`, followed
 * from its first event: `{show(from), cancel()}`, show(from) rendering it in place of the
 * stored partial reply `from` (null: after the last message) until it ends; null when no
 * turn runs (GET .../stream answers 404), and then an error about the turn goes.
 */
export async function reattach(conversationId) {
  if (state.streaming) return null;
  const turn = follow(conversationId);
  let response = null;
  try {
    response = await openTurnStream(conversationId, turn.controller.signal);
  } catch (err) {
    if (!turn.detached) showError(err.message);
  }
  if (!response || turn.detached) {
    unfollow(turn);
    if (!response) clearError(turnTag(conversationId));
    return null;
  }
  return {
    show: (from) => showRunning(turn, response, from),
    cancel: () => {
      turn.detached = true;
      turn.controller.abort();
      unfollow(turn);
    },
  };
}

async function showRunning(turn, response, from) {
  const cid = turn.conversationId;
  const display = streamingView({ from });
  const { failed } = await showEvents(turn, display,
    (onEvent) => readTurn(response, cid, onEvent, turn.controller.signal));
  if (turn.detached) return;
  clearError(turnTag(cid));
  await reloadConversation();
  if (failed) showError(failed);
}

/** Stop the open conversation's running turn: the reply so far is kept, marked "stopped". */
export async function stopTurn() {
  const running = state.streaming;
  if (!running) return;
  showError(null);
  try {
    await post(`/v1/conversations/${running.conversationId}/cancel`);
  } catch (err) {
    showError(err.message);
  }
}
