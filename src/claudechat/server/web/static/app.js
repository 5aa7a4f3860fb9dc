// The web chat's entry point: sign-in, then the sidebar, the conversation, the composer,
// the gauge and the settings panel (each its own module).

import { ApiError, get, post, setCsrf, whenSignedOut } from "./api.js";
import { initComposer } from "./composer.js";
import { initConversation, openConversation, openingCount, startNewChat } from "./conversation.js";
import { initGauge } from "./gauge.js";
import { initExportImport } from "./io.js";
import { initSettings } from "./settings.js";
import { initSidebar, refreshList } from "./sidebar.js";
import { emit, state } from "./state.js";

const $ = (id) => document.getElementById(id);

async function boot() {
  // asked at once, with the service's info; settled as {ok} or {err}
  const session = get("/v1/auth/session").then((ok) => ({ ok }), (err) => ({ err }));
  try {
    state.info = await get("/v1/info");
  } catch {
    // an older service: no banner, builtin auth
  }
  $("emulator-banner").hidden = !state.info.emulator;
  initSidebar();
  initConversation();
  initComposer();
  initGauge();
  initSettings();
  initExportImport();
  whenSignedOut((err) => {
    if (state.user) signedOut(`${err.message}: sign in again.`);
  });
  $("login").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  try {
    const { ok, err } = await session;
    if (err) throw err;
    await enter(ok);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showLogin();
    else showLogin(err.message);
  }
}

function showLogin(message) {
  $("app").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  $("login").elements.username.focus();
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    const session = await post("/v1/auth/login", {
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    form.elements.password.value = "";
    await enter(session);
  } catch (err) {
    $("login-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function enter(session) {
  setCsrf(session.csrf_token);
  state.user = session.user;
  if (session.emulator !== undefined) $("emulator-banner").hidden = !session.emulator;
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = state.info.auth === "none";
  const models = get("/v1/models").then((r) => r.data, () => []);
  const openings = openingCount();
  await refreshList();
  state.models = await models;
  if (openingCount() === openings) {
    // nothing opened meanwhile (a new chat clicked while the list loaded stays)
    const wanted = new URLSearchParams(location.hash.slice(1)).get("c");
    const first = state.conversations.find((c) => c.id === wanted) || state.conversations[0];
    if (first) await openConversation(first.id);
    else startNewChat();
  }
  emit("signed-in", state.user);
  $("prompt").focus();
}

async function logout() {
  try {
    await post("/v1/auth/logout");
  } catch {
    // signed out already
  }
  signedOut();
}

function signedOut(message) {
  setCsrf(null);
  state.user = null;
  state.current = null;
  state.conversations = [];
  location.hash = "";
  emit("signed-out");
  showLogin(message);
}

boot();
