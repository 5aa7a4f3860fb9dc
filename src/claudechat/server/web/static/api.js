// The service's JSON API: one fetch wrapper that sends the CSRF token on every write and
// turns every failure into an ApiError carrying the service's {"error": {type, message}}.

let csrfToken = null;
let onSignedOut = null;

/** Call fn() when a call answers 401 (the session expired or was signed out elsewhere). */
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

/** Remember the CSRF token of the cookie session (from login or /v1/auth/session). */
export function setCsrf(token) {
  csrfToken = token || null;
}

/** A failed call: HTTP status, the error's type and message. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

/** The request options of a call: JSON body, CSRF header on writes. */
export function requestInit(method, body, extra = {}) {
  const headers = { Accept: "application/json", ...(extra.headers || {}) };
  const init = { ...extra, method, headers, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  if (body !== undefined) {
    if (typeof body === "string") {
      init.body = body;
    } else {
      init.body = JSON.stringify(body);
    }
    headers["Content-Type"] = "application/json";
  }
  return init;
}

/** The ApiError of a failed response (the service's shape, or a plain HTTP failure); a
 * 401 outside sign-in means the session ended: the page is told. */
export async function errorOf(response) {
  const error = await readError(response);
  const path = new URL(response.url, location.href).pathname;
  if (response.status === 401 && !path.startsWith("/v1/auth/") && onSignedOut) onSignedOut(error);
  return error;
}

async function readError(response) {
  let type = "http_error";
  let message = `${response.status} ${response.statusText}`;
  try {
    const data = await response.json();
    if (data && data.error) {
      type = data.error.type;
      message = data.error.message;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, type, message);
}

/** Call the API; the parsed JSON (null for 204), or throws ApiError. */
export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, requestInit(method, body));
  } catch (err) {
    throw new ApiError(0, "network_error", `the service cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

/** A path with its query string. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
