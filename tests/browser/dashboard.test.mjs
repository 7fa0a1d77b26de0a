// Browser tests of the dashboard against a running `tessera serve` (tests/e2e/dashboard.sh
// starts one on a demo store and runs this file with `node --test`).
//
// Environment: TESSERA_URL (http://127.0.0.1:PORT/, a store with two snapshots),
// TESSERA_VIEWER_KEY, TESSERA_ANALYST_KEY; TESSERA_FRESH_URL, TESSERA_FRESH_KEY (viewer),
// TESSERA_FRESH_STORE (a served store without snapshots, which a test gives one with
// TESSERA_BIN); TESSERA_STORE and TESSERA_KEY (the served store and its owner key, for
// `tessera audience` to compare the audience builder with); TESSERA_ARTIFACT_DIR (screenshots
// go there), CHROMIUM (default /usr/bin/chromium).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { launchBrowser } from "./browser.mjs";
import { colouredPixels, shownSize } from "./page_checks.mjs";

const base = process.env.TESSERA_URL;
const viewerKey = process.env.TESSERA_VIEWER_KEY;
const analystKey = process.env.TESSERA_ANALYST_KEY;
const artifacts = process.env.TESSERA_ARTIFACT_DIR ?? os.tmpdir();
if (!base || !viewerKey || !analystKey) {
  throw new Error("set TESSERA_URL, TESSERA_VIEWER_KEY and TESSERA_ANALYST_KEY");
}
// The servers the pages may talk to; anything else is a request that leaves the machine.
const origins = [base, process.env.TESSERA_FRESH_URL].filter(Boolean).map((u) => new URL(u).origin);

let browser;
const foreignRequests = [];
const pageErrors = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

async function newPage(viewport = { width: 1366, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: "en-GB" });
  const page = await context.newPage();
  page.on("request", (req) => {
    const url = req.url();
    const ok = origins.some((o) => url.startsWith(o + "/")) || /^(data|blob):/.test(url);
    if (!ok) {
      foreignRequests.push(url);
    }
  });
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  return page;
}

async function login(page, key) {
  await page.goto(base);
  await page.fill("#api-key", key);
  await page.click("#sign-in");
  await page.waitForSelector("#segments-table tbody tr");
}

async function api(pathAndQuery, key = analystKey) {
  const res = await fetch(new URL(pathAndQuery, base), { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200, `${pathAndQuery}: ${res.status}`);
  return res;
}

test("a wrong key is refused on the login screen", async () => {
  const page = await newPage();
  await page.goto(base);
  await page.fill("#api-key", "tsk_0000000000000000_" + "0".repeat(64));
  await page.click("#sign-in");
  await page.waitForSelector("#login-error:not(:empty)");
  assert.match(await page.textContent("#login-error"), /not accepted/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.context().close();
});

test("after login the overview draws the segment chart and table", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  const report = await (await api("api/v1/segments", viewerKey)).json();
  const rows = await page.$$eval("#segments-table tbody tr", (trs) =>
    trs.map((tr) => ({ key: tr.dataset.segment, cells: [...tr.children].map((c) => c.textContent.trim()) })),
  );
  assert.equal(rows.length, 9);
  assert.deepEqual(
    rows.map((r) => r.key),
    report.segments.map((s) => s.key),
  );
  for (const [i, s] of report.segments.entries()) {
    assert.equal(rows[i].cells[0], s.group);
    assert.equal(rows[i].cells[1].replace(/,/g, ""), String(s.uuid_count));
  }
  // The newest snapshot carries predictions: average P(alive) and predicted CLV per segment.
  assert.ok(report.predictions, "the test store's newest snapshot has predictions");
  const heads = await page.$$eval("#segments-table thead th", (ths) => ths.map((th) => th.textContent.trim()));
  assert.ok(heads.includes("Avg. P(alive)"), `no P(alive) column in ${heads}`);
  for (const [i, s] of report.segments.entries()) {
    const shown = rows[i].cells[heads.indexOf("Avg. P(alive)")];
    if (s.avg_p_alive == null) assert.equal(shown, "–", s.key);
    else assert.ok(Math.abs(Number(shown) - s.avg_p_alive) <= 0.0051, `${s.key}: ${shown} vs ${s.avg_p_alive}`);
  }
  const pixels = await colouredPixels(page, "#segments-chart");
  assert.ok(pixels > 2000, `the segment chart has only ${pixels} coloured pixels`);
  // Every measure draws.
  for (const metric of ["share_percent", "avg_clv", "avg_recency_days", "avg_order_count"]) {
    await page.click(`[data-metric="${metric}"]`);
    assert.ok((await colouredPixels(page, "#segments-chart")) > 2000, `${metric} drew nothing`);
  }
  // The server's daily schedule and its next run (never run yet), as the API says.
  const schedule = await (await api("api/v1/schedule", viewerKey)).json();
  assert.match(schedule.schedule, /^daily at \d\d:\d\d \(UTC\)$/);
  await page.waitForSelector("#schedule-line:not([hidden])");
  const line = await page.textContent("#schedule-line");
  assert.ok(line.includes(`Refreshed ${schedule.schedule}. Next run:`), line);
  assert.ok(!line.includes("Last run"), line);
  await page.click('[data-metric="uuid_count"]');
  await page.waitForTimeout(1200);  // the bars' animation
  const shot = path.join(artifacts, "dashboard-overview.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  await page.context().close();
});

// The overview's Sources section (tests/e2e/dashboard.sh adds a folder with one loaded file and a
// missing folder whose run failed): what GET /api/v1/sources says, a failed run standing out
// with its error; viewers do not see it.
test("the overview lists the sources and their last runs as the API says", async () => {
  const page = await newPage();
  await login(page, analystKey);
  const { sources } = await (await api("api/v1/sources", analystKey)).json();
  assert.deepEqual(sources.map((s) => s.name).sort(), ["exports", "gone"]);
  await page.waitForSelector("#sources-table tbody tr");
  const rows = await page.$$eval("#sources-table tbody tr", (trs) =>
    trs.map((tr) => ({
      name: tr.dataset.source,
      outcome: tr.dataset.outcome,
      failed: tr.classList.contains("source-failed"),
      colour: getComputedStyle(tr.querySelector(".source-outcome")).color,
      cells: [...tr.children].map((c) => c.textContent.trim()),
      error: tr.querySelector(".source-error")?.textContent ?? null,
    })),
  );
  assert.deepEqual(
    rows.map((r) => r.name),
    sources.map((s) => s.name),
  );
  for (const [i, s] of sources.entries()) {
    const row = rows[i];
    const last = s.runs[0];
    assert.equal(row.outcome, last.outcome, s.name);
    assert.equal(row.cells[2], s.location, s.name);
    assert.equal(row.cells[5].replace(/,/g, ""), String(last.orders_stored), s.name);
    assert.equal(row.cells[6].replace(/,/g, ""), String(last.rejects), s.name);
    assert.equal(row.error, last.error, s.name);
  }
  const ok = rows.find((r) => r.name === "exports");
  const okRun = sources.find((s) => s.name === "exports").runs[0];
  assert.equal(okRun.outcome, "ok");
  assert.equal(okRun.orders_stored, 2);
  assert.equal(okRun.files_loaded, 1);
  assert.equal(ok.cells[1], "Folder");
  assert.ok(ok.cells[4].startsWith("ok"), ok.cells[4]);
  assert.equal(ok.failed, false);
  const gone = rows.find((r) => r.name === "gone");
  const goneRun = sources.find((s) => s.name === "gone").runs[0];
  assert.equal(goneRun.outcome, "failed");
  assert.match(goneRun.error, /source 'gone'/);
  assert.ok(gone.failed, "the failed source does not stand out");
  assert.ok(gone.cells[4].startsWith("failed"), gone.cells[4]);
  assert.notEqual(gone.colour, ok.colour, "the failed outcome has the colour of an ok one");
  await (await page.$("#sources")).screenshot({ path: path.join(artifacts, "dashboard-sources.png") });
  // In German.
  await page.click('[data-lang="de"]');
  await page.waitForFunction(() => document.querySelector("#sources h2")?.textContent === "Quellen");
  const de = await page.$$eval("#sources-table tbody tr", (trs) =>
    trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())),
  );
  assert.equal(de[rows.indexOf(ok)][1], "Ordner");
  assert.ok(de[rows.indexOf(gone)][4].startsWith("fehlgeschlagen"), de[rows.indexOf(gone)][4]);
  await page.click('[data-lang="en"]');
  await page.context().close();

  const viewer = await newPage();
  await login(viewer, viewerKey);
  await viewer.waitForSelector("#schedule-line:not([hidden])");
  assert.equal(await viewer.$("#sources"), null, "a viewer sees the sources");
  await viewer.context().close();
});

test("the heat map and the histograms draw", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('nav a[data-screen="distributions"]');
  for (const chart of ["#rf-heatmap", "#clv-histogram", "#recency-histogram"]) {
    const pixels = await colouredPixels(page, chart);
    assert.ok(pixels > 1000, `${chart} has only ${pixels} coloured pixels`);
  }
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(artifacts, "dashboard-distributions.png"), fullPage: true });
  await page.context().close();
});

test("the migration matrix counts every customer of the two newest snapshots", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('nav a[data-screen="migration"]');
  await page.waitForSelector("#migration-matrix");
  const migration = await (await api("api/v1/migration", viewerKey)).json();
  const expected = migration.moves.reduce((n, m) => n + m.customers, 0);
  const total = await page.$eval("#migration-matrix tbody tr:last-child td:last-child", (td) =>
    Number(td.textContent.replace(/\D/g, "")),
  );
  assert.equal(total, expected);
  await page.context().close();
});

test("a viewer who opens a segment's customers anyway is told that profiles need an analyst key", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  // The overview offers a viewer no link to customer lists (issue 17 #7); the address still
  // answers in words.
  assert.equal(await page.$('#segments-table tr[data-segment="champions"] a'), null);
  await page.goto(base + "#/profiles/00000000-0000-0000-0000-000000000000");
  await page.waitForSelector('.message[data-status="403"]');
  assert.match(await page.textContent('.message[data-status="403"]'), /analyst key/);
  await page.context().close();
});

test("an analyst who clicks a segment sees its profiles, pages on, and opens one", async () => {
  const page = await newPage();
  await login(page, analystKey);
  await page.click('#segments-table tr[data-segment="champions"] td.num');  // the row, not the link
  await page.waitForSelector("#profiles-table tbody tr");
  const first = await (await api("api/v1/profiles?segment=champions&limit=100")).json();
  let uuids = await page.$$eval("#profiles-table tbody tr", (trs) => trs.map((tr) => tr.dataset.uuid));
  assert.equal(uuids.length, Math.min(100, first.total));
  assert.deepEqual(uuids, first.items.map((p) => p.uuid));
  assert.match(await page.textContent("#profiles-title"), /Champions/);
  if (first.next_cursor) {
    await page.click("#load-more");
    await page.waitForFunction((n) => document.querySelectorAll("#profiles-table tbody tr").length > n, uuids.length);
    uuids = await page.$$eval("#profiles-table tbody tr", (trs) => trs.map((tr) => tr.dataset.uuid));
    assert.equal(uuids.length, Math.min(200, first.total));
    assert.equal(new Set(uuids).size, uuids.length, "a profile appears twice across pages");
  }
  await page.click(`#profiles-table tr[data-uuid="${uuids[0]}"] a`);
  await page.waitForSelector("#profile-detail");
  assert.match(await page.textContent("#profile-detail"), new RegExp(uuids[0]));
  assert.match(await page.textContent("#profile-detail"), /P\(alive\).*Predicted CLV/s);
  await page.context().close();
});

test("profile lookup by UUID finds a customer and says when there is none", async () => {
  const page = await newPage();
  await login(page, analystKey);
  const some = (await (await api("api/v1/profiles?segment=lost&limit=1")).json()).items[0];
  await page.click('nav a[data-screen="profiles"]');
  await page.fill("#lookup-uuid", "not-a-uuid");
  await page.click("#lookup-form button[type=submit]");
  assert.match(await page.textContent("#lookup-error"), /looks like/);
  await page.fill("#lookup-uuid", some.uuid.toUpperCase());
  await page.click("#lookup-form button[type=submit]");
  await page.waitForSelector("#profile-detail");
  assert.match(await page.textContent("#profile-detail"), new RegExp(some.uuid));
  await page.fill("#lookup-uuid", "00000000-0000-0000-0000-000000000000");
  await page.click("#lookup-form button[type=submit]");
  await page.waitForSelector('.message[data-status="404"]');
  await page.context().close();
});

test("the CSV downloads hold the API's rows", async () => {
  const page = await newPage();
  await login(page, analystKey);
  const [segments] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-download="segments"][data-dialect="rfc4180"]'),
  ]);
  const got = await readFile(await segments.path(), "utf8");
  const want = await (await api("api/v1/segments?format=csv&lang=en")).text();
  assert.equal(got, want);
  assert.equal(got.trim().split(/\r?\n/).length, 10, "a header and nine segments");
  assert.match(segments.suggestedFilename(), /\.csv$/);

  // The German Excel dialect, byte for byte (the byte order mark included).
  const [german] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-download="segments"][data-dialect="de"]'),
  ]);
  const gotDe = await readFile(await german.path());
  const wantDe = Buffer.from(await (await api("api/v1/segments?format=csv&lang=en&dialect=de")).arrayBuffer());
  assert.ok(gotDe.equals(wantDe), "the German download is the API's dialect=de");
  assert.equal(gotDe.subarray(0, 3).toString("hex"), "efbbbf");
  assert.match(gotDe.toString("utf8"), /^\uFEFFSegment;Schlüssel;Kunden;/);

  await page.goto(base + "#/profiles?segment=champions");
  await page.waitForSelector("#profiles-table tbody tr");
  const [profiles] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-download="profiles"][data-dialect="rfc4180"]'),
  ]);
  const rows = (await readFile(await profiles.path(), "utf8")).trim().split(/\r?\n/);
  const total = (await (await api("api/v1/profiles?segment=champions&limit=1")).json()).total;
  assert.equal(rows.length, total + 1, "a header and every profile of the segment");
  await page.context().close();
});

test("German shows the German segment names and UI", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('[data-lang="de"]');
  await page.waitForFunction(() => document.querySelector('#segments-table tr[data-segment="champions"] th')?.textContent === "VIPs");
  assert.equal(await page.getAttribute("html", "lang"), "de");
  assert.match(await page.textContent("nav.tabs"), /Segmente/);
  assert.match(await page.textContent("#segments-table thead"), /Kunden/);
  // The choice survives a reload; the key does too (same tab).
  await page.reload();
  await page.waitForSelector('#segments-table tr[data-segment="champions"]');
  assert.equal(await page.textContent('#segments-table tr[data-segment="champions"] th'), "VIPs");
  await page.context().close();
});

test("on a phone the overview fits the screen width", async () => {
  const page = await newPage({ width: 390, height: 844 });
  await login(page, viewerKey);
  assert.ok((await colouredPixels(page, "#segments-chart")) > 500);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(artifacts, "dashboard-overview-phone.png"), fullPage: true });
  await page.click('nav a[data-screen="distributions"]');
  await colouredPixels(page, "#rf-heatmap");
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0);
  await page.context().close();
});

test("without a snapshot the dashboard says how to keep one; with one, migration asks for two", {
  skip: process.env.TESSERA_FRESH_URL ? false : "TESSERA_FRESH_URL is not set",
}, async () => {
  const page = await newPage();
  await page.goto(process.env.TESSERA_FRESH_URL);
  await page.fill("#api-key", process.env.TESSERA_FRESH_KEY);
  await page.click("#sign-in");
  await page.waitForSelector("main#main .message");
  assert.match(await page.textContent("main#main .message"), /tessera snapshots create/);
  execFileSync(
    process.env.TESSERA_BIN,
    ["snapshots", "create", "--as-of", "2025-06-30", "--window", "12m", "--quiet"],
    { env: { ...process.env, TESSERA_STORE: process.env.TESSERA_FRESH_STORE }, stdio: "ignore" },
  );
  // The open page finds the new snapshot on its next screen.
  for (let i = 0; ; i++) {
    await page.click('nav a[data-screen="distributions"]');
    await page.click('nav a[data-screen="segments"]');
    const found = await page
      .waitForSelector("#segments-table", { timeout: 500 })
      .then(() => true, () => false);
    if (found) break;
    assert.ok(i < 20, "the new snapshot did not appear");
  }
  await page.click('nav a[data-screen="migration"]');
  // The migration screen's own notice, not the Segments screen's viewer note still shown
  // while the new screen loads.
  await page.waitForSelector("#no-snapshot");
  assert.match(await page.textContent("#no-snapshot"), /at least two snapshots/);
  await page.context().close();
});

test("signing out forgets the key", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click("#sign-out");
  await page.waitForSelector("#api-key");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("tessera.apiKey")), null);
  await page.reload();
  await page.waitForSelector("#api-key");
  await page.context().close();
});

// --- Audiences (docs/audiences.md): the builder against the CLI on the same store. ---

const tessera = process.env.TESSERA_BIN;
const audienceSkip = tessera && process.env.TESSERA_STORE ? false : "TESSERA_BIN and TESSERA_STORE are not set";

// What `tessera audience ...` says on the served store (TESSERA_STORE, TESSERA_KEY).
function cli(...args) {
  return execFileSync(tessera, ["audience", ...args], { env: process.env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function cliCount(expression) {
  return JSON.parse(cli("count", "-q", "--format", "json", expression));
}

async function openAudiences(page, key) {
  await login(page, key);
  await page.click('nav a[data-screen="audiences"]');
  await page.waitForSelector("#audience-expression");
}

async function setExpression(page, expression) {
  await page.fill("#audience-expression", expression);
}

test("typing an expression counts it live, as the CLI does, with the segment breakdown", { skip: audienceSkip }, async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await openAudiences(page, viewerKey);
  const expression = 'segment in ["champions", "loyal"] and clv > 250';
  const want = cliCount(expression);
  assert.ok(want.size > 0, "the test expression matches customers");
  // Key by key: each keystroke within 150 ms cancels the previous count.
  await page.locator("#audience-expression").pressSequentially(expression, { delay: 15 });
  assert.equal(await shownSize(page), want.size);
  assert.match(await page.textContent("#audience-share"), new RegExp(`of all ${want.customers.toLocaleString("en-GB")} customers`));
  const rows = await page.$$eval("#audience-segments tbody tr[data-segment]:not([data-segment=''])", (trs) =>
    trs.map((tr) => [tr.dataset.segment, Number(tr.querySelector("td.num").textContent.replace(/\D/g, ""))]),
  );
  assert.deepEqual(rows, want.segments.map((s) => [s.key, s.customers]));
  assert.equal(await page.getAttribute("#audience-count", "aria-live"), "polite");
  await page.screenshot({ path: path.join(artifacts, "dashboard-audiences.png"), fullPage: true });
  await page.context().close();
});

test("an invalid expression shows the error at its column and keeps the last count", { skip: audienceSkip }, async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await openAudiences(page, viewerKey);
  const good = 'segment = "champions"';
  const size = cliCount(good).size;
  await setExpression(page, good);
  assert.equal(await shownSize(page), size);
  const bad = 'segment = "champions" and clvv > 100';
  await setExpression(page, bad);
  await page.waitForSelector("#expression-error:not([hidden])");
  assert.equal(await page.getAttribute("#expression-error", "data-column"), String(bad.indexOf("clvv") + 1));
  assert.match(await page.textContent("#expression-error"), new RegExp(`Column ${bad.indexOf("clvv") + 1}:.*clvv`));
  assert.equal(await page.textContent("#expression-error mark"), "clvv");
  assert.equal(await page.getAttribute("#audience-expression", "aria-invalid"), "true");
  // The last good count stays, marked as such.
  await page.waitForSelector('.aud-result[data-state="stale"]');
  assert.equal(await page.getAttribute(".aud-result", "data-size"), String(size));
  assert.equal(await page.getAttribute(".aud-result", "data-expression"), good);
  await page.screenshot({ path: path.join(artifacts, "dashboard-audiences-error.png"), fullPage: false });
  // The suggestion fixes it in one click.
  await page.click("#expression-fix");
  assert.equal(await page.inputValue("#audience-expression"), 'segment = "champions" and clv > 100');
  assert.equal(await shownSize(page), cliCount('segment = "champions" and clv > 100').size);
  assert.equal(await page.isHidden("#expression-error"), true);
  await page.context().close();
});

test("a category picked through the search is added and counted", { skip: audienceSkip }, async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await openAudiences(page, viewerKey);
  await setExpression(page, 'segment in ["champions", "loyal", "potential_loyalists"]');
  // A term that matches several categories below the top level.
  const top = await (await api("api/v1/audiences/categories", viewerKey)).json();
  assert.ok(top.categories.length > 0, "the demo data has categories");
  const leafSearch = await (await api(`api/v1/audiences/categories?q=${encodeURIComponent(top.categories[0].name)}&limit=5`, viewerKey)).json();
  const term = leafSearch.categories.at(-1).name.slice(0, 4).toLowerCase();
  await page.click("#category-search");
  await page.locator("#category-search").pressSequentially(term, { delay: 20 });
  await page.waitForFunction(
    (q) => document.querySelector("#category-list").dataset.query === q &&
      [...document.querySelectorAll("#category-list [role=option]")].length > 1 &&
      [...document.querySelectorAll("#category-list [role=option]")].every((o) => o.dataset.path.toLowerCase().includes(q)),
    term,
  );
  assert.equal(await page.getAttribute("#category-search", "aria-expanded"), "true");
  await page.keyboard.press("ArrowDown");
  const active = await page.getAttribute("#category-search", "aria-activedescendant");
  const chosen = await page.getAttribute(`#${active}`, "data-path");
  assert.match(await page.textContent(`#${active}`), /buyers/);
  await page.screenshot({ path: path.join(artifacts, "dashboard-audiences-category.png") });
  await page.keyboard.press("Enter");
  const expression = `segment in ["champions", "loyal", "potential_loyalists"] and bought("${chosen}", within=90d)`;
  await page.waitForFunction((e) => document.querySelector("#audience-expression").value === e, expression);
  assert.equal(await shownSize(page), cliCount(expression).size);

  // A category name that is not quite right: the error offers the search, and the pick
  // replaces the wrong name.
  const wrong = leafSearch.categories.at(-1).name.slice(0, -1);
  await setExpression(page, `segment = "champions" and bought("${wrong}", within=30d)`);
  await page.click("#expression-find-category");
  // The results of this search (the list says which query it shows), not the earlier ones.
  await page.waitForFunction(
    (q) => {
      const list = document.querySelector("#category-list");
      const options = [...list.querySelectorAll("[role=option]")];
      return list.dataset.query === q && options.length > 0 &&
        options.every((o) => o.dataset.path.toLowerCase().includes(q.toLowerCase()));
    },
    wrong,
  );
  assert.equal(await page.getAttribute("#category-search", "aria-activedescendant"), "category-option-0");
  const first = await page.getAttribute("#category-list [role=option]", "data-path");
  await page.keyboard.press("Enter");
  const fixed = `segment = "champions" and bought("${first}", within=30d)`;
  await page.waitForFunction((e) => document.querySelector("#audience-expression").value === e, fixed);
  assert.equal(await shownSize(page), cliCount(fixed).size);
  await page.context().close();
});

async function addComparison(page, field, op, value) {
  await page.click('[data-helper="number"]');
  await page.selectOption("#number-field", field);
  await page.selectOption("#number-op", op);
  await page.fill("#number-value", value);
  await page.click("#number-add");
}

test("the helpers write segment, place and number conditions", { skip: audienceSkip }, async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await openAudiences(page, viewerKey);
  await setExpression(page, "");
  await page.click('[data-helper="segment"]');
  await page.click('#helper-segment [data-value="loyal"]');
  await page.click('#helper-segment [data-value="champions"]');
  await page.click("#segment-add");
  await page.click('[data-helper="place"]');
  await page.selectOption("#attribute-name", "region");
  await page.click('#helper-place [data-value="Süd"]');
  await page.click("#attribute-add");
  await addComparison(page, "clv", ">=", "100");
  const expression = 'segment in ["champions", "loyal"] and region = "Süd" and clv >= 100';
  assert.equal(await page.inputValue("#audience-expression"), expression);
  assert.equal(await shownSize(page), cliCount(expression).size);
  // "or" widens all that is typed ("and" binds tighter); an "and" after an "or" puts what was
  // typed in brackets.
  await page.click('[data-connector="or"]');
  await page.click('[data-helper="segment"]');
  await page.click('#helper-segment [data-value="new"]');
  await page.click("#segment-add");
  const widened = `${expression} or segment = "new"`;
  assert.equal(await page.inputValue("#audience-expression"), widened);
  assert.equal(await shownSize(page), cliCount(widened).size);
  await page.click('[data-connector="and"]');
  await addComparison(page, "orders", ">=", "2");
  const narrowed = `(${widened}) and orders >= 2`;
  assert.equal(await page.inputValue("#audience-expression"), narrowed);
  assert.equal(await shownSize(page), cliCount(narrowed).size);
  await page.context().close();
});

test("an analyst saves, lists, exports, is refused below the minimum, compares and deletes", { skip: audienceSkip }, async () => {
  const page = await newPage({ width: 1280, height: 900 });
  await openAudiences(page, analystKey);
  const name = "Stammkunden Süd & mehr";
  const expression = 'segment in ["champions", "loyal"]';
  const size = cliCount(expression).size;
  assert.ok(size >= 100, `the test audience has ${size} customers, fewer than the default minimum`);
  await setExpression(page, expression);
  assert.equal(await shownSize(page), size);
  await page.fill("#audience-name", name);
  await page.click("#save-audience");
  const row = `#saved-audiences tr[data-name="${name}"]`;
  await page.waitForFunction(() => /^Saved/.test(document.querySelector("#save-status").textContent));
  await page.waitForSelector(row);
  assert.match(await page.textContent("#save-status"), new RegExp(`${size.toLocaleString("en-GB")} customers`));
  assert.equal(Number((await page.textContent(`${row} .saved-size`)).replace(/\D/g, "")), size);
  const listed = JSON.parse(cli("list", "-q", "--format", "json")).find((a) => a.name === name);
  assert.equal(listed?.size, size);

  // Export: a file with the uuid header and one row per member.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(`${row} [data-action="export"]`)]);
  const lines = (await readFile(await download.path(), "utf8")).trim().split(/\r?\n/);
  assert.equal(lines[0], "uuid");
  assert.equal(lines.length, size + 1);
  assert.ok(lines.slice(1).every((l) => /^[0-9a-f-]{36}$/.test(l)));

  // Below the owner's minimum the export is refused, with both numbers said.
  cli("policy", "--min-export-size", String(size + 1));
  try {
    await page.click(`${row} [data-action="export"]`);
    await page.waitForSelector('.row-note[data-refused="size"]');
    const refusal = await page.textContent('.row-note[data-refused="size"]');
    assert.match(refusal, new RegExp(size.toLocaleString("en-GB")));
    assert.match(refusal, new RegExp((size + 1).toLocaleString("en-GB")));
    assert.match(refusal, /minimum/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(artifacts, "dashboard-audiences-saved.png"), fullPage: true });
  } finally {
    cli("policy", "--min-export-size", "100");
  }

  // The history has the save and the export.
  await page.click(`${row} [data-action="history"]`);
  await page.waitForSelector(".history-table");
  const events = await page.$$eval(".history-table tbody tr td:nth-child(2)", (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(events.slice(0, 2), ["exported", "saved"], "newest first");

  // A second one, then the overlap of both.
  const second = "recent buyers";
  await setExpression(page, "recency_days <= 60");
  await page.fill("#audience-name", second);
  await page.click("#save-audience");
  await page.waitForSelector(`#saved-audiences tr[data-name="${second}"]`);
  await page.check(`#saved-audiences tr[data-name="${name}"] input[type=checkbox]`);
  await page.check(`#saved-audiences tr[data-name="${second}"] input[type=checkbox]`);
  await page.click("#overlap-button");
  await page.waitForSelector("#overlap-table");
  const overlap = JSON.parse(cli("overlap", "-q", "--format", "json", expression, "recency_days <= 60"));
  assert.match(await page.textContent("#overlap-all"), new RegExp(overlap.in_all.toLocaleString("en-GB")));
  assert.match(await page.textContent("#overlap-any"), new RegExp(overlap.in_any.toLocaleString("en-GB")));
  await page.locator("section.saved").screenshot({ path: path.join(artifacts, "dashboard-audiences-overlap.png") });

  // Delete asks first; Cancel keeps it.
  for (const [n, confirm] of [[second, false], [second, true], [name, true]]) {
    await page.click(`#saved-audiences tr[data-name="${n}"] [data-action="delete"]`);
    await page.waitForSelector("#confirm-dialog[open]");
    await page.click(confirm ? "#confirm-ok" : "#confirm-cancel");
    if (confirm) await page.waitForSelector(`#saved-audiences tr[data-name="${n}"]`, { state: "detached" });
    else assert.ok(await page.$(`#saved-audiences tr[data-name="${n}"]`));
  }
  assert.equal(JSON.parse(cli("list", "-q", "--format", "json")).length, 0);
  await page.context().close();
});

test("a viewer is told up front that saving needs an analyst key", { skip: audienceSkip }, async () => {
  const page = await newPage();
  await openAudiences(page, viewerKey);
  await setExpression(page, 'segment = "champions"');
  assert.equal(await page.isDisabled("#save-audience"), true);
  assert.match(await page.textContent("#audience-role-note"), /analyst key/);
  await page.context().close();
});

test("the audience builder in German, and on a phone", { skip: audienceSkip }, async () => {
  const page = await newPage({ width: 390, height: 844 });
  await openAudiences(page, viewerKey);
  await page.click('[data-lang="de"]');
  await page.waitForFunction(() => document.querySelector("main#main h1")?.textContent === "Zielgruppen");
  assert.match(await page.textContent("nav.tabs"), /Zielgruppen/);
  assert.match(await page.textContent("label[for=audience-expression]"), /Zielgruppen-Ausdruck/);
  await page.click('[data-helper="segment"]');
  assert.match(await page.textContent("#helper-segment"), /VIPs/);
  await page.click('#helper-segment [data-value="champions"]');
  await page.click("#segment-add");
  const size = cliCount('segment = "champions"').size;
  assert.equal(await shownSize(page), size);
  assert.match(await page.textContent("#audience-share"), /aller/);
  assert.equal((await page.textContent('#audience-segments tr[data-segment="champions"] th')).trim(), "VIPs");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(artifacts, "dashboard-audiences-phone-de.png"), fullPage: true });
  await page.context().close();
});

test("the pages asked nothing of any other server and threw no errors", () => {
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(pageErrors, []);
});
