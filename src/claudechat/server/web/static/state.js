// What the page knows now, and a small event bus between its modules.

export const state = {
  info: { emulator: false, auth: "builtin", defaults: {} },
  user: null,
  conversations: [], // Conv, newest first
  current: null, // the open Conv (null: a new chat not stored yet)
  // the open conversation's turn while the page follows it: { conversationId, controller,
  // detached }; switching to another conversation detaches it (the turn goes on there)
  streaming: null,
  models: [],
};

const listeners = new Map();

/** Call fn(data) on each emit(name, data). */
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, []);
  listeners.get(name).push(fn);
}

/** Tell the listeners of `name`. */
export function emit(name, data) {
  for (const fn of listeners.get(name) || []) fn(data);
}

let errorTag = null; // what the shown error is about, when something can make it stale

/** Show an error in #error (role=alert); null hides it. `tag` names what it is about (a
 * running turn: turnTag), so that clearError(tag) hides it when that is over. */
export function showError(message, tag = null) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
  errorTag = message ? tag : null;
}

/** The tag of an error about a conversation's running turn (a 409: "a turn … is in
 * flight"): the page hides it when it sees that turn end. */
export function turnTag(conversationId) {
  return `turn:${conversationId}`;
}

/** The tag of `err` about conversation `conversationId`: its turn's for a 409, else none. */
export function tagOf(err, conversationId) {
  return err.status === 409 ? turnTag(conversationId) : null;
}

/** Hide the error shown with `tag` (another error stays). */
export function clearError(tag) {
  if (tag !== null && errorTag === tag) showError(null);
}
