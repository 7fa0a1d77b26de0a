// A searchable category picker for thousands of categories: the server searches
// (/audiences/categories?q=), the list is an ARIA combobox (arrow keys, Enter, Escape), each
// match shows its name, path and buyers, and choosing one adds
// `bought("<path>", within=<window>)` (see boughtClause).

import { getJson, isAbort, type AudienceSchema, type CategorySearch } from "../api";
import { clear, h } from "../dom";
import { int, windowLength } from "../format";
import { t, type MessageKey } from "../i18n";
import { errorMessage } from "./common";
import { quote } from "./expression";

export function boughtClause(path: string, within: string): string {
  return `bought(${quote(path)}${within ? `, within=${within}` : ""})`;
}

const SEARCH_DELAY_MS = 150;
const LIMIT = 50;

export function windowLabel(w: string): string {
  const m = /^(\d+)([dwm])$/.exec(w);
  if (!m) return w;
  const key: MessageKey = m[2] === "d" ? "lastDays" : m[2] === "w" ? "lastWeeks" : "lastMonths";
  return t(key, { n: m[1] });
}

// `pick` gets the chosen path and window ("" for the whole window).
// `example` is a category of the data itself, for the placeholder.
export function categoryPicker(
  schema: AudienceSchema,
  pick: (path: string, within: string) => void,
  example: string | null,
): HTMLElement {
  const input = h("input", {
    id: "category-search",
    type: "text",
    role: "combobox",
    autocomplete: "off",
    spellcheck: "false",
    "aria-autocomplete": "list",
    "aria-expanded": "false",
    "aria-controls": "category-list",
    "aria-describedby": "category-status",
    placeholder: example ? t("categoryPlaceholder", { example: example.toLowerCase() }) : null,
  });
  const list = h("ul", { id: "category-list", class: "combo-list", role: "listbox", "aria-label": t("categories"), hidden: true });
  const status = h("p", { id: "category-status", class: "muted small", role: "status" });
  const windowSelect = h(
    "select",
    { id: "category-window" },
    schema.windows.map((w) => h("option", { value: w }, windowLabel(w))),
    h("option", { value: "" }, t("wholeWindow", { window: windowLength(schema.window) })),
  );
  windowSelect.value = schema.windows.includes("90d") ? "90d" : schema.windows[0] ?? "";

  let matches: CategorySearch["categories"] = [];
  let active = -1;
  let timer: number | undefined;
  let controller: AbortController | null = null;
  let searched: string | null = null;

  const open = (yes: boolean) => {
    list.hidden = !yes || matches.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
  };
  const setActive = (i: number) => {
    active = i;
    list.querySelectorAll("[role=option]").forEach((el, k) => el.setAttribute("aria-selected", String(k === i)));
    if (i >= 0) {
      input.setAttribute("aria-activedescendant", `category-option-${i}`);
      list.children[i]?.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };
  const choose = (i: number) => {
    const c = matches[i];
    if (!c) return;
    pick(c.path, windowSelect.value);
    clear(status);
    status.append(t("categoryAdded", { path: c.path }));
    open(false);
    input.select();
  };

  const highlight = (text: string, q: string): (Node | string)[] => {
    const i = q ? text.toLowerCase().indexOf(q.toLowerCase()) : -1;
    if (i < 0) return [text];
    return [text.slice(0, i), h("mark", null, text.slice(i, i + q.length)), text.slice(i + q.length)];
  };

  const search = async () => {
    const q = input.value.trim();
    if (q === searched && matches.length) {
      open(true);
      return;
    }
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    // The shown results are of another query now: nothing is active until the new ones come.
    setActive(-1);
    list.setAttribute("aria-busy", "true");
    clear(status);
    status.append(t("searching"));
    try {
      const res = await getJson<CategorySearch>("audiences/categories", { q, limit: LIMIT }, undefined, mine.signal);
      if (mine.signal.aborted) return;
      searched = q;
      matches = res.categories;
      clear(list);
      list.dataset.query = q;
      list.removeAttribute("aria-busy");
      matches.forEach((c, i) => {
        const item = h(
          "li",
          { id: `category-option-${i}`, role: "option", "aria-selected": "false", "data-path": c.path },
          h("span", { class: "cat-name" }, highlight(c.name, q)),
          h("span", { class: "cat-count" }, t("buyers", { n: int(c.customers) })),
          h("span", { class: "cat-path" }, highlight(c.path, q)),
        );
        // mousedown, not click: the input keeps the focus.
        item.addEventListener("mousedown", (e) => {
          e.preventDefault();
          choose(i);
        });
        list.append(item);
      });
      setActive(matches.length ? 0 : -1);
      clear(status);
      status.append(
        matches.length === 0
          ? t("categoryNone", { q })
          : res.total > matches.length
            ? t("categorySome", { shown: int(matches.length), total: int(res.total) })
            : q
              ? t("categoryAll", { total: int(res.total) })
              : t("categoryTop", { total: int(res.total) }),
      );
      open(document.activeElement === input);
    } catch (err) {
      if (isAbort(err) || mine.signal.aborted) return;
      clear(status);
      status.append(errorMessage(err));
    } finally {
      if (controller === mine) controller = null;
    }
  };

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(search, SEARCH_DELAY_MS);
  });
  input.addEventListener("focus", () => {
    if (input.value.trim() !== searched) search();
    else open(true);
  });
  input.addEventListener("blur", () => open(false));
  input.addEventListener("keydown", (e) => {
    const n = matches.length;
    switch (e.key) {
      case "ArrowDown":
        e.preventDefault();
        if (list.hidden) open(true);
        else if (n) setActive((active + 1) % n);
        break;
      case "ArrowUp":
        e.preventDefault();
        if (n) setActive((active - 1 + n) % n);
        break;
      case "Enter":
        e.preventDefault();
        // Not a match of an older text (the search for this one is under way).
        if (!list.hidden && active >= 0 && input.value.trim() === searched) choose(active);
        else {
          window.clearTimeout(timer);
          search();
        }
        break;
      case "Escape":
        if (!list.hidden) {
          e.preventDefault();
          open(false);
        }
        break;
    }
  });

  return h(
    "div",
    null,
    h("p", { class: "muted small" }, t("categoryHelp")),
    h(
      "div",
      { class: "category-row" },
      h(
        "div",
        { class: "combo" },
        h("label", { class: "field", for: "category-search" }, h("span", null, t("categorySearch"))),
        input,
        list,
      ),
      h("label", { class: "field", for: "category-window" }, h("span", null, t("boughtWithin")), windowSelect),
    ),
    status,
  );
}
