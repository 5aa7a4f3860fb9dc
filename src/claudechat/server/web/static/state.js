// What the page knows now, and a small event bus between its modules.

export const state = {
  info: { emulator: false, auth: "builtin", defaults: {} },
  user: null,
  conversations: [], // Conv, newest first
  current: null, // the open Conv (null: a new chat not stored yet)
  streaming: null, // { conversationId } while a turn streams
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

/** Show an error in #error (role=alert); null hides it. */
export function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}
