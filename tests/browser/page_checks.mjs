// Checks the browser tests run inside a dashboard page: what a chart drew, the texts a reader
// sees (for untranslated words), the contrast of every text (WCAG 2 AA), and how wide things
// are. Each returns plain data for the test to assert on.

import { readFile } from "node:fs/promises";

// Pixels of colour (bars, heat-map cells) in the chart as drawn (its SVG, rendered into a
// canvas): axes and text are grey, so a chart that drew no data has next to none.
export async function colouredPixels(page, selector) {
  await page.waitForSelector(`${selector}[data-chart="ready"] svg`);
  return page.$eval(`${selector} svg`, async (svg) => {
    const width = Math.round(svg.getBoundingClientRect().width);
    const height = Math.round(svg.getBoundingClientRect().height);
    const image = new Image(width, height);
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(svg));
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(image, 0, 0, width, height);
    const { data } = ctx.getImageData(0, 0, width, height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
    }
    return n;
  });
}

// Waits until the builder shows the count of exactly the editor's text, and returns the size
// shown.
export async function shownSize(page) {
  await page.waitForFunction(() => {
    const result = document.querySelector(".aud-result");
    return result.dataset.state === "ok" &&
      result.dataset.expression === document.querySelector("#audience-expression").value.trim();
  });
  return Number((await page.textContent("#audience-size")).replace(/\D/g, ""));
}

// The UI strings of web/src/i18n.ts, per language, read from the source (every entry is
// `key: "text",`, the text a JSON string). Throws when an entry cannot be read, so a change
// of the file's shape fails the test rather than hiding strings from it.
export async function uiStrings(file) {
  const src = await readFile(file, "utf8");
  const block = (name) => {
    const start = src.indexOf(`const ${name}`);
    const body = src.slice(start, src.indexOf("\n};", start));
    const out = {};
    for (const m of body.matchAll(/^ {2}(\w+):\s*("(?:[^"\\]|\\.)*"),?$/gm)) out[m[1]] = JSON.parse(m[2]);
    const keys = [...body.matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]);
    const unread = keys.filter((k) => !(k in out));
    if (start < 0 || unread.length) throw new Error(`cannot read ${name} in ${file}: ${unread.join(", ")}`);
    return out;
  };
  return { en: block("en"), de: block("de") };
}

// Every text a reader meets on the page (text nodes, and the names and hints screen readers
// and tooltips give: aria-label, title, placeholder), with where it was, minus what is not
// interface language: code and expressions, pseudonyms, the data's own category names, and
// what is marked as another language.
export function pageTexts(page) {
  return page.evaluate(() => {
    const SKIP = 'code, pre, noscript, script, style, textarea, [lang="en"], .uuid, #category-list, [data-user-text], option';
    const where = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      const text = n.textContent.replace(/\s+/g, " ").trim();
      if (!text || !el || el.closest(SKIP) || el.closest("[hidden]")) continue;
      out.push({ text, where: where(el) });
    }
    for (const el of document.body.querySelectorAll("[aria-label], [title], [placeholder]")) {
      if (el.closest(SKIP) || el.closest("[hidden]")) continue;
      for (const a of ["aria-label", "title", "placeholder"]) {
        const v = el.getAttribute(a)?.trim();
        if (v) out.push({ text: v, where: `${where(el)}[${a}]` });
      }
    }
    return out;
  });
}

// English words that have no place in German interface text (none is also German).
const ENGLISH_WORDS = [
  "the", "of", "and", "or", "with", "without", "is", "are", "you", "your", "did", "mean",
  "unknown", "expected", "found", "snapshot", "snapshots", "recency", "frequency", "customers",
  "customer", "needs", "save", "export", "delete", "cancel", "replace", "open", "history",
  "download", "search", "loading", "count", "update", "share", "window", "total", "orders",
  "field", "fields", "values", "show", "more", "key", "analyst key", "viewer",
];
const ENGLISH_RE = new RegExp(`(^|[^\\p{L}])(${ENGLISH_WORDS.join("|")})(?![\\p{L}])`, "iu");

// The texts of `texts` that are English interface language: a whole English UI string (one
// the German translation words differently), or an English word.
export function untranslated(texts, strings) {
  const templates = Object.entries(strings.en)
    .filter(([k, v]) => strings.de[k] !== v && /\p{L}{3}/u.test(v.replace(/\{\w+\}/g, "")))
    .map(([k, v]) => ({
      key: k,
      re: new RegExp("^" + v.replace(/`/g, "").split(/\{\w+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".+?") + "$", "s"),
    }));
  const bad = [];
  for (const { text, where } of texts) {
    const whole = templates.find((t) => t.re.test(text));
    const word = ENGLISH_RE.exec(text);
    if (whole) bad.push(`${where}: "${text}" (the English ${whole.key})`);
    else if (word) bad.push(`${where}: "${text}" (English "${word[2]}")`);
  }
  return [...new Set(bad)];
}

// Every visible text whose contrast with what lies beneath is below WCAG 2 AA: 4.5:1, or 3:1
// for large text (24 px, or 18.66 px bold). Disabled controls are exempt, as WCAG says. For
// the charts' SVG texts, what lies beneath is the last shape drawn under the text's middle.
export function contrastFailures(page) {
  return page.evaluate(() => {
    const parse = (c) => {
      const m = /rgba?\(([^)]+)\)/.exec(c ?? "");
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [r, g, b, a];
    };
    const over = (top, bottom) => top.slice(0, 3).map((c, i) => c * top[3] + bottom[i] * (1 - top[3])).concat(1);
    const lum = ([r, g, b]) => {
      const f = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => {
      const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
      return (x + 0.05) / (y + 0.05);
    };
    // The colour beneath `el`: its own and its ancestors' backgrounds, laid over white.
    const backdrop = (el) => {
      const layers = [];
      for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
        const bg = parse(getComputedStyle(e).backgroundColor);
        if (bg && bg[3] > 0) {
          layers.push(bg);
          if (bg[3] >= 1) break;
        }
      }
      return layers.reverse().reduce((acc, l) => over(l, acc), [255, 255, 255, 1]);
    };
    const opacity = (el) => {
      let o = 1;
      for (let e = el; e && e.nodeType === 1; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
      return o;
    };
    const failures = [];
    const check = (el, fg, bg, text) => {
      const style = getComputedStyle(el);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      const r = ratio(over(fg, bg), bg);
      if (r < need - 0.005) failures.push(`${r.toFixed(2)}:1 < ${need}:1 "${text.slice(0, 40)}" (${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : ""})`);
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      const text = n.textContent.trim();
      if (!text || !el || el.closest("svg") || el.closest(":disabled, [hidden], .visually-hidden, script, style")) continue;
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0 || getComputedStyle(el).visibility === "hidden") continue;
      const fg = parse(getComputedStyle(el).color);
      const o = opacity(el);
      check(el, [fg[0], fg[1], fg[2], fg[3] * o], backdrop(el), text);
    }
    for (const svg of document.querySelectorAll("svg")) {
      const shapes = [...svg.querySelectorAll("path, rect")];
      for (const el of svg.querySelectorAll("text")) {
        const text = el.textContent.trim();
        const fill = parse(getComputedStyle(el).fill);
        if (!text || !fill || getComputedStyle(el).display === "none") continue;
        const box = el.getBoundingClientRect();
        if (box.width === 0) continue;
        const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
        let bg = backdrop(svg);
        for (const s of shapes) {
          if (s.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING) continue;  // drawn after
          const f = parse(getComputedStyle(s).fill);
          const b = s.getBoundingClientRect();
          const fo = Number(getComputedStyle(s).fillOpacity ?? 1);
          if (f && f[3] > 0 && fo > 0 && x >= b.left && x <= b.right && y >= b.top && y <= b.bottom) {
            bg = over([f[0], f[1], f[2], f[3] * fo], bg);
          }
        }
        const fo = Number(getComputedStyle(el).fillOpacity ?? 1);
        check(el, [fill[0], fill[1], fill[2], fill[3] * fo * opacity(el)], bg, text);
      }
    }
    return failures;
  });
}

// How far the page reaches beyond the screen's width, in pixels (0 or less: it fits).
export function pageOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}
