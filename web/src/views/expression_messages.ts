// The audience parser's messages (src/audience/expression.cc) in the reader's language. The
// server writes them in English; German readers get them translated here, piece by piece, so
// the names, numbers and lists inside stay exactly as the server wrote them. A message no
// pattern knows is shown as the server wrote it, marked as English (see `translatedError`).

import { lang } from "../i18n";

type Rule = [RegExp, (m: RegExpExecArray) => string];

// The phrases the parser uses for what it expected and what it found.
const PHRASES: Rule[] = [
  [/^end of expression$/, () => "Ende des Ausdrucks"],
  [/^a text in quotes$/, () => "ein Text in Anführungszeichen"],
  [/^number (.+)$/, (m) => `Zahl ${m[1]}`],
  [/^an expression$/, () => "ein Ausdruck"],
  [/^'and', 'or' or end of expression$/, () => "'and', 'or' oder Ende des Ausdrucks"],
  [/^'\)' or 'and', 'or'$/, () => "')' oder 'and', 'or'"],
  [/^a field, bought\(\.\.\.\), 'not' or '\('$/, () => "ein Feld, bought(...), 'not' oder '('"],
  [/^'in' after 'not'$/, () => "'in' nach 'not'"],
  [/^an operator \((.+)\)$/, (m) => `ein Operator (${m[1]})`],
  [/^'\[' to start a list$/, () => "'[' für den Beginn einer Liste"],
  [/^',' or '\]'$/, () => "',' oder ']'"],
  [/^',' or '\)'$/, () => "',' oder ')'"],
  [/^a number$/, () => "eine Zahl"],
  [/^a name in quotes$/, () => "ein Name in Anführungszeichen"],
  [/^'\(' after bought$/, () => "'(' nach bought"],
  [/^a category in quotes$/, () => "eine Kategorie in Anführungszeichen"],
  [/^within=, min_count= or min_spend=$/, () => "within=, min_count= oder min_spend="],
  [/^within, min_count or min_spend$/, () => "within, min_count oder min_spend"],
  [/^'=' after (\w+)$/, (m) => `'=' nach ${m[1]}`],
  [/^a duration such as 90d, 12w or 6m$/, () => "eine Dauer wie 90d, 12w oder 6m"],
  [/^a closing (.)$/, (m) => `ein schließendes ${m[1]}`],
  [/^a field, a value, an operator, '\(' or '\)'$/, () => "ein Feld, ein Wert, ein Operator, '(' oder ')'"],
  [/^('[^']*'|"[^"]*")$/, (m) => m[1]],
];

function phrase(text: string): string | null {
  for (const [re, de] of PHRASES) {
    const m = re.exec(text);
    if (m) return de(m);
  }
  return null;
}

// " (did you mean 'x'?)" as the parser appends it.
const MEAN = String.raw`(?: \(did you mean '([^']*)'\?\))?`;
const meant = (word: string | undefined) => (word === undefined ? "" : ` (meinten Sie '${word}'?)`);

const MESSAGES: Rule[] = [
  [/^expected (.+), found (.+)$/s, (m) => {
    const e = phrase(m[1]);
    const f = phrase(m[2]);
    return e !== null && f !== null ? `erwartet: ${e}, gefunden: ${f}` : "";
  }],
  [/^expected '!=' \('!' alone is no operator; use not\)$/, () => "erwartet: '!=' ('!' allein ist kein Operator; für die Verneinung schreiben Sie not)"],
  [/^unterminated text: expected a closing (.)$/, (m) => `Text ohne Ende: erwartet wird ein schließendes ${m[1]}`],
  [/^unknown escape: only (.+) are allowed in text$/, (m) => `unbekannte Escape-Sequenz: in Texten sind nur ${m[1].replace(" and ", " und ")} erlaubt`],
  [/^unexpected character: expected a field, a value, an operator, '\(' or '\)'$/, () =>
    "unerwartetes Zeichen: erwartet wird ein Feld, ein Wert, ein Operator, '(' oder ')'"],
  [/^the expression nests too deeply \(more than (\d+) levels\)$/, (m) => `der Ausdruck ist zu tief verschachtelt (mehr als ${m[1]} Ebenen)`],
  [/^(\w+) needs predictions: the snapshot the index was built from has none \(make one with (`[^`]+`)\)$/, (m) =>
    `${m[1]} braucht Vorhersagen: die Auswertung, aus der der Index gebaut wurde, hat keine (erstellen Sie eine mit ${m[2]})`],
  [new RegExp(String.raw`^unknown field '([^']*)'${MEAN}; fields: (.*)$`, "s"), (m) => `unbekanntes Feld '${m[1]}'${meant(m[2])}; Felder: \`${m[3]}\``],
  [/^(\w+) is compared with =, != or in, not (.+)$/, (m) => `${m[1]} wird mit =, != oder in verglichen, nicht mit ${m[2]}`],
  [new RegExp(String.raw`^unknown segment (.+?)${MEAN}; segments: (.*)$`, "s"), (m) => `unbekanntes Segment ${m[1]}${meant(m[2])}; Segmente: \`${m[3]}\``],
  [new RegExp(String.raw`^no customer has (\w+) (.+?)${MEAN}; values: (.*)$`, "s"), (m) =>
    `kein Kunde hat ${m[1]} ${m[2]}${meant(m[3])}; Werte: \`${m[4].replace(/, \.\.\. \((\d+) in all\)$/, ", … ($1 insgesamt)")}\``],
  [/^malformed number (.+)$/, (m) => `ungültige Zahl ${m[1]}`],
  [/^number (.+) has too many digits \(at most (\d+)\)$/, (m) => `die Zahl ${m[1]} hat zu viele Ziffern (höchstens ${m[2]})`],
  [new RegExp(String.raw`^unknown category (.+?)${MEAN}$`, "s"), (m) => `unbekannte Kategorie ${m[1]}${meant(m[2])}`],
  [/^category (.+) is ambiguous: (.+); write its full path$/s, (m) => `die Kategorie ${m[1]} ist mehrdeutig: ${m[2]}; schreiben Sie ihren vollen Pfad`],
  [new RegExp(String.raw`^unknown argument '([^']*)' of bought${MEAN}; expected within, min_count or min_spend$`), (m) =>
    `unbekanntes Argument '${m[1]}' von bought${meant(m[2])}; erwartet: within, min_count oder min_spend`],
  [/^(\w+) is given twice$/, (m) => `${m[1]} steht doppelt da`],
  [/^(\w+) cannot be negative$/, (m) => `${m[1]} kann nicht negativ sein`],
  [/^min_count takes a whole number from 1 to 100000$/, () => "min_count nimmt eine ganze Zahl von 1 bis 100000"],
  [/^within=(\S+) reaches before the index's window \((\S+) from (\S+)\); the longest is (\d+)d$/, (m) =>
    `within=${m[1]} reicht vor den Zeitraum des Index (${m[2]} ab ${m[3]}); am längsten geht ${m[4]}d`],
  [/^the expression is longer than 100,000 characters$/, () => "der Ausdruck ist länger als 100.000 Zeichen"],
];

// The message in the reader's language (lists of names in `code`, as the expression writes
// them), or null when it stays as the server wrote it (English).
export function translateExpressionError(message: string): string | null {
  if (lang() === "en") return message;
  for (const [re, de] of MESSAGES) {
    const m = re.exec(message);
    if (m) {
      const text = de(m);
      if (text) return text;
    }
  }
  return null;
}

// The error's "expected" detail (a phrase of the parser), in the reader's language, or null.
export function translateExpected(text: string): string | null {
  return lang() === "en" ? text : phrase(text);
}

// A decimal comma where the language wants a point: `200,50` at `offset` (the column the
// server names points at the comma or the digits after it) becomes `200.50`. Returns the
// number as typed and as the expression writes it, or null.
export function decimalCommaAt(text: string, offset: number): { typed: string; fixed: string; start: number } | null {
  const re = /(?<![\w.,])(\d+),(\d+)(?![\w.,])/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index;
    if (offset >= start && offset <= start + m[0].length) {
      // In English `1,000` is a thousand; in German `200,50` is two hundred and a half.
      const thousands = lang() === "en" && m[2].length === 3;
      return { typed: m[0], fixed: thousands ? m[1] + m[2] : `${m[1]}.${m[2]}`, start };
    }
  }
  return null;
}
