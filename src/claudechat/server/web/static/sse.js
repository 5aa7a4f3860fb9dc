// A turn's server-sent events, read from the POST that starts it (fetch streams: an
// EventSource cannot POST), or from GET .../stream for a turn already running (the page
// reloaded, the conversation opened again). A dropped connection is picked up again with
// GET .../stream and Last-Event-ID, so no event is lost or shown twice.

import { ApiError, errorOf, requestInit } from "./api.js";

const RETRIES = 5;

/** Parse SSE frames from a response body, calling onFrame({id, name, data}) for each. */
async function readFrames(response, onFrame) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const frame = parseFrame(block);
      if (frame) onFrame(frame);
    }
  }
}

/** One SSE block as {id, name, data}; null for a keep-alive comment. */
function parseFrame(block) {
  let id = null;
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = Number(value);
    else if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  return { id, name, data: JSON.parse(data.join("\n")) };
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** GET the conversation's turn stream (its events after `after`); throws ApiError. */
async function fetchStream(conversationId, after, signal) {
  let response;
  try {
    response = await fetch(`/v1/conversations/${conversationId}/stream`, {
      credentials: "same-origin",
      headers: { Accept: "text/event-stream", "Last-Event-ID": String(after) },
      signal,
    });
  } catch (err) {
    throw new ApiError(0, "network_error", `the service cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/**
 * Start a turn with POST `path` and `body`, calling onEvent for each event (start, delta,
 * usage, message, done, error) until `done` or `error`. A refused turn throws ApiError
 * before any event; a connection lost mid-turn is reattached. `signal` aborts the reading
 * only (the turn goes on in the service).
 */
export async function streamTurn(path, body, conversationId, onEvent, signal = null) {
  let response;
  try {
    response = await fetch(path, requestInit("POST", body, { headers: { Accept: "text/event-stream" }, signal }));
  } catch (err) {
    if (signal?.aborted) return;
    throw new ApiError(0, "network_error", `the service cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  await readTurn(response, conversationId, onEvent, signal);
}

/** The stream of the conversation's running (or recently ended) turn, from its first
 * event (GET .../stream); null when none ran recently (404). */
export async function openTurnStream(conversationId, signal = null) {
  try {
    return await fetchStream(conversationId, 0, signal);
  } catch (err) {
    if (err.status === 404 || signal?.aborted) return null;
    throw err;
  }
}

/** Read a turn's events from `response` until `done` or `error` (see streamTurn). */
export async function readTurn(response, conversationId, onEvent, signal = null) {
  let last = 0;
  let ended = false;
  const handle = (frame) => {
    if (signal?.aborted) return;
    if (frame.id !== null) last = frame.id;
    if (frame.name === "done" || frame.name === "error") ended = true;
    onEvent(frame);
  };
  for (let attempt = 0; ; attempt += 1) {
    try {
      await readFrames(response, handle);
    } catch {
      // the connection dropped (or the reading was aborted): reattach below
    }
    if (ended || signal?.aborted) return;
    if (attempt >= RETRIES) throw new ApiError(0, "network_error", "the reply stream was lost; reload to see the reply");
    await pause(300 * (attempt + 1));
    if (signal?.aborted) return;
    try {
      response = await fetchStream(conversationId, last, signal);
    } catch (err) {
      if (signal?.aborted) return;
      if (err.status === 0) continue;
      throw err;
    }
  }
}
