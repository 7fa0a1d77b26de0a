// Browser tests of the dashboard as issue 17's German marketing analyst met it: every screen in
// English and German at 1400×900 and 390×844, with viewer, analyst and admin keys
// (tests/e2e/dashboard.sh runs this file beside dashboard.test.mjs, on the same server).
//
// Environment: those of dashboard.test.mjs (TESSERA_URL, TESSERA_VIEWER_KEY,
// TESSERA_ANALYST_KEY, TESSERA_BIN, TESSERA_STORE, TESSERA_KEY, TESSERA_ARTIFACT_DIR, CHROMIUM),
// and TESSERA_ADMIN_KEY; TESSERA_EMPTY_URL with TESSERA_EMPTY_ADMIN_KEY and
// TESSERA_EMPTY_VIEWER_KEY: a served store with orders and no snapshot, which this file alone
// uses (an admin keeps its first snapshot from the page).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { launchBrowser } from "./browser.mjs";
import { contrastFailures, pageOverflow, pageTexts, shownSize, uiStrings, untranslated } from "./page_checks.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.TESSERA_URL;
const keys = {
  viewer: process.env.TESSERA_VIEWER_KEY,
  analyst: process.env.TESSERA_ANALYST_KEY,
  admin: process.env.TESSERA_ADMIN_KEY,
};
const artifacts = process.env.TESSERA_ARTIFACT_DIR ?? os.tmpdir();
if (!base || !keys.viewer || !keys.analyst || !keys.admin) {
  throw new Error("set TESSERA_URL, TESSERA_VIEWER_KEY, TESSERA_ANALYST_KEY and TESSERA_ADMIN_KEY");
}
const tessera = process.env.TESSERA_BIN;
const cliSkip = tessera && process.env.TESSERA_STORE ? false : "TESSERA_BIN and TESSERA_STORE are not set";

const SIZES = {
  desktop: { width: 1400, height: 900 },
  phone: { width: 390, height: 844 },
};
const LANGS = ["en", "de"];
const LOCALE = { en: "en-GB", de: "de-DE" };

let browser;
let strings;
const pageErrors = [];

before(async () => {
  browser = await launchBrowser();
  strings = await uiStrings(path.join(here, "../../web/src/i18n.ts"));
});

after(async () => {
  await browser?.close();
});

// A page in `lang` (as the language switch leaves it) at `size`, without animations.
async function newPage(size, lang, url = base) {
  const context = await browser.newContext({ viewport: SIZES[size], locale: LOCALE[lang], reducedMotion: "reduce", acceptDownloads: true });
  await context.addInitScript((l) => localStorage.setItem("tessera.lang", l), lang);
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  page.baseUrl = url;
  return page;
}

async function login(page, key) {
  await page.goto(page.baseUrl);
  await page.fill("#api-key", key);
  await page.click("#sign-in");
  await page.waitForSelector("#key-role");
}

// Until the new screen replaces it, the one on screen may match `ready` too (the start page is
// Segments, so "#/segments" right after signing in renders it again): what matches before the
// hash changes is marked stale and not waited for.
async function go(page, hash, ready) {
  const [css, ...chained] = ready.split(" >> ");  // CSS, then playwright's own parts (nth=0)
  await page.evaluate(
    ({ h, selector }) => {
      if (location.hash !== h) for (const el of document.querySelectorAll(selector)) el.setAttribute("data-stale", "");
      location.hash = h;
    },
    { h: hash, selector: css },
  );
  await page.waitForSelector([`${css}:not([data-stale])`, ...chained].join(" >> "));
}

async function api(pathAndQuery, key = keys.analyst) {
  const res = await fetch(new URL(pathAndQuery, base), { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200, `${pathAndQuery}: ${res.status}`);
  return res.json();
}

function cli(...args) {
  return execFileSync(tessera, ["audience", ...args], { env: process.env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const charts = (...ids) => ids.map((id) => `${id}[data-chart="ready"] svg text`).join(", ");

// Every screen an analyst (or a viewer) sees, each drawn to the end; `visit` runs on each.
async function eachScreen(page, role, visit) {
  await go(page, "#/segments", `#segments-table tbody tr >> nth=0`);
  await page.waitForSelector(charts("#segments-chart"));
  await visit("segments");
  await go(page, "#/distributions", "#rf-heatmap");
  for (const id of ["#rf-heatmap", "#clv-histogram", "#recency-histogram"]) await page.waitForSelector(charts(id));
  await visit("distributions");
  await go(page, "#/migration", "#migration-matrix");
  await visit("migration");
  if (role === "viewer") {
    await go(page, "#/profiles", "#role-note");
    await visit("profiles");
  } else {
    await go(page, "#/profiles?segment=champions", "#profiles-table tbody tr");
    await visit("profiles of a segment");
    await page.click("#profiles-table tbody tr a");
    await page.waitForSelector("#profile-detail");
    await visit("a profile");
  }
  await go(page, "#/audiences", "#audience-expression");
  await page.fill("#audience-expression", 'segment = "champions"');
  await shownSize(page);
  for (const helper of ["category", "segment", "place", "number"]) {
    await page.click(`[data-helper="${helper}"]`);
    await visit(`audiences, helper ${helper}`);
  }
  // An expression error, as the parser writes it.
  await page.fill("#audience-expression", 'segment = "champions" and clvv > 100');
  await page.waitForSelector("#expression-error:not([hidden])");
  await visit("audiences with an error");
}

// --- Item 2: German throughout ---

test("every English interface string has a German one of its own", () => {
  // The same words in both languages, on purpose: names, letters and loanwords.
  const same = new Set([
    "appName", "dashboard", "segment", "pseudonym", "r", "f", "m", "clv", "scores", "helperSegment",
    "attrRegion", "histogramClvAxis", "audienceName", "partyName", "partner", "epsilonOptional", "auditEpsilon",
    "sourceKindShopify", "sourceKindWoocommerce",
  ]);
  assert.deepEqual(Object.keys(strings.de).sort(), Object.keys(strings.en).sort());
  const identical = Object.keys(strings.en).filter((k) => strings.de[k] === strings.en[k] && !same.has(k));
  assert.deepEqual(identical, [], "German strings that are the English ones");
  // The check below finds English in a page; it must find it where it is.
  assert.equal(untranslated([{ text: "unknown field 'clvv'", where: "p" }], strings).length, 1);
  assert.equal(untranslated([{ text: strings.en.staleCount, where: "p" }], strings).length, 1);
  assert.equal(untranslated([{ text: strings.de.staleCount, where: "p" }], strings).length, 0);
});

test("German: the sign-in screen, and a wrong key's refusal", async () => {
  const page = await newPage("phone", "de");
  await page.goto(base);
  await page.waitForSelector("#api-key");
  assert.deepEqual(untranslated(await pageTexts(page), strings), []);
  await page.fill("#api-key", "tsk_0000000000000000_" + "0".repeat(64));
  await page.click("#sign-in");
  await page.waitForSelector("#login-error:not(:empty)");
  assert.deepEqual(untranslated(await pageTexts(page), strings), []);
  assert.ok((await pageOverflow(page)) <= 0);
  await page.context().close();
});

for (const size of Object.keys(SIZES)) {
  for (const role of ["analyst", "viewer"]) {
    test(`German at ${SIZES[size].width}×${SIZES[size].height} for ${role === "analyst" ? "an" : "a"} ${role}: no English word on any screen, chart or error`, async () => {
      const page = await newPage(size, "de");
      await login(page, keys[role]);
      const found = [];
      await eachScreen(page, role, async (screen) => {
        for (const bad of untranslated(await pageTexts(page), strings)) found.push(`${screen}: ${bad}`);
      });
      assert.deepEqual(found, []);
      await page.context().close();
    });
  }
}

test("German: the parser's errors, the connectors and the charts' descriptions are German", async () => {
  const page = await newPage("desktop", "de");
  await login(page, keys.viewer);
  await go(page, "#/audiences", "#audience-expression");
  const top = (await api("api/v1/audiences/categories?limit=1", keys.viewer)).categories[0];
  // Each error as the page shows it once the count of that expression has come back.
  for (const [expression, want] of [
    ['segment = "champions" and clvv > 100', /^Spalte 27: unbekanntes Feld 'clvv' \(meinten Sie 'clv'\?\); Felder: segment, /],
    ['segment = "VIP"', /^Spalte 11: unbekanntes Segment "VIP" \(meinten Sie 'VIPs'\?\); Segmente: champions, /],
    ["clv >", /^Spalte 6: erwartet: eine Zahl, gefunden: Ende des Ausdrucks$/],
    ["clv > 1 &", /^Spalte 9: unerwartetes Zeichen: erwartet wird ein Feld, ein Wert, ein Operator, '\(' oder '\)'$/],
    [`bought(${JSON.stringify(top.path)}, whithin=30d)`, new RegExp(`^Spalte ${top.path.length + 12}: unbekanntes Argument 'whithin' von bought \\(meinten Sie 'within'\\?\\); erwartet: within, min_count oder min_spend$`)],
    ["bought(\"x\", whithin=30d)", /^Spalte 8: unbekannte Kategorie "x" \(meinten Sie '\w+'\?\)$/],
  ]) {
    await page.fill("#audience-expression", expression);
    await page.waitForFunction(
      (e) => document.querySelector(".aud-result").dataset.state !== "counting" && document.querySelector("#expression-error").dataset.column &&
        document.querySelector("#audience-expression").value === e,
      expression,
    );
    await page.waitForTimeout(300);
    assert.match((await page.textContent(".expr-error-message")).trim(), want, expression);
  }
  assert.deepEqual(
    await page.$$eval("[data-connector]", (bs) => bs.map((b) => b.textContent)),
    ["und", "oder", "und nicht"],
  );
  // The connectors still write the language's keywords.
  await page.fill("#audience-expression", 'segment = "champions"');
  await page.click('[data-connector="and not"]');
  await page.click('[data-helper="segment"]');
  await page.click('#helper-segment [data-value="lost"]');
  await page.click("#segment-add");
  assert.equal(await page.inputValue("#audience-expression"), 'segment = "champions" and not segment = "lost"');

  // Charts: the description screen readers get, and whole segment names on the axis.
  await go(page, "#/segments", charts("#segments-chart"));
  const report = await api("api/v1/segments?lang=de", keys.viewer);
  const description = await page.getAttribute("#segments-chart", "aria-label");
  assert.match(description, /^Balkendiagramm: Kunden je Segment\./);
  for (const s of report.segments) assert.ok(description.includes(`${s.group}: `), `${s.group} is not described`);
  const axis = await page.$$eval("#segments-chart svg text", (ts) => ts.map((t) => t.textContent));
  assert.ok(axis.every((t) => !t.includes("…")), `a cut label: ${axis.filter((t) => t.includes("…"))}`);
  for (const s of report.segments) {
    // A long name may wrap onto two lines (two texts), never lose letters.
    assert.ok(axis.join(" ").replace(/\s+/g, " ").includes(s.group) || axis.join("").includes(s.group.replace(/\s+/g, "")), `${s.group} is not on the axis`);
  }
  await go(page, "#/distributions", charts("#rf-heatmap"));
  assert.match(await page.getAttribute("#rf-heatmap", "aria-label"), /^Heatmap: Kunden je Aktualitäts-Score R/);
  await page.context().close();
});

// --- Item 3: numbers in the reader's notation ---

for (const [lang, cases, refused] of [
  ["de", [["200,50", "clv > 200.50"], ["1.000", "clv > 1000"], ["1.000,5", "clv > 1000.5"], ["75", "clv > 75"]], ["200.50", "1,000.5", "12a"]],
  ["en", [["200.50", "clv > 200.50"], ["1,000", "clv > 1000"], ["1,000.5", "clv > 1000.5"]], ["200,50", "1.000,5"]],
]) {
  test(`the Numbers helper reads ${lang === "de" ? "German" : "English"} numbers and refuses the other notation`, { skip: cliSkip }, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.viewer);
    await go(page, "#/audiences", "#audience-expression");
    await page.click('[data-helper="number"]');
    await page.selectOption("#number-field", "clv");
    await page.selectOption("#number-op", ">");
    for (const [typed, expression] of cases) {
      await page.click("#expression-clear");
      await page.fill("#number-value", typed);
      await page.click("#number-add");
      assert.equal(await page.inputValue("#audience-expression"), expression, typed);
      assert.equal(await shownSize(page), JSON.parse(cli("count", "-q", "--format", "json", expression)).size);
    }
    for (const typed of refused) {
      await page.click("#expression-clear");
      await page.fill("#number-value", typed);
      await page.click("#number-add");
      assert.equal(await page.inputValue("#audience-expression"), "", `${typed} was added`);
      assert.match(await page.textContent("#number-error"), lang === "de" ? /wie 1\.000,50/ : /as in 1,000\.50/);
      assert.equal(await page.getAttribute("#number-value", "aria-invalid"), "true");
    }
    await page.context().close();
  });
}

test("a decimal comma typed into the expression is explained in German and fixed in one click", { skip: cliSkip }, async () => {
  const page = await newPage("desktop", "de");
  await login(page, keys.viewer);
  await go(page, "#/audiences", "#audience-expression");
  await page.fill("#audience-expression", 'segment = "champions" and clv > 200,50');
  await page.waitForSelector("#expression-error:not([hidden])");
  assert.match(await page.textContent(".expr-error-message"), /„200,50“: Im Ausdruck stehen Dezimalzahlen mit Punkt: 200\.50\./);
  await page.click("#expression-fix");
  const fixed = 'segment = "champions" and clv > 200.50';
  assert.equal(await page.inputValue("#audience-expression"), fixed);
  assert.equal(await shownSize(page), JSON.parse(cli("count", "-q", "--format", "json", fixed)).size);
  await page.context().close();
});

// --- Items 1 and 6: layout at 1400×900 and on a phone ---

for (const lang of LANGS) {
  test(`${lang}: at 1400×900 the migration matrix fits, its column heads whole and apart`, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.viewer);
    await go(page, "#/migration", "#migration-matrix");
    const m = await page.$eval("#migration-matrix", (table) => {
      const box = table.closest(".table-scroll");
      const heads = [...table.querySelectorAll("thead th.col-head > span")].map((s) => {
        const r = s.getBoundingClientRect();
        return { text: s.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom, clipped: s.scrollHeight > s.clientHeight + 1 };
      });
      return { scroll: box.scrollWidth - box.clientWidth, heads };
    });
    assert.ok(m.scroll <= 0, `the matrix scrolls ${m.scroll}px sideways`);
    const report = await api(`api/v1/segments?lang=${lang}`, keys.viewer);
    assert.deepEqual(m.heads.slice(0, report.segments.length).map((h) => h.text), report.segments.map((s) => s.group));
    for (let i = 1; i < m.heads.length; i++) {
      assert.ok(m.heads[i].left >= m.heads[i - 1].right - 0.5, `"${m.heads[i - 1].text}" runs into "${m.heads[i].text}"`);
    }
    assert.ok(m.heads.every((h) => !h.clipped));
    assert.ok((await pageOverflow(page)) <= 0);
    await page.screenshot({ path: path.join(artifacts, `locales-migration-desktop-${lang}.png`), fullPage: true });
    await page.context().close();
  });

  test(`${lang}: on a phone the migration matrix says it scrolls, keeps its row names, and scrolls`, async () => {
    const page = await newPage("phone", lang);
    await login(page, keys.viewer);
    await go(page, "#/migration", "#migration-matrix");
    await page.waitForSelector(".scroll-hint:not([hidden])");
    const hint = await page.textContent(".scroll-hint");
    const hidden = Number(/(\d+)/.exec(hint)[1]);
    assert.ok(hidden > 0, hint);
    assert.equal(await page.getAttribute(".table-scroll", "data-overflow"), "right");
    assert.ok((await pageOverflow(page)) <= 0, "the page itself is wider than the phone");
    // The region takes the keyboard's arrows; the row names stay in view while it scrolls.
    await page.focus(".table-scroll");
    for (let i = 0; i < 30; i++) await page.keyboard.press("ArrowRight");
    await page.waitForFunction(() => document.querySelector(".table-scroll").scrollLeft > 0);
    const rowHead = await page.$eval("#migration-matrix tbody th", (th) => th.getBoundingClientRect().left - th.closest(".table-scroll").getBoundingClientRect().left);
    assert.ok(Math.abs(rowHead) <= 1, `the row names scrolled away (${rowHead}px)`);
    await page.screenshot({ path: path.join(artifacts, `locales-migration-phone-${lang}.png`), fullPage: true });
    await page.context().close();
  });

  test(`${lang}: on a phone every value of the segment and profile tables is on screen with its label`, async () => {
    const page = await newPage("phone", lang);
    await login(page, keys.analyst);
    for (const [hash, table] of [["#/segments", "#segments-table"], ["#/profiles?segment=champions", "#profiles-table"]]) {
      await go(page, hash, `${table} tbody tr`);
      const heads = await page.$$eval(`${table} thead th`, (ths) => ths.map((th) => th.textContent));
      const rows = await page.$$eval(`${table} tbody tr`, (trs) =>
        trs.slice(0, 5).map((tr) =>
          [...tr.children].map((c) => {
            const r = c.getBoundingClientRect();
            return { label: c.dataset.label ?? null, before: getComputedStyle(c, "::before").content, left: r.left, right: r.right, width: r.width };
          }),
        ),
      );
      for (const cells of rows) {
        assert.equal(cells.length, heads.length);
        cells.forEach((c, i) => {
          assert.ok(c.width > 0 && c.left >= 0 && c.right <= SIZES.phone.width, `${table}: "${heads[i]}" is off screen (${c.left}–${c.right})`);
          if (i > 0) assert.equal(c.before, JSON.stringify(heads[i]), `${table}: the value of "${heads[i]}" has no label`);
        });
      }
      assert.ok((await pageOverflow(page)) <= 0);
      await page.screenshot({ path: path.join(artifacts, `locales-${table.slice(1)}-phone-${lang}.png`), fullPage: true });
    }
    await page.context().close();
  });
}

// --- Item 7: what a key may do, up front ---

for (const lang of LANGS) {
  test(`${lang}: a viewer sees up front what the key may not do and how to get an analyst key`, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.viewer);
    assert.equal(await page.getAttribute("#key-role", "data-role"), "viewer");
    const how = /tessera keys api create --role analyst/;
    await page.waitForSelector("#segments-table tbody tr");
    assert.match(await page.textContent("#role-note"), how);
    assert.equal(await page.$$eval("#segments-table a", (as) => as.length), 0, "segment links for a viewer");
    await go(page, "#/profiles", "#role-note");
    assert.match(await page.textContent("#role-note"), how);
    assert.equal(await page.$("#lookup-form"), null, "a lookup form for a viewer");
    await go(page, "#/audiences", "#audience-role-note");
    assert.match(await page.textContent("#audience-role-note"), how);
    assert.equal(await page.isDisabled("#save-audience"), true);
    assert.equal(await page.isDisabled("#audience-name"), true);
    for (const b of await page.$$('#saved-audiences [data-action="export"], #saved-audiences [data-action="delete"]')) {
      assert.equal(await b.isDisabled(), true);
    }
    await page.context().close();
  });
}

test("an analyst and an admin get the actions their keys allow, and no viewer note", async () => {
  for (const role of ["analyst", "admin"]) {
    const page = await newPage("desktop", "en");
    await login(page, keys[role]);
    assert.equal(await page.getAttribute("#key-role", "data-role"), role);
    await page.waitForSelector("#segments-table tbody tr a");
    assert.equal(await page.$("#role-note"), null);
    await go(page, "#/audiences", "#audience-expression");
    assert.equal(await page.$("#audience-role-note"), null);
    assert.equal(await page.isDisabled("#save-audience"), false);
    await page.context().close();
  }
});

// --- Item 5: saving over a name asks first ---

test("saving under an existing name asks before replacing, and Cancel keeps the old one", { skip: cliSkip }, async () => {
  const page = await newPage("desktop", "de");
  await login(page, keys.analyst);
  await go(page, "#/audiences", "#audience-expression");
  const name = "Sommeraktion";
  const [first, second] = ['segment = "champions"', 'segment = "loyal"'];
  const saved = () => JSON.parse(cli("list", "-q", "--format", "json")).find((a) => a.name === name)?.expression;
  await page.fill("#audience-expression", first);
  await shownSize(page);
  await page.fill("#audience-name", name);
  await page.click("#save-audience");
  await page.waitForSelector(`#saved-audiences tr[data-name="${name}"]`);
  assert.equal(saved(), first);
  try {
    await page.fill("#audience-expression", second);
    await shownSize(page);
    for (const confirm of [false, true]) {
      await page.fill("#audience-name", name);
      await page.click("#save-audience");
      await page.waitForSelector("#confirm-dialog[open]");
      assert.equal(await page.textContent("#confirm-title"), `„${name}“ ersetzen?`);
      const detail = await page.textContent("#confirm-detail");
      assert.ok(detail.includes(first) && detail.includes(second), detail);
      assert.equal(await page.textContent("#confirm-ok"), "Ersetzen");
      await page.click(confirm ? "#confirm-ok" : "#confirm-cancel");
      if (confirm) await page.waitForFunction(() => /aktualisiert/.test(document.querySelector("#save-status").textContent));
      else await page.waitForSelector("#confirm-dialog", { state: "hidden" });
      assert.equal(saved(), confirm ? second : first);
    }
  } finally {
    cli("delete", name);
  }
  await page.context().close();
});

// --- Item 8: examples from the data ---

for (const lang of LANGS) {
  test(`${lang}: the examples are categories of the data, and the example expression counts customers`, { skip: cliSkip }, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.viewer);
    await go(page, "#/audiences", "#audience-expression");
    const top = (await api("api/v1/audiences/categories?limit=1", keys.viewer)).categories[0];
    const example = await page.getAttribute("#audience-expression", "placeholder");
    assert.ok(example.includes(`bought("${top.path}", within=90d)`), example);
    assert.ok((await page.textContent("#expression-help")).includes(example));
    assert.ok((await page.getAttribute("#category-search", "placeholder")).includes(top.name.toLowerCase()));
    assert.ok(!/cheese|käse/i.test(example + (await page.getAttribute("#category-search", "placeholder"))));
    await page.fill("#audience-expression", example);
    const size = await shownSize(page);
    assert.ok(size > 0, "the example finds nobody");
    assert.equal(size, JSON.parse(cli("count", "-q", "--format", "json", example)).size);
    // The search finds the placeholder's category.
    await page.fill("#category-search", top.name.toLowerCase());
    await page.waitForSelector(`#category-list [data-path="${top.path}"]`);
    await page.context().close();
  });
}

// --- Item 11: contrast ---

for (const size of Object.keys(SIZES)) {
  for (const lang of LANGS) {
    test(`${lang} at ${SIZES[size].width}×${SIZES[size].height}: every text has WCAG AA contrast, and so has the focus ring`, async () => {
      const page = await newPage(size, lang);
      await login(page, keys.analyst);
      const found = [];
      await eachScreen(page, "analyst", async (screen) => {
        for (const f of await contrastFailures(page)) found.push(`${screen}: ${f}`);
      });
      assert.deepEqual(found, []);
      // The focus ring against the page around it (3:1).
      await go(page, "#/segments", "#segments-table tbody tr");
      await page.keyboard.press("Tab");
      const ring = await page.evaluate(() => {
        const el = document.activeElement;
        const s = getComputedStyle(el);
        const parse = (c) => /rgba?\(([^)]+)\)/.exec(c)[1].split(/[\s,]+/).map(Number);
        let bg = [255, 255, 255];
        for (let e = el.parentElement; e; e = e.parentElement) {
          const b = parse(getComputedStyle(e).backgroundColor);
          if (b.length < 4 || b[3] === 1) {
            bg = b;
            break;
          }
        }
        return { style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: parse(s.outlineColor), bg };
      });
      const lum = ([r, g, b]) => {
        const f = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
      };
      const [hi, lo] = [lum(ring.color), lum(ring.bg)].sort((a, b) => b - a);
      assert.equal(ring.style, "solid");
      assert.ok(ring.width >= 2);
      assert.ok((hi + 0.05) / (lo + 0.05) >= 3, `focus ring ${((hi + 0.05) / (lo + 0.05)).toFixed(2)}:1`);
      await page.context().close();
    });
  }
}

// --- Item 12: empty states ---

const emptySkip = process.env.TESSERA_EMPTY_URL ? false : "TESSERA_EMPTY_URL is not set";

test("without a snapshot every screen says so (Profiles too), and an admin keeps one from the page", { skip: emptySkip }, async () => {
  const viewer = await newPage("desktop", "de", process.env.TESSERA_EMPTY_URL);
  await login(viewer, process.env.TESSERA_EMPTY_VIEWER_KEY);
  for (const screen of ["segments", "distributions", "migration", "profiles", "audiences"]) {
    await go(viewer, `#/${screen}`, "#no-snapshot");
    assert.match(await viewer.textContent("#no-snapshot"), /noch keine Auswertung/);
    assert.equal(await viewer.$("#keep-snapshot"), null, "a viewer may not keep a snapshot");
    assert.equal(await viewer.$("#lookup-form"), null);
  }
  await viewer.context().close();

  const admin = await newPage("desktop", "en", process.env.TESSERA_EMPTY_URL);
  await login(admin, process.env.TESSERA_EMPTY_ADMIN_KEY);
  await go(admin, "#/profiles", "#no-snapshot");
  assert.equal(await admin.$("#lookup-form"), null);
  await go(admin, "#/segments", "#keep-snapshot");
  await admin.click("#keep-snapshot");
  await admin.waitForSelector("#segments-table tbody tr");
  const snapshots = await (await fetch(new URL("api/v1/snapshots", process.env.TESSERA_EMPTY_URL), {
    headers: { Authorization: `Bearer ${process.env.TESSERA_EMPTY_ADMIN_KEY}` },
  })).json();
  assert.equal(snapshots.length, 1);
  // One snapshot: Migration asks for a second, which the admin keeps from there.
  await go(admin, "#/migration", "#no-snapshot");
  assert.match(await admin.textContent("#no-snapshot"), /at least two snapshots/);
  assert.ok(await admin.$("#keep-snapshot"));
  await admin.context().close();
});

// --- Item 9: the distributions with the keyboard, and why a score column is empty ---

for (const lang of LANGS) {
  test(`${lang}: the heat map and histograms work with the keyboard, and an empty F column is explained`, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.analyst);
    await go(page, "#/distributions", charts("#rf-heatmap"));
    await page.waitForSelector(charts("#clv-histogram"));
    const d = await api("api/v1/distributions?bins=20");
    const cell = (r, f) => d.rf_grid.find((c) => c.r === r && c.f === f).customers;
    const fmt = (n) => new Intl.NumberFormat(LOCALE[lang]).format(n);
    await page.focus("#rf-heatmap");
    await page.keyboard.press("ArrowRight");  // the first cell
    const first = d.rf_grid[0];
    assert.match(await page.textContent("#rf-heatmap-status"), new RegExp(`^R ${first.r} · F ${first.f}: ${fmt(cell(first.r, first.f))}\\b`));
    await page.keyboard.press("ArrowUp");
    assert.match(await page.textContent("#rf-heatmap-status"), new RegExp(`^R ${first.r + 1} · F ${first.f}: ${fmt(cell(first.r + 1, first.f))}\\b`));
    await page.keyboard.press("Enter");
    await page.waitForSelector("#profiles-table tbody tr, #profiles-count");
    assert.equal(new URL(page.url()).hash, `#/profiles?r=${first.r + 1}&f=${first.f}`);
    await go(page, "#/distributions", charts("#clv-histogram"));
    await page.focus("#clv-histogram");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.match(await page.textContent("#clv-histogram-status"), new RegExp(`: ${fmt(d.clv.counts[1])} `));
    // The CLV axis is labelled at round amounts (€200, €400), not at the bins' edges.
    const amounts = (await page.$$eval("#clv-histogram svg text", (ts) => ts.map((t) => t.textContent)))
      .filter((x) => x.includes("€"))
      .map((x) => Number(x.replace(/[^\d]/g, "")));
    assert.ok(amounts.length >= 2, `CLV axis labels: ${amounts}`);
    const step = amounts[1] - amounts[0];
    assert.ok(/^(1|2|25|5)0*$/.test(String(step)), `a step of ${step}`);
    assert.ok(amounts.every((x, i) => x % step === 0 && (i === 0 || x - amounts[i - 1] === step)), `CLV axis labels: ${amounts}`);
    await page.waitForSelector("#segment-definitions");
    const empty = [1, 2, 3, 4, 5].filter((f) => d.rf_grid.filter((c) => c.f === f).every((c) => c.customers === 0));
    const note = await page.$("#rf-empty-note");
    assert.equal(note !== null, empty.length > 0);
    if (note) {
      // Each run of empty scores is named, and the score said to come next is the one the
      // tie-safe formula gives for the customers below it, and the one the grid shows in use.
      const text = await note.textContent();
      const defs = await api("api/v1/segments/definitions");
      const bands = defs.scores.frequency.bands;
      const total = bands.reduce((n, b) => n + b.customers, 0);
      for (let i = 0; i < 5; i++) {
        if (bands[i].customers > 0) continue;
        let j = i;
        while (j < 5 && bands[j].customers === 0) j++;
        assert.ok(text.includes(`F = ${[...Array(j - i).keys()].map((k) => i + 1 + k).join(lang === "de" ? " oder " : " or ")}`), text);
        if (j < 5 && i > 0) {
          const below = bands.slice(0, j).reduce((n, b) => n + b.customers, 0);
          const next = Math.min(5, 1 + Math.floor((5 * below) / total));
          assert.equal(next, j + 1, "the formula gives the next score in use");
          assert.ok(d.rf_grid.some((c) => c.f === next && c.customers > 0));
          assert.ok(text.includes(`⌋ = ${next}.`), text);
          assert.ok(text.includes(`${fmt(Number(bands[j].min))}`), text);
        }
        i = j;
      }
    }
    await page.context().close();
  });
}

// --- Item 10: Profiles has its own choice of segment ---

for (const lang of LANGS) {
  test(`${lang}: Profiles chooses its segment itself`, async () => {
    const page = await newPage("phone", lang);
    await login(page, keys.analyst);
    await go(page, "#/profiles", "#profiles-segment:not([disabled])");
    const report = await api(`api/v1/segments?lang=${lang}`);
    const fmt = (n) => new Intl.NumberFormat(LOCALE[lang]).format(n);
    assert.deepEqual(
      await page.$$eval("#profiles-segment option", (os) => os.slice(1).map((o) => o.textContent)),
      report.segments.map((s) => `${s.group} (${fmt(s.uuid_count)})`),
    );
    const loyal = report.segments.find((s) => s.key === "loyal");
    await page.selectOption("#profiles-segment", "loyal");
    await page.waitForSelector("#profiles-table tbody tr");
    assert.match(await page.textContent("#profiles-count"), new RegExp(`${fmt(loyal.uuid_count)}`));
    assert.equal(await page.inputValue("#profiles-segment"), "loyal");
    await page.context().close();
  });
}

// --- Item 9: how segments are defined, from the server's rules ---

// Both languages, both sizes and both roles in two runs (the German scans above read the panel
// at every size and role too).
for (const [lang, size, role] of [["en", "desktop", "viewer"], ["de", "phone", "analyst"]]) {
  test(`${lang} at ${SIZES[size].width}×${SIZES[size].height} for ${role === "analyst" ? "an" : "a"} ${role}: Segments and Distributions say how each segment is defined, as the snapshot's rules`, async () => {
    const page = await newPage(size, lang);
    await login(page, keys[role]);
    const defs = await api(`api/v1/segments/definitions?lang=${lang}`, keys[role]);
    const other = lang === "de" ? "en" : "de";
    for (const screen of ["segments", "distributions"]) {
      await go(page, `#/${screen}`, "#segment-definitions summary");
      assert.equal(await page.$eval("#segment-definitions", (d) => d.open), false);
      // Opened with the keyboard.
      await page.focus("#segment-definitions summary");
      await page.keyboard.press("Enter");
      await page.waitForSelector("#definitions-table tbody tr");
      const rows = await page.$$eval("#definitions-table tbody tr", (trs) =>
        trs.map((tr) => ({
          key: tr.dataset.segment,
          name: tr.querySelector(".rule-name").textContent,
          other: tr.querySelector(".other-name").textContent,
          otherLang: tr.querySelector(".other-name").lang,
          note: tr.querySelector(".rule-note")?.textContent ?? null,
          ranges: [...tr.querySelectorAll("td[data-dimension]")].map((td) => [td.dataset.dimension, Number(td.dataset.min), Number(td.dataset.max), td.getBoundingClientRect().width]),
        })),
      );
      assert.deepEqual(rows.map((r) => r.key), defs.segments.map((s) => s.key));
      rows.forEach((r, i) => {
        const s = defs.segments[i];
        assert.equal(r.name, `${s.position}. ${s.group}`);
        assert.equal(r.other, other === "en" ? s.name_en : s.name_de);
        assert.equal(r.otherLang, other);
        assert.deepEqual(r.ranges.map(([dim, lo, hi]) => [dim, lo, hi]), ["recency", "frequency", "monetary"].map((dim) => [dim, s[dim].min, s[dim].max]));
        assert.ok(r.ranges.every(([, , , width]) => width > 0), `${s.key}: a rule is not shown`);
        const catchAll = ["recency", "frequency", "monetary"].every((dim) => s[dim].min === 1 && s[dim].max === 5);
        if (catchAll) assert.ok(r.note, `${s.key} does not say it takes everyone left`);
        else for (const u of s.unless) assert.ok(r.note?.includes(defs.segments.find((x) => x.key === u).group), `${s.key}: ${r.note}`);
      });
      // What each score meant: an empty score says so, the others show values.
      const bands = await page.$$eval("#score-bands tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => Number(td.dataset.customers))));
      assert.deepEqual(bands, ["recency", "frequency", "monetary"].map((dim) => defs.scores[dim].bands.map((b) => b.customers)));
      assert.ok((await pageOverflow(page)) <= 0, "the page is wider than the screen");
      assert.deepEqual(lang === "de" ? untranslated(await pageTexts(page), strings) : [], []);
    }
    await page.screenshot({ path: path.join(artifacts, `locales-definitions-${size}-${lang}.png`), fullPage: true });
    await page.context().close();
  });
}

// --- Item 10: Profiles sorted by the server, by column head or (on a phone) by a choice ---

// The column heads at 1400 px in German, the phone's choice in English.
{
  const lang = "de";
  test(`${lang} at 1400×900: the profile table sorts by a column head from the keyboard, as the API sorts`, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.analyst);
    await go(page, "#/profiles?segment=loyal", "#profiles-table tbody tr");
    const uuids = () => page.$$eval("#profiles-table tbody tr", (trs) => trs.map((tr) => tr.dataset.uuid));
    const head = (field) => page.$eval(`button[data-sort="${field}"]`, (b) => b.closest("th").getAttribute("aria-sort"));
    assert.equal(await head("clv"), "none");
    await page.focus('button[data-sort="clv"]');
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector('button[data-sort="clv"]')?.closest("th").getAttribute("aria-sort") === "descending");
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.sort), "clv", "the focus stays on the head");
    const down = await api("api/v1/profiles?segment=loyal&sort=-clv&limit=100");
    assert.deepEqual(await uuids(), down.items.map((p) => p.uuid));
    assert.equal(await head("order_count"), "none");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector('button[data-sort="clv"]')?.closest("th").getAttribute("aria-sort") === "ascending");
    const up = await api("api/v1/profiles?segment=loyal&sort=clv&limit=100");
    assert.deepEqual(await uuids(), up.items.map((p) => p.uuid));
    assert.equal(await page.inputValue("#profiles-sort"), "clv");
    // The next page continues the order.
    if (up.next_cursor) {
      await page.click("#load-more");
      await page.waitForFunction((n) => document.querySelectorAll("#profiles-table tbody tr").length > n, up.items.length);
      const more = await api(`api/v1/profiles?segment=loyal&sort=clv&limit=100&cursor=${up.next_cursor}`);
      assert.deepEqual((await uuids()).slice(up.items.length), more.items.map((p) => p.uuid));
    }
    await page.context().close();
  });
}
{
  const lang = "en";
  test(`${lang} on a phone: Profiles sorts by a choice of its own, as the API sorts`, async () => {
    const page = await newPage("phone", lang);
    await login(page, keys.analyst);
    await go(page, "#/profiles?segment=champions", "#profiles-table tbody tr");
    await page.selectOption("#profiles-sort", "-order_count");
    await page.waitForFunction(() => location.hash.includes("sort=-order_count"));
    await page.waitForSelector("#profiles-table tbody tr");
    const want = await api("api/v1/profiles?segment=champions&sort=-order_count&limit=100");
    await page.waitForFunction((first) => document.querySelector("#profiles-table tbody tr")?.dataset.uuid === first, want.items[0].uuid);
    assert.deepEqual(await page.$$eval("#profiles-table tbody tr", (trs) => trs.map((tr) => tr.dataset.uuid)), want.items.map((p) => p.uuid));
    // Another segment keeps the order.
    await page.selectOption("#profiles-segment", "loyal");
    await page.waitForFunction(() => location.hash.includes("segment=loyal"));
    await page.waitForSelector("#profiles-table tbody tr");
    assert.equal(await page.inputValue("#profiles-sort"), "-order_count");
    assert.ok((await pageOverflow(page)) <= 0);
    await page.context().close();
  });
}

// --- Items 4 and 13: one base for each share, said; the CLI's precision ---

for (const lang of LANGS) {
  test(`${lang}: shares say their base, with the CLI's two decimals, recency with one, totals with cents`, async () => {
    const page = await newPage("desktop", lang);
    await login(page, keys.viewer);
    await page.waitForSelector("#segments-table tbody tr");
    const report = await api(`api/v1/segments?lang=${lang}`, keys.viewer);
    const snapshot = (await api("api/v1/snapshots", keys.viewer)).at(-1);
    const fmt = (n, d) => new Intl.NumberFormat(LOCALE[lang], { minimumFractionDigits: d, maximumFractionDigits: d }).format(n);
    const base = await page.textContent("#shares-base");
    assert.ok(base.includes(fmt(report.customer_count, 0)) && base.includes(fmt(snapshot.customers_in_store, 0)), base);
    const heads = await page.$$eval("#segments-table thead th", (ths) => ths.map((th) => th.textContent));
    for (const s of report.segments.filter((x) => x.uuid_count > 0)) {
      const cells = await page.$$eval(`#segments-table tr[data-segment="${s.key}"] > *`, (cs) => cs.map((c) => c.textContent.trim()));
      assert.ok(cells[2].startsWith(fmt(s.share_percent, 2)), `${s.key} share ${cells[2]} vs ${s.share_percent}`);
      assert.equal(cells[4], fmt(s.avg_recency_days, 1));
      assert.ok(cells[heads.length === cells.length ? 7 : 7].includes(fmt(Number(s.sum_clv), 2)), `${s.key} total ${cells[7]} vs ${s.sum_clv}`);
    }
    await go(page, "#/audiences", "#audience-expression");
    await page.fill("#audience-expression", 'segment = "champions"');
    await shownSize(page);
    assert.match(await page.textContent("#audience-share"), lang === "de" ? /gespeicherten Kunden, mit oder ohne Kauf/ : /customers in the store, with or without a purchase/);
    await page.context().close();
  });
}

test("the pages threw no errors", () => {
  assert.deepEqual(pageErrors, []);
});
