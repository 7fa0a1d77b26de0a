// The dashboard of `tessera serve`: a login screen, then six screens under hash routes
// (#/segments, #/distributions, #/migration, #/profiles[/uuid], #/audiences, #/partners) that
// read docs/api.md's API.

import "./styles.css";

import {
  ApiError,
  getJson,
  keyRole,
  setUnauthorizedHandler,
  storeKey,
  storedKey,
  type KeyRole,
  type SnapshotInfo,
} from "./api";
import { disposeCharts } from "./charts";
import { clear, h } from "./dom";
import { date, rich, windowLength } from "./format";
import { lang, setLang, t, type Lang, type MessageKey } from "./i18n";
import { renderAudiences } from "./views/audiences";
import { errorBox, noSnapshotBox, type ViewContext } from "./views/common";
import { renderDistributions } from "./views/distributions";
import { renderMigration } from "./views/migration";
import { renderOverview } from "./views/overview";
import { renderPartners } from "./views/partners";
import { renderProfiles } from "./views/profiles";

const SNAPSHOT_STORAGE = "tessera.snapshot";
const app = document.getElementById("app")!;

const SCREENS: { path: string; label: MessageKey }[] = [
  { path: "segments", label: "navOverview" },
  { path: "distributions", label: "navDistributions" },
  { path: "migration", label: "navMigration" },
  { path: "profiles", label: "navProfiles" },
  { path: "audiences", label: "navAudiences" },
  { path: "partners", label: "navPartners" },
];

let snapshots: SnapshotInfo[] = [];
// The signed-in key's role (null until known): screens show up front what it may do.
let role: KeyRole | null = null;
let generation = 0;  // bumped per screen; late answers for an older one are dropped
let main: HTMLElement | null = null;
let loginMessage: MessageKey | null = null;

function chosenSnapshot(): string {
  const s = sessionStorage.getItem(SNAPSHOT_STORAGE);
  if (s && snapshots.some((x) => String(x.id) === s)) return s;
  return "latest";
}

function languageSwitch(onChange: () => void): HTMLElement {
  const group = h("div", { class: "lang-switch", role: "group", "aria-label": t("language") });
  for (const l of ["en", "de"] as Lang[]) {
    const b = h(
      "button",
      { type: "button", lang: l, "aria-pressed": String(l === lang()), "data-lang": l },
      l.toUpperCase(),
    );
    b.addEventListener("click", () => {
      if (l === lang()) return;
      setLang(l);
      onChange();
    });
    group.append(b);
  }
  return group;
}

function renderLogin(): void {
  // A language switch redraws the form; what was typed stays.
  const typed = (document.getElementById("api-key") as HTMLInputElement | null)?.value ?? "";
  generation++;
  disposeCharts();
  main = null;
  clear(app);
  document.title = `${t("appName")} · ${t("dashboard")}`;
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "tsk_…",
    "aria-describedby": "login-error login-hint",
  });
  input.value = typed;
  const error = h("p", { id: "login-error", class: "field-error", role: "alert" });
  if (loginMessage) error.append(t(loginMessage));
  const submit = h("button", { type: "submit", id: "sign-in" }, t("signIn"));
  const form = h(
    "form",
    { class: "login-card", id: "login-form" },
    h("div", { class: "login-top" }, h("div", { class: "brand" }, logo(), t("appName")), languageSwitch(renderLogin)),
    h("h1", null, t("loginTitle")),
    h("p", { class: "muted" }, rich(t("loginIntro"))),
    h("label", { class: "field", for: "api-key" }, h("span", null, t("apiKey"))),
    input,
    error,
    submit,
    h("p", { class: "muted small", id: "login-hint" }, t("keyHint")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    clear(error);
    if (!key) {
      error.append(t("keyEmpty"));
      return;
    }
    submit.disabled = true;
    submit.textContent = t("signingIn");
    try {
      snapshots = await getJson<SnapshotInfo[]>("snapshots", {}, key);
      storeKey(key);
      role = await keyRole();
      loginMessage = null;
      if (!location.hash) history.replaceState(null, "", "#/segments");
      renderShell();
    } catch (err) {
      error.append(
        err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? t("keyRejected")
          : err instanceof ApiError && err.status === 0
            ? t("unreachable")
            : String(err instanceof Error ? err.message : err),
      );
      submit.disabled = false;
      submit.textContent = t("signIn");
      input.select();
    }
  });
  app.append(h("main", { class: "login" }, form));
  input.focus();
}

function logo(): SVGSVGElement {
  // Four tiles, as in a mosaic (tessera).
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  svg.setAttribute("aria-hidden", "true");
  const tiles: [number, number, string][] = [
    [1, 1, "#4e79a7"],
    [9, 1, "#59a14f"],
    [1, 9, "#f28e2b"],
    [9, 9, "#e15759"],
  ];
  for (const [x, y, fill] of tiles) {
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", String(x));
    r.setAttribute("y", String(y));
    r.setAttribute("width", "6");
    r.setAttribute("height", "6");
    r.setAttribute("rx", "1.2");
    r.setAttribute("fill", fill);
    svg.append(r);
  }
  return svg;
}

function snapshotPicker(): HTMLElement {
  const select = h(
    "select",
    { id: "snapshot-select", "aria-label": t("snapshot") },
    h("option", { value: "latest" }, t("latest")),
    [...snapshots]
      .reverse()
      .map((s) => h("option", { value: String(s.id) }, `#${s.id} · ${date(s.as_of)} · ${windowLength(s.window.length)}`)),
  );
  select.value = chosenSnapshot();
  select.addEventListener("change", () => {
    sessionStorage.setItem(SNAPSHOT_STORAGE, select.value);
    route();
  });
  return h("label", { class: "snapshot-picker" }, h("span", null, t("snapshot")), select);
}

const ROLE_LABELS: Record<KeyRole, MessageKey> = { viewer: "roleViewer", analyst: "roleAnalyst", admin: "roleAdmin" };

function renderShell(): void {
  if (role === null) {
    // A reload keeps the key but not what it may do.
    keyRole().then((r) => {
      role = r;
      if (storedKey()) renderShell();
    });
    return;
  }
  clear(app);
  document.title = `${t("appName")} · ${t("dashboard")}`;
  const nav = h(
    "nav",
    { class: "tabs", "aria-label": t("dashboard") },
    SCREENS.map((s) => h("a", { href: `#/${s.path}`, "data-screen": s.path }, t(s.label))),
  );
  const signOut = h("button", { type: "button", class: "secondary", id: "sign-out" }, t("signOut"));
  signOut.addEventListener("click", () => {
    storeKey(null);
    role = null;
    sessionStorage.removeItem(SNAPSHOT_STORAGE);
    renderLogin();
  });
  main = h("main", { id: "main", tabindex: "-1" });
  app.append(
    h(
      "header",
      { class: "topbar" },
      h("a", { class: "brand", href: "#/segments" }, logo(), t("appName")),
      nav,
      h(
        "div",
        { class: "topbar-tools" },
        snapshotPicker(),
        languageSwitch(renderShell),
        h("span", { class: "role-badge", id: "key-role", "data-role": role }, t(ROLE_LABELS[role])),
        signOut,
      ),
    ),
    main,
  );
  route();
}

// Refreshes the snapshot list (new ones arrive while the page is open) and draws the screen
// the hash names.
async function route(): Promise<void> {
  if (!storedKey()) return renderLogin();
  if (!main) return renderShell();
  const gen = ++generation;
  disposeCharts();
  const [, screen = "segments", ...rest] = location.hash.replace(/\?.*$/, "").split("/");
  const params = new URLSearchParams(location.hash.includes("?") ? location.hash.slice(location.hash.indexOf("?")) : "");
  for (const a of app.querySelectorAll<HTMLAnchorElement>("nav.tabs a")) {
    if (a.dataset.screen === screen) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const picker = app.querySelector<HTMLSelectElement>("#snapshot-select");
  if (picker) {
    // Audiences are built on the newest snapshot only.
    picker.disabled = screen === "audiences";
    picker.title = picker.disabled ? t("snapshotNewestOnly") : "";
  }
  const target = main;
  try {
    const fresh = await getJson<SnapshotInfo[]>("snapshots");
    if (gen !== generation) return;
    if (fresh.length !== snapshots.length || fresh.some((s, i) => s.id !== snapshots[i]?.id)) {
      snapshots = fresh;
      const newPicker = snapshotPicker();
      newPicker.querySelector("select")!.disabled = screen === "audiences";
      app.querySelector(".snapshot-picker")?.replaceWith(newPicker);
    }
  } catch (err) {
    if (gen !== generation || !storedKey()) return;
    clear(target);
    target.append(errorBox(err, () => route()));
    return;
  }
  clear(target);
  const snapshot = chosenSnapshot();
  const info = snapshot === "latest" ? snapshots[snapshots.length - 1] : snapshots.find((s) => String(s.id) === snapshot);
  const ctx: ViewContext = {
    snapshot,
    snapshots,
    currency: info?.currency ?? "EUR",
    role: role ?? "viewer",
    params,
    alive: () => gen === generation,
    navigate: (hash) => {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
  };
  // Partners are about the collaboration, not a snapshot.
  if (snapshots.length === 0 && screen !== "partners") {
    target.append(noSnapshotBox(ctx, "noSnapshots"));
    return;
  }
  switch (screen) {
    case "distributions":
      return renderDistributions(target, ctx);
    case "migration":
      return renderMigration(target, ctx);
    case "profiles":
      return renderProfiles(target, ctx, rest.length ? decodeURIComponent(rest.join("/")) : null);
    case "audiences":
      return renderAudiences(target, ctx);
    case "partners":
      return renderPartners(target, ctx);
    case "segments":
    case "":
      return renderOverview(target, ctx);
    default:
      target.append(h("div", { class: "message notice" }, h("p", null, t("notFound"))));
  }
}

setUnauthorizedHandler(() => {
  storeKey(null);
  role = null;
  loginMessage = "keyExpired";
  renderLogin();
});
window.addEventListener("hashchange", () => {
  if (storedKey()) route();
});
setLang(lang());
if (storedKey()) renderShell();
else renderLogin();
