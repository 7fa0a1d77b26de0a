// Saved audiences: the list with each one's current size, its history on demand, save and
// update (analyst key), delete after a confirmation, CSV export of the members' pseudonyms
// (analyst key; the data owner's minimum size applies and a refusal says so in words), and the
// overlap of two or more.
// Privacy: an export is handed to the browser as a file and not kept by the page.

import {
  ApiError,
  getBlob,
  getJson,
  sendJson,
  type AudienceDetail,
  type OverlapReport,
  type SavedAudience,
} from "../api";
import { clear, h } from "../dom";
import { date, int, percent } from "../format";
import { t, type MessageKey } from "../i18n";
import type { Builder } from "./audiences";
import { errorMessage, noticeBox, type ViewContext } from "./common";

const EVENT_LABELS: Record<string, MessageKey> = {
  saved: "eventSaved",
  updated: "eventUpdated",
  exported: "eventExported",
  deleted: "eventDeleted",
};

function audiencePath(name: string, rest = ""): string {
  return "audiences/" + encodeURIComponent(name) + rest;
}

// A 403 without a size is the key's role; a refusal for the minimum size carries numbers.
function exportRefusal(err: ApiError): string | null {
  const size = err.details.size;
  const minimum = err.details.minimum ?? err.details.min_export_size;
  if (typeof size === "number" && typeof minimum === "number") {
    return t("exportTooSmall", { size: int(size), minimum: int(minimum) });
  }
  const m = /(\d[\d,]*) customers?.*?minimum export size (\d[\d,]*)/i.exec(err.message);
  if (m) return t("exportTooSmall", { size: m[1], minimum: m[2] });
  if (err.status === 409 || /minimum/i.test(err.message)) return t("exportRefused", { message: err.message });
  return null;
}

function roleMessage(err: unknown, action: MessageKey): string {
  if (err instanceof ApiError && err.status === 403) return t("needsAnalystFor", { action: t(action) });
  return errorMessage(err);
}

export function savedAudiences(ctx: ViewContext, builder: Builder, initial: SavedAudience[]): HTMLElement {
  let audiences = initial;
  const selected = new Set<string>();
  // A viewer key counts but may not save, export or delete: those buttons are off from the
  // start, and a note says why and how to get an analyst key.
  const mayWrite = ctx.role !== "viewer";
  const roleNote = mayWrite ? null : noticeBox(t("viewerAudienceActions"));
  if (roleNote) roleNote.id = "audience-role-note";

  // Save / update the expression in the editor.
  const name = h("input", {
    id: "audience-name",
    name: "name",
    type: "text",
    maxlength: 100,
    autocomplete: "off",
    required: true,
    disabled: !mayWrite,
    "aria-describedby": mayWrite ? "save-status" : "save-status audience-role-note",
  });
  const saveButton = h(
    "button",
    { type: "submit", id: "save-audience", disabled: !mayWrite, "aria-describedby": mayWrite ? null : "audience-role-note" },
    t("saveAudience"),
  );
  const saveStatus = h("p", { id: "save-status", class: "save-status", role: "status" });
  const existing = () => audiences.find((a) => a.name === name.value.trim());
  const labelSave = () => {
    saveButton.textContent = existing() ? t("updateAudience") : t("saveAudience");
  };
  name.addEventListener("input", labelSave);
  const saveForm = h(
    "form",
    { id: "save-form", class: "save-form", novalidate: true },
    h("label", { class: "field", for: "audience-name" }, h("span", null, t("audienceName"))),
    h("div", { class: "input-row" }, name, saveButton),
    saveStatus,
  );
  const say = (el: HTMLElement, text: string, kind: "ok" | "error" = "ok") => {
    clear(el);
    el.dataset.kind = kind;
    el.append(text);
  };
  saveForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    const expression = builder.expression();
    if (!n) {
      say(saveStatus, t("nameMissing"), "error");
      name.focus();
      return;
    }
    if (!expression) {
      say(saveStatus, t("expressionMissing"), "error");
      return;
    }
    const old = existing();
    const update = old !== undefined;
    // Saving over an existing name asks first, as deleting does.
    if (old && !(await dialog.ask(t("replaceQuestion", { name: n }), t("replaceExplain", { old: old.expression, expression }), t("replace")))) {
      return;
    }
    saveButton.disabled = true;
    say(saveStatus, t("saving"));
    try {
      const res = update
        ? await sendJson<{ size: number }>("PUT", audiencePath(n), { expression })
        : await sendJson<{ size: number }>("POST", "audiences", { name: n, expression });
      say(saveStatus, t(update ? "updatedAudience" : "savedAudience", { name: n, size: int(res?.size ?? 0) }));
      await refresh();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        // Saved meanwhile (another tab): offer to replace it.
        await refresh();
        say(saveStatus, t("nameTaken", { name: n }), "error");
      } else if (err instanceof ApiError && err.status === 404) {
        // Deleted meanwhile: the button now saves it anew.
        await refresh();
        say(saveStatus, t("audienceGone", { name: n }), "error");
      } else if (err instanceof ApiError && err.status === 400) {
        say(saveStatus, t("saveInvalid", { message: err.message }), "error");
      } else {
        say(saveStatus, roleMessage(err, "actionSave"), "error");
      }
    } finally {
      saveButton.disabled = false;
      labelSave();
    }
  });

  const listBox = h("div", { class: "saved-list" });
  const overlapButton = h("button", { type: "button", id: "overlap-button", class: "secondary", disabled: true }, t("compareOverlap"));
  const overlapHint = h("span", { class: "muted small", id: "overlap-hint" }, t("overlapHint"));
  const overlapResult = h("div", { id: "overlap-result", "aria-live": "polite" });
  const updateOverlapButton = () => {
    for (const s of [...selected]) if (!audiences.some((a) => a.name === s)) selected.delete(s);
    overlapButton.disabled = selected.size < 2;
    overlapButton.textContent = t("compareOverlap") + (selected.size ? ` (${selected.size})` : "");
  };

  const dialog = confirmDialog();

  async function refresh(): Promise<void> {
    try {
      audiences = await getJson<SavedAudience[]>("audiences");
    } catch (err) {
      clear(listBox);
      listBox.append(h("p", { class: "field-error" }, errorMessage(err)));
      return;
    }
    if (!ctx.alive()) return;
    drawList();
    labelSave();

  }

  function drawList(): void {
    clear(listBox);
    updateOverlapButton();
    if (!audiences.length) {
      listBox.append(h("p", { class: "muted", id: "saved-empty" }, t("noSavedAudiences")));
      return;
    }
    const total = builder.schema.customers;
    const body = h("tbody");
    for (const a of audiences) {
      const rowId = `saved-${audiences.indexOf(a)}`;
      const check = h("input", {
        type: "checkbox",
        id: `${rowId}-select`,
        "aria-label": t("selectForOverlap", { name: a.name }),
        checked: selected.has(a.name),
        disabled: a.size === null,
      });
      check.addEventListener("change", () => {
        if (check.checked) selected.add(a.name);
        else selected.delete(a.name);
        updateOverlapButton();
      });
      const note = h("div", { class: "row-note", role: "status" });
      const historyRow = h("tr", { class: "history-row", hidden: true }, h("td", { colspan: 6 }, note));
      const open = h("button", { type: "button", class: "secondary small-button", "data-action": "open" }, t("openAudience"));
      open.addEventListener("click", () => {
        builder.setExpression(a.expression);
        name.value = a.name;
        labelSave();
        clear(saveStatus);
        document.getElementById("audience-expression")?.focus();
        window.scrollTo({ top: 0, behavior: "smooth" });
      });
      const history = h(
        "button",
        { type: "button", class: "secondary small-button", "data-action": "history", "aria-expanded": "false", "aria-controls": `${rowId}-note` },
        t("history"),
      );
      note.id = `${rowId}-note`;
      history.addEventListener("click", async () => {
        const show = history.getAttribute("aria-expanded") !== "true";
        history.setAttribute("aria-expanded", String(show));
        historyRow.hidden = !show;
        if (!show) return;
        clear(note);
        note.append(t("loading"));
        try {
          const detail = await getJson<AudienceDetail>(audiencePath(a.name));
          clear(note);
          note.append(historyTable(detail));
        } catch (err) {
          clear(note);
          note.append(h("p", { class: "field-error" }, errorMessage(err)));
        }
      });
      const off = { disabled: !mayWrite, "aria-describedby": mayWrite ? null : "audience-role-note" };
      const exportButton = h("button", { type: "button", class: "secondary small-button", "data-action": "export", ...off }, t("exportCsv"));
      exportButton.addEventListener("click", async () => {
        exportButton.disabled = true;
        historyRow.hidden = false;
        history.setAttribute("aria-expanded", "false");
        clear(note);
        note.className = "row-note";
        note.append(t("downloading"));
        try {
          const { blob, filename } = await getBlob(audiencePath(a.name, "/export"));
          const url = URL.createObjectURL(blob);
          const link = h("a", { href: url, download: filename ?? `${a.name}.csv`, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
          clear(note);
          note.append(t("exported", { name: a.name }));
        } catch (err) {
          clear(note);
          const refusal = err instanceof ApiError ? exportRefusal(err) : null;
          note.className = "row-note message notice";
          note.dataset.refused = refusal ? "size" : "other";
          note.append(refusal ?? roleMessage(err, "actionExport"));
        } finally {
          exportButton.disabled = false;
        }
      });
      const remove = h("button", { type: "button", class: "secondary small-button danger", "data-action": "delete", ...off }, t("delete"));
      remove.addEventListener("click", async () => {
        if (!(await dialog.ask(t("deleteQuestion", { name: a.name }), t("deleteExplain"), t("delete")))) return;
        try {
          await sendJson("DELETE", audiencePath(a.name));
          selected.delete(a.name);
          say(saveStatus, t("deletedAudience", { name: a.name }));
          await refresh();
        } catch (err) {
          historyRow.hidden = false;
          clear(note);
          note.className = "row-note message notice";
          note.append(roleMessage(err, "actionDelete"));
        }
      });
      body.append(
        h(
          "tr",
          { "data-name": a.name },
          h("td", { class: "check-col" }, check),
          h("th", { scope: "row", "data-user-text": "" }, h("label", { for: check.id }, a.name)),
          h(
            "td",
            { class: "num" },
            a.size === null
              ? h("span", { class: "field-error", title: a.error ?? "" }, t("noLongerValid"))
              : h("span", { class: "saved-size" }, int(a.size)),
            a.size !== null && total ? h("div", { class: "muted small" }, percent((100 * a.size) / total)) : null,
          ),
          h("td", { class: "expr-col" }, h("code", { class: "expr" }, a.expression), a.error ? h("div", { class: "field-error small" }, a.error) : null),
          h("td", { class: "wide-only" }, date(a.updated_at)),
          h("td", { class: "actions" }, h("div", { class: "action-row" }, open, history, exportButton, remove)),
        ),
        historyRow,
      );
    }
    listBox.append(
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "data saved-table", id: "saved-audiences" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              h("th", { scope: "col", class: "check-col" }, h("span", { class: "visually-hidden" }, t("select"))),
              h("th", { scope: "col" }, t("audienceName")),
              h("th", { scope: "col", class: "num" }, t("customers")),
              h("th", { scope: "col" }, t("expression")),
              h("th", { scope: "col", class: "wide-only" }, t("updated")),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("actions"))),
            ),
          ),
          body,
        ),
      ),
    );
  }

  overlapButton.addEventListener("click", async () => {
    const chosen = audiences.filter((a) => selected.has(a.name));
    if (chosen.length < 2) return;
    overlapButton.disabled = true;
    clear(overlapResult);
    overlapResult.append(h("p", { class: "loading" }, t("loading")));
    try {
      const report = await sendJson<OverlapReport>("POST", "audiences/overlap", {
        expressions: chosen.map((a) => a.expression),
      });
      clear(overlapResult);
      if (report) overlapResult.append(overlapTable(chosen.map((a) => a.name), report));
    } catch (err) {
      clear(overlapResult);
      overlapResult.append(h("p", { class: "field-error" }, errorMessage(err)));
    } finally {
      updateOverlapButton();
    }
  });

  drawList();
  labelSave();
  return h(
    "section",
    { class: "card saved", "aria-labelledby": "saved-title" },
    h("h2", { id: "saved-title" }, t("savedAudiences")),
    roleNote,
    saveForm,
    listBox,
    h("div", { class: "overlap-bar" }, overlapButton, overlapHint),
    overlapResult,
    dialog.element,
  );
}

function historyTable(detail: AudienceDetail): HTMLElement {
  const events = [...detail.history].reverse();  // newest first
  return h(
    "table",
    { class: "data history-table" },
    h("caption", null, t("historyOf", { name: detail.name })),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, t("when")),
        h("th", { scope: "col" }, t("event")),
        h("th", { scope: "col", class: "num" }, t("customers")),
        h("th", { scope: "col", class: "num" }, t("snapshot")),
        h("th", { scope: "col" }, t("expression")),
      ),
    ),
    h(
      "tbody",
      null,
      events.map((e) =>
        h(
          "tr",
          null,
          h("td", null, dateTime(e.at)),
          h("td", null, EVENT_LABELS[e.event] ? t(EVENT_LABELS[e.event]) : e.event),
          h("td", { class: "num" }, int(e.size)),
          h("td", { class: "num" }, "#" + e.snapshot_id),
          h("td", { class: "expr-col" }, h("code", { class: "expr" }, e.expression)),
        ),
      ),
    ),
  );
}

function dateTime(iso: string): string {
  const time = /T(\d\d:\d\d)/.exec(iso);
  return date(iso.slice(0, 10)) + (time ? " " + time[1] : "");
}

// Pairs as a matrix (the diagonal is each audience's size), then in all and in any.
function overlapTable(names: string[], report: OverlapReport): HTMLElement {
  const n = names.length;
  const cell = (i: number, k: number): number =>
    i === k
      ? report.audiences[i].size
      : report.pairs.find((p) => (p.a === i + 1 && p.b === k + 1) || (p.a === k + 1 && p.b === i + 1))?.customers ?? 0;
  const table = h(
    "table",
    { class: "data matrix overlap-table", id: "overlap-table" },
    h("caption", null, t("overlapCaption")),
    h(
      "thead",
      null,
      h("tr", null, h("th", { scope: "col", class: "corner" }, ""), names.map((name) => h("th", { scope: "col" }, name))),
    ),
    h(
      "tbody",
      null,
      names.map((name, i) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, name),
          Array.from({ length: n }, (_, k) => {
            const v = cell(i, k);
            const base = report.audiences[i].size;
            return h(
              "td",
              { class: "num" + (i === k ? " diagonal" : "") },
              int(v),
              i !== k && base ? h("div", { class: "muted small" }, t("ofRow", { share: percent((100 * v) / base) })) : null,
            );
          }),
        ),
      ),
    ),
  );
  return h(
    "div",
    { class: "overlap" },
    h("div", { class: "table-scroll" }, table),
    h(
      "p",
      { class: "overlap-summary" },
      h("span", { id: "overlap-all" }, t("inAll", { n: int(report.in_all) })),
      " · ",
      h("span", { id: "overlap-any" }, t("inAny", { n: int(report.in_any) })),
    ),
  );
}

// A modal question with Cancel (focused) and a destructive confirm; Escape cancels.
function confirmDialog(): {
  element: HTMLElement;
  ask: (question: string, detail: string, confirm: string) => Promise<boolean>;
} {
  const title = h("h2", { id: "confirm-title" });
  const detail = h("p", { class: "muted", id: "confirm-detail" });
  const cancel = h("button", { type: "button", class: "secondary", id: "confirm-cancel" }, t("cancel"));
  const ok = h("button", { type: "button", class: "danger-solid", id: "confirm-ok" }, t("delete"));
  const dialog = h(
    "dialog",
    { class: "confirm", id: "confirm-dialog", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-detail" },
    title,
    detail,
    h("div", { class: "dialog-actions" }, cancel, ok),
  );
  let resolve: ((yes: boolean) => void) | null = null;
  const close = (yes: boolean) => {
    if (dialog.open) dialog.close();
    resolve?.(yes);
    resolve = null;
  };
  cancel.addEventListener("click", () => close(false));
  ok.addEventListener("click", () => close(true));
  dialog.addEventListener("close", () => close(false));
  return {
    element: dialog,
    ask: (question, text, confirm) => {
      title.textContent = question;
      detail.textContent = text;
      ok.textContent = confirm;
      const opener = document.activeElement as HTMLElement | null;
      dialog.showModal();
      cancel.focus();
      return new Promise((r) => {
        resolve = (yes) => {
          r(yes);
          if (!yes) opener?.focus();
        };
      });
    },
  };
}
