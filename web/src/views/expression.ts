// Small pieces of the audience expression language (docs/audiences.md) the builder needs on
// the client: quoting, joining a new condition onto what is typed, and mapping the server's
// error column (in characters) onto the text.

// A text literal, in double quotes with `"` and `\` escaped.
export function quote(text: string): string {
  return '"' + text.replace(/[\\"]/g, (c) => "\\" + c) + '"';
}

// `field = "a"` for one value, `field in ["a", "b"]` for several.
export function memberOf(field: string, values: string[]): string {
  return values.length === 1 ? `${field} = ${quote(values[0])}` : `${field} in [${values.map(quote).join(", ")}]`;
}

export type Connector = "and" | "or" | "and not";

// Whether `expr` has an `and` / `or` outside brackets and quotes.
function topLevel(expr: string): { and: boolean; or: boolean } {
  let depth = 0;
  let quoteChar = "";
  const found = { and: false, or: false };
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (quoteChar) {
      if (c === "\\") i++;
      else if (c === quoteChar) quoteChar = "";
      continue;
    }
    if (c === '"' || c === "'") quoteChar = c;
    else if (c === "(" || c === "[") depth++;
    else if (c === ")" || c === "]") depth--;
    else if (depth === 0 && /\s/.test(c)) {
      const word = /^(and|or)(?=[\s(])/i.exec(expr.slice(i + 1));
      if (word) found[word[1].toLowerCase() as "and" | "or"] = true;
    }
  }
  return found;
}

// Appends `clause` to `expr` with the connector. `and` binds tighter than `or`, so what is
// typed is put in brackets where the new condition would otherwise bind to its last part only.
export function addCondition(expr: string, clause: string, connector: Connector): string {
  const current = expr.trim();
  if (!current) return connector === "and not" ? `not ${clause}` : clause;
  const ops = topLevel(current);
  const left = connector !== "or" && ops.or ? `(${current})` : current;
  const right = connector === "and not" ? `not ${clause}` : clause;
  return `${left} ${connector === "or" ? "or" : "and"} ${right}`;
}

// The UTF-16 offset of 1-based character `column` (the server counts code points).
export function offsetOfColumn(text: string, column: number): number {
  let offset = 0;
  let n = 1;
  for (const ch of text) {
    if (n >= column) break;
    offset += ch.length;
    n++;
  }
  return Math.min(offset, text.length);
}

// The length of the token starting at `offset`: a quoted text, a word or number, else one
// character (0 at the end of the text).
export function tokenLength(text: string, offset: number): number {
  const rest = text.slice(offset);
  if (!rest) return 0;
  const quoted = /^("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?)/.exec(rest);
  if (quoted) return quoted[0].length;
  const word = /^[\p{L}\p{N}_.]+/u.exec(rest);
  if (word) return word[0].length;
  return rest.codePointAt(0)! > 0xffff ? 2 : 1;
}

// The column the server reported: the error's "column" field, else the "column N:" its message
// starts with.
export function errorColumn(details: Record<string, unknown>, message: string): number | null {
  const c = details.column;
  if (typeof c === "number" && Number.isInteger(c) && c >= 1) return c;
  const m = /column (\d+):/i.exec(message);
  return m ? Number(m[1]) : null;
}

// The message without its "column N: " (shown beside it) or "expression N: " prefix.
export function errorText(message: string): string {
  return message.replace(/^(expression \d+: )?column \d+: /i, "");
}

// A short suggested replacement (`clv` for `clvv`) from the error, for a one-click fix: the
// "suggestion" field when it is one word or text, else the "did you mean 'x'?" of the message.
export function suggestedWord(details: Record<string, unknown>, message: string): string | null {
  const s = details.suggestion;
  if (typeof s === "string") {
    const m = /^(?:did you mean )?['"]?([^'"?;\n]{1,80}?)['"]?\??$/i.exec(s.trim());
    if (m) return m[1];
  }
  const m = /did you mean '([^']{1,80})'\?/.exec(message);
  return m ? m[1] : null;
}

// Replaces the token at `offset` with `word`, keeping its quotes when it was quoted.
export function replaceToken(text: string, offset: number, word: string): string {
  const len = tokenLength(text, offset);
  const old = text.slice(offset, offset + len);
  const q = old[0] === '"' || old[0] === "'" ? old[0] : "";
  const replacement = q ? (q === '"' ? quote(word) : `'${word.replace(/[\\']/g, (c) => "\\" + c)}'`) : word;
  return text.slice(0, offset) + replacement + text.slice(offset + len);
}
