// Shared helpers of every page: API calls (with the token), formatting, the live stream.
// Device and configuration data only ever reach the page through textContent and attributes.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;

/** The API's root URL: the page says where (Home Assistant's panel), else it is worked out from
 * this module's own address (/static/common.js), so a prefix needs no configuration. */
export const ROOT = meta("mppsolar-api") ? new URL(meta("mppsolar-api"), location.href) : new URL("..", import.meta.url);

/** In Home Assistant's sidebar the API needs the logged-in frontend's access token, not ours. */
export const HOME_ASSISTANT = meta("mppsolar-auth") === "home-assistant";

async function hass() {
  const parent = window.parent;
  if (!parent || parent === window || !parent.hassConnection) {
    throw new Error("open this page from Home Assistant's sidebar");
  }
  return parent.hassConnection;
}

async function authHeaders() {
  if (!HOME_ASSISTANT) return {};
  const { auth } = await hass();
  if (auth.expired) await auth.refreshAccessToken();
  return { Authorization: `Bearer ${auth.accessToken}` };
}

const TOKEN_KEY = "mppsolar.token";

export function apiUrl(path, params) {
  const url = new URL(path.replace(/^\//, ""), ROOT);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

export async function getJson(path, params) {
  const headers = { Accept: "application/json", ...(await authHeaders()) };
  const response = await fetch(apiUrl(path, params), { headers });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

export function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function storeToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the token lives as long as the page.
  }
}

/** POST JSON with the stored token; answers {status, body}. Never throws on HTTP errors. */
export async function postJson(path, body, token = storedToken()) {
  const headers = { "Content-Type": "application/json", Accept: "application/json", ...(await authHeaders()) };
  if (token && !HOME_ASSISTANT) headers["X-MPPSolar-Token"] = token;
  const response = await fetch(apiUrl(path), {
    method: "POST",
    headers,
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = { error: `HTTP ${response.status}` };
  }
  return { status: response.status, body: data };
}

/** Create an element with attributes and text (never HTML). */
export function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      node.setAttribute(key, String(value));
    } else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatValue(value, precision) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    if (precision !== undefined) return value.toFixed(precision);
    if (Number.isInteger(value)) return String(value);
    return String(Math.round(value * 1000) / 1000);
  }
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

export function formatTime(epoch, withDate = false) {
  if (!epoch) return "never";
  const date = new Date(epoch * 1000);
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  if (withDate) Object.assign(options, { day: "2-digit", month: "short" });
  return date.toLocaleString(undefined, options);
}

export function ago(epoch, now = Date.now() / 1000) {
  if (!epoch) return "no data yet";
  const seconds = Math.max(0, Math.round(now - epoch));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return `${Math.floor(seconds / 3600)} h ago`;
}

/** The stream's URL; in Home Assistant a short-lived signed path (EventSource sends no headers). */
async function streamUrl() {
  const url = apiUrl("stream");
  if (!HOME_ASSISTANT) return url;
  const { conn } = await hass();
  const signed = await conn.sendMessagePromise({ type: "auth/sign_path", path: url.pathname, expires: 60 });
  return new URL(signed.path, location.origin);
}

const RETRY_MS = 3000;

/** Open /stream. EventSource reconnects by itself (sending Last-Event-ID) after a dropped
 * connection; when it gives up (an error answer, an expired signature) open a new one. */
export function openStream(handlers, onState) {
  const connect = async () => {
    let url;
    try {
      url = await streamUrl();
    } catch {
      onState?.(false);
      setTimeout(connect, RETRY_MS);
      return;
    }
    const source = new EventSource(url);
    source.addEventListener("open", () => onState?.(true));
    source.addEventListener("error", () => {
      onState?.(source.readyState === EventSource.OPEN);
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, RETRY_MS);
    });
    for (const [event, handler] of Object.entries(handlers)) {
      source.addEventListener(event, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        handler(data);
      });
    }
  };
  connect();
}

/** The theme switch link of each page: keep the device selection in the hash. */
export function linkTheme() {
  for (const link of document.querySelectorAll("a[data-keep-hash]")) {
    link.addEventListener("click", () => {
      link.hash = location.hash;
    });
  }
}
