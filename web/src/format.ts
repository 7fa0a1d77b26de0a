// Numbers, money and dates in the reader's language. Display only: money arrives as decimal
// strings or rounded numbers and is never summed here.

import { h } from "./dom";
import { lang } from "./i18n";

function locale(): string {
  return lang() === "de" ? "de-DE" : "en-GB";
}

export function int(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(n);
}

export function decimal(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined) return "–";
  return new Intl.NumberFormat(locale(), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(n);
}

export function percent(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined) return "–";
  return decimal(n, digits) + "\u202f%";
}

export function money(v: number | string | null | undefined, currency: string, digits = 2): string {
  if (v === null || v === undefined || v === "") return "–";
  const n = typeof v === "string" ? Number(v) : v;
  if (!Number.isFinite(n)) return String(v);
  try {
    return new Intl.NumberFormat(locale(), {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(n);
  } catch {
    // Not an ISO 4217 code: the number and the code as given.
    return decimal(n, digits) + " " + currency;
  }
}

// Short money for axis labels: no cents.
export function moneyShort(n: number, currency: string): string {
  return money(n, currency, 0);
}

export function date(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso.length === 10 ? iso + "T00:00:00Z" : iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), {
    year: "numeric",
    month: "short",
    day: "numeric",
    timeZone: "UTC",
  }).format(d);
}

// A window length as the server writes it ("24m", "365d") in words.
export function windowLength(length: string): string {
  const m = /^(\d+)([mdy])$/.exec(length);
  if (!m) return length;
  const n = Number(m[1]);
  const de = lang() === "de";
  const unit =
    m[2] === "m"
      ? de ? (n === 1 ? "Monat" : "Monate") : n === 1 ? "month" : "months"
      : m[2] === "y"
        ? de ? (n === 1 ? "Jahr" : "Jahre") : n === 1 ? "year" : "years"
        : de ? (n === 1 ? "Tag" : "Tage") : n === 1 ? "day" : "days";
  return `${n} ${unit}`;
}

// Text with `code` spans, as the UI strings write commands.
export function rich(text: string): Node[] {
  return text.split(/(`[^`]+`)/).map((part) =>
    part.startsWith("`") && part.endsWith("`") && part.length > 1
      ? h("code", null, part.slice(1, -1))
      : document.createTextNode(part),
  );
}

// A number typed in the reader's notation, as the expression language writes it: German
// `1.000,50` and English `1,000.50` are both "1000.50". Thousands separators count only in
// groups of three; a separator that fits neither reading (German `200.5`, English `200,5`) is
// refused, not guessed. Returns null for anything that is not such a number.
export function parseLocaleNumber(text: string, language = lang()): string | null {
  const s = text.trim().replace(/[\s\u00a0\u202f]/g, "");
  const [group, point] = language === "de" ? [".", ","] : [",", "."];
  const g = group === "." ? "\\." : group;
  const p = point === "." ? "\\." : point;
  const m = new RegExp(`^(-?)(\\d{1,3}(?:${g}\\d{3})+|\\d+)(?:${p}(\\d+))?$`).exec(s);
  if (!m) return null;
  const whole = m[2].split(group).join("").replace(/^0+(?=\d)/, "");
  return m[1] + whole + (m[3] ? "." + m[3] : "");
}
