// Segment migration between two snapshots (the two newest unless chosen): a from × to matrix
// with totals, and the four movements in one line each.

import { ApiError, getJson, type Migration, type SegmentReport, type SnapshotInfo } from "../api";
import { clear, h } from "../dom";
import { date, int, windowLength } from "../format";
import { lang, t } from "../i18n";
import { contrastText } from "../contrast";
import { card, downloadButton, errorBox, loading, noSnapshotBox, scrollTable, type ViewContext } from "./common";

function snapshotLabel(s: SnapshotInfo): string {
  return `#${s.id} · ${date(s.as_of)} · ${windowLength(s.window.length)}`;
}

export async function renderMigration(main: HTMLElement, ctx: ViewContext): Promise<void> {
  if (ctx.snapshots.length < 2) {
    main.append(pageHead(), noSnapshotBox(ctx, "migrationNeedsTwo"));
    return;
  }
  const from = ctx.params.get("from");
  const to = ctx.params.get("to");
  const pair = from && to ? { from, to } : {};
  main.append(loading());
  let m: Migration;
  let report: SegmentReport | null = null;
  try {
    m = await getJson<Migration>("migration", { ...pair, lang: lang() });
    // For the rule order of the segments (the moves only name them).
    report = await getJson<SegmentReport>("segments", { snapshot: m.to.id, lang: lang() }).catch(() => null);
  } catch (err) {
    if (!ctx.alive()) return;
    clear(main);
    main.append(pageHead());
    if (err instanceof ApiError && err.status === 404 && !from) main.append(noSnapshotBox(ctx, "migrationNeedsTwo"));
    else main.append(errorBox(err, () => ctx.navigate(location.hash)));
    return;
  }
  if (!ctx.alive()) return;
  clear(main);

  // Rows and columns: the segments in rule order, then any the moves name beyond them.
  const order: string[] = report ? report.segments.map((s) => s.key) : [];
  const names = new Map<string, string>(report ? report.segments.map((s) => [s.key, s.group]) : []);
  for (const mv of m.moves) {
    for (const [k, g] of [
      [mv.from_key, mv.from_group],
      [mv.to_key, mv.to_group],
    ] as const) {
      if (k !== null && !names.has(k)) {
        names.set(k, g ?? k);
        order.push(k);
      }
    }
  }
  const NONE = "";
  const count = new Map<string, number>();
  const cellKey = (a: string | null, b: string | null) => `${a ?? NONE}\u0000${b ?? NONE}`;
  let stayed = 0, moved = 0, joined = 0, left = 0;
  for (const mv of m.moves) {
    count.set(cellKey(mv.from_key, mv.to_key), (count.get(cellKey(mv.from_key, mv.to_key)) ?? 0) + mv.customers);
    if (mv.from_key === null) joined += mv.customers;
    else if (mv.to_key === null) left += mv.customers;
    else if (mv.from_key === mv.to_key) stayed += mv.customers;
    else moved += mv.customers;
  }
  const rowKeys: (string | null)[] = [...order, null];
  const colKeys: (string | null)[] = [...order, null];
  const max = Math.max(1, ...[...count.values()]);

  const picker = (name: "from" | "to", value: number) => {
    const select = h(
      "select",
      { id: `migration-${name}`, name },
      ctx.snapshots.map((s) => h("option", { value: s.id, selected: s.id === value }, snapshotLabel(s))),
    );
    return h("label", { class: "field inline" }, h("span", null, t(name === "from" ? "migrationFrom" : "migrationTo")), select);
  };
  const fromPicker = picker("from", m.from.id);
  const toPicker = picker("to", m.to.id);
  const apply = () => {
    const f = (fromPicker.querySelector("select") as HTMLSelectElement).value;
    const tt = (toPicker.querySelector("select") as HTMLSelectElement).value;
    ctx.navigate(`#/migration?from=${f}&to=${tt}`);
  };
  fromPicker.addEventListener("change", apply);
  toPicker.addEventListener("change", apply);

  const header = h(
    "tr",
    null,
    h("th", { scope: "col", class: "corner" }, `${t("migrationFrom")} ↓ / ${t("migrationTo")} →`),
    // Upright column heads: German names ("Vielversprechende") do not fit beside each other.
    colKeys.map((k) => h("th", { scope: "col", class: "num col-head" }, h("span", null, k === null ? t("migrationLeft") : names.get(k)!))),
    h("th", { scope: "col", class: "num total" }, t("total")),
  );
  const colTotals = colKeys.map(() => 0);
  const body = rowKeys.map((rk) => {
    let rowTotal = 0;
    const cells = colKeys.map((ck, j) => {
      const n = count.get(cellKey(rk, ck)) ?? 0;
      rowTotal += n;
      colTotals[j] += n;
      if (rk === null && ck === null) return h("td", { class: "num void" }, "");
      // The accent blue over white, stronger for more customers; the text takes whichever of
      // dark or white reads better on it. At most 70 % blue, where dark text still has 4.9:1
      // (WCAG AA asks 4.5:1): darker cells would have neither colour reach it.
      const strength = n === 0 ? 0 : 0.08 + 0.62 * Math.sqrt(n / max);
      const bg = [78, 121, 167].map((c) => Math.round(255 - strength * (255 - c)));
      return h(
        "td",
        {
          class: "num" + (rk !== null && rk === ck ? " diagonal" : ""),
          style: n === 0 ? null : `background: rgb(${bg.join(", ")}); color: ${contrastText(bg)}`,
          title: `${rk === null ? t("migrationNew") : names.get(rk)} → ${ck === null ? t("migrationLeft") : names.get(ck)}: ${int(n)}`,
        },
        n === 0 ? "·" : int(n),
      );
    });
    return h(
      "tr",
      null,
      h("th", { scope: "row" }, rk === null ? t("migrationNew") : names.get(rk)!),
      cells,
      h("td", { class: "num total" }, int(rowTotal)),
    );
  });
  const footer = h(
    "tr",
    { class: "total" },
    h("th", { scope: "row" }, t("total")),
    colTotals.map((n) => h("td", { class: "num total" }, int(n))),
    h("td", { class: "num total" }, int(colTotals.reduce((a, b) => a + b, 0))),
  );

  main.append(
    pageHead(
      downloadButton(
        "migration",
        { ...pair, lang: lang() },
        `migration-${m.from.id}-${m.to.id}.csv`,
      ),
    ),
    h("div", { class: "toolbar" }, fromPicker, toPicker),
    h(
      "div",
      { class: "kpis" },
      summary(t("stayed"), stayed),
      summary(t("moved"), moved),
      summary(t("joined"), joined),
      summary(t("left"), left),
    ),
    card(
      null,
      h("p", { class: "muted" }, t("migrationRowsCaption", { from: `#${m.from.id} (${date(m.from.as_of)})`, to: `#${m.to.id} (${date(m.to.as_of)})` })),
      scrollTable(
        h("table", { class: "data matrix", id: "migration-matrix" }, h("thead", null, header), h("tbody", null, body, footer)),
        t("migrationTitle"),
      ),
    ),
  );
}

function pageHead(action: HTMLElement | null = null): HTMLElement {
  return h(
    "div",
    { class: "page-head" },
    h("div", null, h("h1", null, t("migrationTitle")), h("p", { class: "muted" }, t("migrationIntro"))),
    action,
  );
}

function summary(label: string, n: number): HTMLElement {
  return h("div", { class: "kpi" }, h("div", { class: "kpi-label" }, label), h("div", { class: "kpi-value" }, int(n)));
}
