// The settings panel and every state-changing request: confirmation, the token, the answer.
import { HOME_ASSISTANT, el, formatValue, getJson, postJson, storeToken, storedToken } from "./common.js";

let dialog = null;
let content = null;

function ensureDialog() {
  if (dialog) return;
  content = el("div", { class: "dialog-content" });
  const close = el("button", { type: "button", class: "close", text: "×", title: "Close", "aria-label": "Close" });
  close.addEventListener("click", () => dialog.close("cancel"));
  dialog = el("dialog", { id: "settings-dialog", class: "panel", "aria-label": "Settings" }, close, content);
  document.body.append(dialog);
}

function show(...children) {
  ensureDialog();
  content.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
  if (!dialog.open) dialog.showModal();
}

/** Show a question; resolve true for the confirm button, false otherwise. */
function ask(title, message, confirmLabel, { danger = false, extra = null } = {}) {
  return new Promise((resolve) => {
    const yes = el("button", { type: "button", class: `primary${danger ? " danger" : ""}`, "data-action": "confirm", text: confirmLabel });
    const no = el("button", { type: "button", class: "secondary", "data-action": "cancel", text: "Cancel" });
    const done = (answer) => {
      dialog.removeEventListener("close", onClose);
      resolve(answer);
    };
    const onClose = () => done(false);
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    show(
      el("h2", { text: title }),
      el("p", { class: `question${danger ? " warning" : ""}`, text: message }),
      extra,
      el("div", { class: "buttons" }, no, yes),
    );
    dialog.addEventListener("close", onClose);
    yes.focus();
  });
}

/** Ask for the web token; resolve it, or null when the user cancels. */
function askToken(reason) {
  return new Promise((resolve) => {
    const input = el("input", { type: "password", name: "token", autocomplete: "current-password", required: true, id: "token-input" });
    const form = el(
      "form",
      { class: "token-form", method: "dialog" },
      el("h2", { text: "Web token needed" }),
      el("p", {
        text:
          "Changes need the token the daemon printed when it first started (also stored in its state directory). " +
          "It is kept in this browser until you clear it.",
      }),
      reason ? el("p", { class: "warning", text: reason }) : null,
      el("label", { for: "token-input", text: "Token" }),
      input,
      el("div", { class: "buttons" }, el("button", { type: "button", class: "secondary", "data-action": "cancel", text: "Cancel" }), el("button", { type: "submit", class: "primary", "data-action": "save-token", text: "Save and continue" })),
    );
    const done = (value) => {
      dialog.removeEventListener("close", onClose);
      resolve(value);
    };
    const onClose = () => done(null);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      done(input.value.trim() || null);
    });
    form.querySelector("[data-action=cancel]").addEventListener("click", () => done(null));
    show(form);
    dialog.addEventListener("close", onClose);
    input.focus();
  });
}

function reasonOf(body) {
  if (!body) return "no answer";
  return body.error || body.reason || body.message || (body.refused ? String(body.refused) : "unknown error");
}

/** POST with the stored token; on 401 ask for one and retry. Null when the user gave up. */
export async function authorizedPost(path, body) {
  let answer = await postJson(path, body);
  let attempts = 0;
  // In Home Assistant the frontend's login is the credential: there is no token to ask for.
  while (answer.status === 401 && attempts < 3 && !HOME_ASSISTANT) {
    attempts += 1;
    const token = await askToken(storedToken() ? `The stored token was refused: ${reasonOf(answer.body)}` : null);
    if (!token) return null;
    storeToken(token);
    answer = await postJson(path, body, token);
  }
  return answer;
}

let toastTimer = null;
export function notify(text, kind = "info") {
  let toast = document.getElementById("toast");
  if (!toast) {
    toast = el("div", { id: "toast", role: "status", "aria-live": "polite" });
    document.body.append(toast);
  }
  toast.textContent = text;
  toast.dataset.kind = kind;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toast.hidden = true;
  }, 6000);
}

/** A state-changing button outside the panel (refresh): token on demand, result as a toast. */
export async function sendWithToken(path, body, button) {
  if (button) button.disabled = true;
  try {
    const answer = await authorizedPost(path, body);
    if (dialog?.open) dialog.close("done");
    if (!answer) return;
    if (answer.status >= 200 && answer.status < 300) notify(`${body.device || "all devices"}: refresh requested`, "ok");
    else notify(`Refused: ${reasonOf(answer.body)}`, "error");
  } catch (err) {
    notify(`Failed: ${err.message}`, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

// -- the panel ------------------------------------------------------------------------------

function options(setting) {
  const list = setting.options;
  if (Array.isArray(list)) {
    return list.map((item) => (item && typeof item === "object" ? { value: String(item.label ?? item.value), label: String(item.label ?? item.value) } : { value: String(item), label: String(item) }));
  }
  return Object.values(list || {}).map((label) => ({ value: String(label), label: String(label) }));
}

function input(setting) {
  const id = `setting-${setting.key}`;
  if (setting.kind === "select") {
    const select = el("select", { id, name: setting.key, "data-setting": setting.key });
    for (const option of options(setting)) {
      select.append(el("option", { value: option.value, text: option.label, selected: String(setting.value) === option.value }));
    }
    return select;
  }
  if (setting.kind === "switch") {
    const box = el("input", { id, type: "checkbox", role: "switch", name: setting.key, "data-setting": setting.key, checked: setting.value === true });
    return el("span", { class: "switch" }, box, el("span", { class: "slider", "aria-hidden": "true" }));
  }
  const number = el("input", { id, type: "number", name: setting.key, "data-setting": setting.key, inputMode: "decimal" });
  if (setting.minimum !== null && setting.minimum !== undefined) number.min = setting.minimum;
  if (setting.maximum !== null && setting.maximum !== undefined) number.max = setting.maximum;
  number.step = setting.step || "any";
  if (typeof setting.value === "number") number.value = setting.value;
  return number;
}

function valueOf(setting, field) {
  if (setting.kind === "switch") return field.querySelector("input").checked;
  if (setting.kind === "number") return field.value === "" ? null : Number(field.value);
  return field.value;
}

function describe(setting, value) {
  if (setting.kind === "switch") return value ? "on" : "off";
  return `${formatValue(value)}${setting.unit ? ` ${setting.unit}` : ""}`;
}

function resultView(device, setting, value, answer) {
  const body = answer.body || {};
  let kind = "error";
  let title = "Not changed";
  let text;
  if (answer.status >= 200 && answer.status < 300 && body.ok) {
    kind = "ok";
    title = "Done";
    const now = body.result && setting.key in body.result ? body.result[setting.key] : value;
    text = `${setting.name} is now ${describe(setting, now)}.`;
  } else if (body.refused) {
    title = "Refused";
    text = `${body.refused}: ${reasonOf(body)}`;
  } else {
    text = `Error (HTTP ${answer.status}): ${reasonOf(body)}`;
  }
  const back = el("button", { type: "button", class: "secondary", "data-action": "back", text: "Back to settings" });
  back.addEventListener("click", () => openSettings(device));
  const close = el("button", { type: "button", class: "primary", "data-action": "close", text: "Close" });
  close.addEventListener("click", () => dialog.close("done"));
  show(el("h2", { text: title }), el("p", { class: `result ${kind}`, "data-result": kind, text }), el("div", { class: "buttons" }, back, close));
}

async function change(device, setting, field) {
  const value = valueOf(setting, field);
  if (value === null || (setting.kind === "number" && !field.checkValidity())) {
    field.reportValidity?.();
    return;
  }
  const wanted = describe(setting, value);
  if (!(await ask("Confirm the change", `Set ${setting.name} to ${wanted}?`, "Yes, set it"))) {
    openSettings(device);
    return;
  }
  if (setting.safety) {
    const confirmed = await ask(
      "Safety setting",
      `${setting.name} is a safety setting: a wrong value can harm the battery or cut the power. Really set it to ${wanted} on ${device}?`,
      "I understand, set it",
      { danger: true },
    );
    if (!confirmed) {
      openSettings(device);
      return;
    }
  }
  show(el("h2", { text: "Sending…" }), el("p", { class: "quiet", text: `Setting ${setting.name} to ${wanted}` }));
  let answer;
  try {
    answer = await authorizedPost("api/command", { device, setting: setting.key, value, confirm: Boolean(setting.safety) });
  } catch (err) {
    answer = { status: 0, body: { error: err.message } };
  }
  if (!answer) {
    openSettings(device);
    return;
  }
  resultView(device, setting, value, answer);
}

function row(device, setting) {
  const field = input(setting);
  const control = field.matches?.("span.switch") ? field.querySelector("input") : field;
  const apply = el("button", { type: "button", class: "apply", "data-apply": setting.key, text: "Set" });
  const current = el("span", { class: "current", text: `now ${describe(setting, setting.value)}` });
  apply.addEventListener("click", () => change(device, setting, setting.kind === "switch" ? field : control));
  const range =
    setting.kind === "number" && setting.minimum !== null && setting.minimum !== undefined
      ? el("span", { class: "range", text: `${setting.minimum}–${setting.maximum}${setting.unit ? ` ${setting.unit}` : ""}${setting.step ? `, step ${setting.step}` : ""}` })
      : null;
  return el(
    "li",
    { class: `setting${setting.safety ? " safety" : ""}`, "data-key": setting.key },
    el("label", { for: `setting-${setting.key}` }, el("span", { class: "name", text: setting.name }), setting.safety ? el("span", { class: "badge danger", text: "safety" }) : null),
    el("span", { class: "meta" }, current, range),
    el("span", { class: "control" }, field, apply),
  );
}

export async function openSettings(device) {
  show(el("h2", { text: `Settings · ${device}` }), el("p", { class: "quiet", text: "Loading…" }));
  let settings;
  try {
    settings = await getJson("api/settings", { device });
  } catch (err) {
    show(el("h2", { text: `Settings · ${device}` }), el("p", { class: "result error", text: `Cannot load the settings: ${err.message}` }));
    return;
  }
  const list = Array.isArray(settings) ? settings : settings.settings || [];
  const forget = el("button", { type: "button", class: "link", "data-action": "forget-token", text: "Forget the stored token" });
  forget.addEventListener("click", () => {
    storeToken("");
    forget.textContent = "Token forgotten";
    forget.disabled = true;
  });
  show(
    el("h2", { text: `Settings · ${device}` }),
    list.length
      ? el("ul", { class: "settings-list" }, ...list.map((setting) => row(device, setting)))
      : el("p", { class: "quiet", text: "No setting of this device is allowed (mqtt_allowed_cmds in the configuration decides)." }),
    el("p", { class: "hint" }, "Each change is confirmed first; safety settings twice. ", storedToken() && !HOME_ASSISTANT ? forget : null),
  );
}
