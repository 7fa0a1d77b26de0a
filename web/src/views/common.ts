// Pieces every screen uses: the context a screen renders in, loading and error states, and
// the CSV download button.

import { ApiError, getBlob, sendJson, type KeyRole, type SnapshotInfo } from "../api";
import { clear, h } from "../dom";
import { rich } from "../format";
import { t, type MessageKey } from "../i18n";

export interface ViewContext {
  // "latest" or a snapshot id, as the header's picker says.
  snapshot: string;
  snapshots: SnapshotInfo[];
  // The chosen snapshot's currency (profiles carry money as decimal strings without one).
  currency: string;
  // What the key may do: screens show it up front rather than after a refused click.
  role: KeyRole;
  params: URLSearchParams;
  // False once the user has moved on: a late answer must not draw into the new screen.
  alive: () => boolean;
  navigate: (hash: string) => void;
}

export function loading(): HTMLElement {
  return h("p", { class: "loading", role: "status" }, t("loading"));
}

// The message for a failed request; `special` maps statuses to friendlier screen-specific text.
export function errorMessage(err: unknown, special: Partial<Record<number, MessageKey>> = {}): string {
  if (err instanceof ApiError) {
    const key = special[err.status];
    if (key) return t(key);
    if (err.status === 0) return t("unreachable");
    if (err.status === 401) return t("keyExpired");
    return `${t("errorPrefix")} (${err.status}): ${err.message}`;
  }
  return String(err);
}

export function errorBox(
  err: unknown,
  retry?: () => void,
  special: Partial<Record<number, MessageKey>> = {},
): HTMLElement {
  const status = err instanceof ApiError ? err.status : -1;
  const kind = status === 403 ? "notice" : status === 404 ? "notice" : "error";
  return h(
    "div",
    { class: `message ${kind}`, role: kind === "error" ? "alert" : "status", "data-status": status },
    h("p", null, rich(errorMessage(err, special))),
    retry && status !== 403 && status !== 404
      ? h("button", { type: "button", class: "secondary", onclick: () => retry() }, t("retry"))
      : null,
  );
}

export function noticeBox(text: string): HTMLElement {
  return h("div", { class: "message notice", role: "status" }, h("p", null, rich(text)));
}

// What a screen says when it needs a (further) snapshot; an admin keeps one from here
// (POST /api/v1/snapshots with the server's default window and as-of date, as the CLI has them).
export function noSnapshotBox(ctx: ViewContext, message: MessageKey): HTMLElement {
  const box = noticeBox(t(message));
  box.id = "no-snapshot";
  if (ctx.role !== "admin") return box;
  const status = h("p", { class: "keep-status", id: "keep-status", role: "status" });
  const keep = h("button", { type: "button", id: "keep-snapshot" }, t("keepSnapshot"));
  keep.addEventListener("click", async () => {
    keep.disabled = true;
    status.textContent = t("keepingSnapshot");
    try {
      await sendJson("POST", "snapshots", {});
      if (ctx.alive()) ctx.navigate(location.hash);
    } catch (err) {
      status.textContent = t("keepFailed", { message: errorMessage(err) });
      keep.disabled = false;
    }
  });
  box.append(h("div", { class: "keep-row" }, keep, status));
  return box;
}

// A wide table in a box that scrolls sideways: focusable and named (so keyboards can scroll
// it), with shadows at the edges that hide more columns and a line saying how many there are.
export function scrollTable(table: HTMLTableElement, name: string): HTMLElement {
  const hint = h("p", { class: "scroll-hint small", hidden: true, "aria-hidden": "true" });
  const box = h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("tableRegion", { name }) }, table);
  const update = () => {
    const over = box.scrollWidth - box.clientWidth > 1;
    box.dataset.overflow = over ? (box.scrollLeft + box.clientWidth >= box.scrollWidth - 1 ? "left" : box.scrollLeft > 0 ? "both" : "right") : "none";
    hint.hidden = !over;
    if (over) {
      // Columns whose right edge lies beyond the visible part.
      const right = box.getBoundingClientRect().right;
      const cells = [...(table.tHead?.rows[0]?.cells ?? [])];
      const hidden = cells.filter((c) => c.getBoundingClientRect().right > right + 1).length;
      hint.textContent = t("scrollHint", { n: hidden });
      hint.hidden = hidden === 0;
    }
  };
  box.addEventListener("scroll", update, { passive: true });
  new ResizeObserver(update).observe(box);
  return h("div", { class: "table-wrap" }, hint, box);
}

// Fetches with the key and saves the body as a file: a plain link cannot send the header.
// Two buttons: the standard CSV (comma, decimal point) and the German dialect that German Excel
// opens with a double click (`;`, decimal comma, German headers, UTF-8 byte order mark).
export function downloadButton(
  path: string,
  params: Record<string, string | number | null | undefined>,
  fallbackName: string,
  special: Partial<Record<number, MessageKey>> = {},
): HTMLElement {
  const status = h("span", { class: "download-status", role: "status" });
  const buttons: HTMLButtonElement[] = [];
  const button = (label: MessageKey, dialect: string | null): HTMLButtonElement => {
    const b = h(
      "button",
      { type: "button", class: "secondary download", "data-download": path, "data-dialect": dialect ?? "rfc4180" },
      t(label),
    ) as HTMLButtonElement;
    buttons.push(b);
    b.addEventListener("click", async () => {
      for (const other of buttons) other.disabled = true;
      clear(status);
      status.append(t("downloading"));
      try {
        const { blob, filename } = await getBlob(path, { ...params, format: "csv", dialect });
        const url = URL.createObjectURL(blob);
        const a = h("a", { href: url, download: filename ?? fallbackName, hidden: true });
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        clear(status);
      } catch (err) {
        clear(status);
        status.append(
          err instanceof ApiError && special[err.status]
            ? errorMessage(err, special)
            : t("downloadFailed", { message: errorMessage(err) }),
        );
      } finally {
        for (const other of buttons) other.disabled = false;
      }
    });
    return b;
  };
  return h(
    "span",
    { class: "download-wrap" },
    button("downloadCsv", null),
    button("downloadCsvExcelDe", "de"),
    status,
  );
}

export function card(title: string | null, ...children: (Node | null)[]): HTMLElement {
  return h("section", { class: "card" }, title ? h("h2", null, title) : null, children);
}
