// Customer profiles: the list for a segment or an R×F cell (paged with next_cursor), the
// lookup of one pseudonym, and one profile. Needs an analyst key; a viewer key gets a 403,
// which is said in words, not shown as a failure.
// Privacy: shows pseudonyms and their aggregates only; nothing here is kept beyond the page.

import { getJson, normalizeProfile, type Profile, type ProfilePage, type SegmentReport } from "../api";
import { clear, h } from "../dom";
import { date, decimal, int, money } from "../format";
import { lang, t, type MessageKey } from "../i18n";
import { card, downloadButton, errorBox, loading, noticeBox, scrollTable, type ViewContext } from "./common";

const PAGE = 100;

// The columns the server sorts by (?sort= of /api/v1/profiles), by the label they carry.
const SORTS: { field: string; label: MessageKey }[] = [
  { field: "clv", label: "clv" },
  { field: "order_count", label: "orders" },
  { field: "recency_days", label: "recency" },
  { field: "avg_order_value", label: "aov" },
  { field: "last_order", label: "lastOrder" },
  { field: "first_order", label: "firstOrder" },
  { field: "r_score", label: "r" },
  { field: "f_score", label: "f" },
  { field: "m_score", label: "m" },
];
// A sort header the keyboard used, to be focused again once the sorted list is drawn.
let focusSortAfterRender: string | null = null;

function parseSort(value: string | null): { field: string; descending: boolean } | null {
  if (!value) return null;
  const descending = value.startsWith("-");
  const field = descending ? value.slice(1) : value;
  return SORTS.some((s) => s.field === field) ? { field, descending } : null;
}

// The listing's hash with another order (or none), keeping its segment or cell.
function sortHash(ctx: ViewContext, sort: string | null): string {
  const params = new URLSearchParams(ctx.params);
  if (sort) params.set("sort", sort);
  else params.delete("sort");
  return "#/profiles?" + params.toString();
}

// The order as a choice of its own: the column headers are not shown on a phone.
function sortPicker(ctx: ViewContext, current: string | null): HTMLElement {
  const select = h(
    "select",
    { id: "profiles-sort", name: "sort" },
    h("option", { value: "", selected: !current }, t("sortNone")),
    SORTS.flatMap(({ field, label }) => [
      h("option", { value: "-" + field, selected: current === "-" + field }, t("sortDescending", { field: t(label) })),
      h("option", { value: field, selected: current === field }, t("sortAscending", { field: t(label) })),
    ]),
  );
  select.addEventListener("change", () => ctx.navigate(sortHash(ctx, select.value || null)));
  return h("label", { class: "field inline", for: "profiles-sort" }, h("span", null, t("sortBy")), select);
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function profileHash(uuid: string): string {
  return "#/profiles/" + encodeURIComponent(uuid);
}

function lookupForm(ctx: ViewContext, value = ""): HTMLElement {
  const input = h("input", {
    id: "lookup-uuid",
    name: "uuid",
    type: "text",
    value,
    inputmode: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "0b6f1c2e-3a4b-5c6d-7e8f-9a0b1c2d3e4f",
    "aria-describedby": "lookup-error",
  });
  const error = h("p", { id: "lookup-error", class: "field-error", role: "alert" });
  const form = h(
    "form",
    { class: "lookup", id: "lookup-form" },
    h("label", { class: "field", for: "lookup-uuid" }, h("span", null, t("lookupLabel"))),
    h("div", { class: "input-row" }, input, h("button", { type: "submit" }, t("lookupButton"))),
    error,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const uuid = input.value.trim().toLowerCase();
    clear(error);
    if (!UUID.test(uuid)) {
      error.append(t("lookupInvalid"));
      input.focus();
      return;
    }
    ctx.navigate(profileHash(uuid));
  });
  return card(t("lookupTitle"), form);
}

// Profiles' own choice of segment (issue 17 #10): every segment of the snapshot, with its size.
function segmentPicker(ctx: ViewContext, current: string | null): HTMLElement {
  const select = h("select", { id: "profiles-segment", name: "segment" }, h("option", { value: "" }, "–"));
  select.disabled = true;
  getJson<SegmentReport>("segments", { snapshot: ctx.snapshot, lang: lang() }).then(
    (report) => {
      if (!ctx.alive()) return;
      for (const s of report.segments) {
        select.append(h("option", { value: s.key, selected: s.key === current }, `${s.group} (${int(s.uuid_count)})`));
      }
      select.disabled = false;
    },
    () => {},
  );
  select.addEventListener("change", () => {
    if (!select.value) return;
    const sort = parseSort(ctx.params.get("sort"));
    const order = sort ? `&sort=${sort.descending ? "-" : ""}${sort.field}` : "";
    ctx.navigate("#/profiles?segment=" + encodeURIComponent(select.value) + order);
  });
  return h("label", { class: "field inline", for: "profiles-segment" }, h("span", null, t("segment")), select);
}

export async function renderProfiles(main: HTMLElement, ctx: ViewContext, uuid: string | null): Promise<void> {
  if (uuid !== null) return renderProfile(main, ctx, uuid);

  const segment = ctx.params.get("segment");
  const r = ctx.params.get("r");
  const f = ctx.params.get("f");
  const head = h("div", { class: "page-head" }, h("div", null, h("h1", null, t("profilesTitle"))));
  main.append(head);
  if (ctx.role === "viewer") {
    // Said up front: a viewer key can neither list nor look up customers.
    const note = noticeBox(t("viewerProfiles"));
    note.id = "role-note";
    main.append(note);
    return;
  }
  if (!segment && !(r && f)) {
    main.append(noticeBox(t("lookupIntro")), h("div", { class: "toolbar" }, segmentPicker(ctx, null)), lookupForm(ctx));
    return;
  }

  const filter: Record<string, string | null> = segment
    ? { segment }
    : { r_min: r, r_max: r, f_min: f, f_max: f };
  const sort = parseSort(ctx.params.get("sort"));
  const sortParam = sort ? `${sort.descending ? "-" : ""}${sort.field}` : null;
  const base = { ...filter, sort: sortParam, snapshot: ctx.snapshot, lang: lang() };
  const status = loading();
  main.append(status);
  let page: ProfilePage;
  let title: string;
  try {
    page = await getJson<ProfilePage>("profiles", { ...base, limit: PAGE });
    if (segment) {
      let name = page.items.length ? normalizeProfile(page.items[0] as unknown as Record<string, unknown>).group : null;
      if (!name) {
        const report = await getJson<SegmentReport>("segments", { snapshot: ctx.snapshot, lang: lang() });
        name = report.segments.find((s) => s.key === segment || s.group === segment)?.group ?? segment;
      }
      title = t("profilesOfSegment", { segment: name });
    } else {
      title = t("profilesOfCell", { r: r!, f: f! });
    }
  } catch (err) {
    if (!ctx.alive()) return;
    status.replaceWith(errorBox(err, () => ctx.navigate(location.hash), { 403: "needsAnalyst" }));
    return;
  }
  if (!ctx.alive()) return;
  status.remove();
  clear(head);
  const count = h("p", { class: "muted", id: "profiles-count" });
  head.append(
    h("div", null, h("h1", { id: "profiles-title" }, title), count),
    downloadButton("profiles", base, `profiles-${segment ?? `r${r}-f${f}`}.csv`, { 403: "needsAnalyst" }),
  );

  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", id: "load-more" }, t("loadMore"));
  const moreStatus = h("div", { class: "more" }, more);
  let shown = 0;
  const add = (p: ProfilePage) => {
    for (const raw of p.items) {
      const item = normalizeProfile(raw as unknown as Record<string, unknown>);
      tbody.append(profileRow(item, !segment, ctx.currency));
    }
    shown += p.items.length;
    clear(count);
    count.append(t("profilesCount", { shown: int(shown), total: int(p.total) }));
    more.hidden = p.next_cursor === null;
    cursor = p.next_cursor;
  };
  let cursor: string | null = null;
  more.addEventListener("click", async () => {
    if (!cursor) return;
    more.disabled = true;
    try {
      const next = await getJson<ProfilePage>("profiles", { ...base, limit: PAGE, cursor });
      if (ctx.alive()) add(next);
    } catch (err) {
      if (ctx.alive()) moreStatus.append(errorBox(err));
    } finally {
      more.disabled = false;
    }
  });

  main.append(
    h("div", { class: "toolbar" }, segmentPicker(ctx, segment), sortPicker(ctx, sortParam)),
    card(
      null,
      page.total === 0
        ? noticeBox(t("empty"))
        : scrollTable(
            h("table", { class: "data profiles-table stack-on-phone", id: "profiles-table" }, profileHead(!segment, ctx, sort), tbody),
            t("profilesTitle"),
          ),
      moreStatus,
    ),
    lookupForm(ctx),
  );
  add(page);
  if (focusSortAfterRender) {
    main.querySelector<HTMLButtonElement>(`button[data-sort="${focusSortAfterRender}"]`)?.focus();
    focusSortAfterRender = null;
  }
}

function profileLabels(withSegment: boolean): string[] {
  return [
    t("pseudonym"),
    ...(withSegment ? [t("segment")] : []),
    t("r"),
    t("f"),
    t("m"),
    t("orders"),
    t("clv"),
    t("aov"),
    `${t("recency")} (${t("days")})`,
    t("firstOrder"),
    t("lastOrder"),
  ];
}

// The sortable columns' heads are buttons (the keyboard reaches them); the sorted one says so
// with aria-sort. A first click sorts descending (highest CLV first), a second ascending.
function profileHead(withSegment: boolean, ctx: ViewContext, sort: { field: string; descending: boolean } | null): HTMLElement {
  const fields = [null, ...(withSegment ? [null] : []), "r_score", "f_score", "m_score", "order_count", "clv", "avg_order_value", "recency_days", "first_order", "last_order"];
  const th = (text: string, i: number) => {
    const field = fields[i];
    const numeric = i > (withSegment ? 1 : 0);
    if (!field) return h("th", { scope: "col", class: numeric ? "num" : null }, text);
    const sorted = sort?.field === field ? sort : null;
    const button = h(
      "button",
      { type: "button", class: "sort-button", "data-sort": field, title: t("sortColumn", { field: text }) },
      text,
    );
    button.addEventListener("click", () => {
      focusSortAfterRender = field;
      ctx.navigate(sortHash(ctx, sorted?.descending ? field : "-" + field));
    });
    return h(
      "th",
      { scope: "col", class: numeric ? "num sortable" : "sortable", "aria-sort": sorted ? (sorted.descending ? "descending" : "ascending") : "none" },
      button,
    );
  };
  return h("thead", null, h("tr", null, profileLabels(withSegment).map((l, i) => th(l, i))));
}

function profileRow(p: Profile, withSegment: boolean, currency: string): HTMLElement {
  // On a phone each row is a card of label and value (data-label), so no column is lost.
  const labels = profileLabels(withSegment).slice(withSegment ? 2 : 1);
  let i = 0;
  const td = (text: string) => h("td", { class: "num", "data-label": labels[i++] }, text);
  return h(
    "tr",
    { "data-uuid": p.uuid },
    h("td", { class: "uuid", "data-label": t("pseudonym") }, h("a", { href: profileHash(p.uuid) }, p.uuid)),
    withSegment ? h("td", { "data-label": t("segment") }, p.group) : null,
    td(String(p.r)),
    td(String(p.f)),
    td(String(p.m)),
    td(int(p.order_count)),
    td(money(p.clv, currency)),
    td(money(p.avg_order_value, currency)),
    td(int(p.recency_days)),
    td(date(p.first_order)),
    td(date(p.last_order)),
  );
}

async function renderProfile(main: HTMLElement, ctx: ViewContext, uuid: string): Promise<void> {
  main.append(h("div", { class: "page-head" }, h("div", null, h("h1", null, t("profileTitle")))));
  const status = loading();
  main.append(status);
  let p: Profile;
  try {
    p = normalizeProfile(
      await getJson<Record<string, unknown>>("profiles/" + encodeURIComponent(uuid), {
        snapshot: ctx.snapshot,
        lang: lang(),
      }),
    );
  } catch (err) {
    if (!ctx.alive()) return;
    status.replaceWith(errorBox(err, undefined, { 403: "needsAnalyst", 404: "lookupNotFound" }), lookupForm(ctx, uuid));
    return;
  }
  if (!ctx.alive()) return;
  const row = (label: string, value: Node | string) => [h("dt", null, label), h("dd", null, value)];
  status.replaceWith(
    card(
      null,
      h(
        "dl",
        { class: "profile", id: "profile-detail" },
        row(t("pseudonym"), h("code", { class: "uuid" }, p.uuid)),
        row(t("segment"), h("a", { href: "#/profiles?segment=" + encodeURIComponent(p.segment) }, p.group)),
        row(t("scores"), `${p.r} / ${p.f} / ${p.m}`),
        row(t("orders"), int(p.order_count)),
        row(t("clv"), money(p.clv, ctx.currency)),
        row(t("aov"), money(p.avg_order_value, ctx.currency)),
        row(t("recency"), t("daysUnit", { n: int(p.recency_days) })),
        row(t("firstOrder"), date(p.first_order)),
        row(t("lastOrder"), date(p.last_order)),
        p.p_alive !== undefined ? row(t("pAlive"), p.p_alive === null ? "–" : decimal(p.p_alive, 2)) : [],
        p.expected_purchases !== undefined
          ? row(t("expectedPurchases"), p.expected_purchases === null ? "–" : decimal(p.expected_purchases, 2))
          : [],
        p.predicted_clv !== undefined ? row(t("predictedClv"), money(p.predicted_clv, ctx.currency)) : [],
      ),
    ),
    lookupForm(ctx),
  );
}
