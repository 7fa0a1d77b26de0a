// Contrast of colours as WCAG 2 defines it, for text drawn on colours computed at run time
// (migration cells, heat-map cells).

export type Rgb = number[];

export const DARK_TEXT: Rgb = [46, 52, 64];  // --text
export const WHITE: Rgb = [255, 255, 255];

function luminance([r, g, b]: Rgb): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export function contrastRatio(a: Rgb, b: Rgb): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// Dark or white text, whichever reads better on `background`, as a CSS colour.
export function contrastText(background: Rgb): string {
  const text = contrastRatio(background, WHITE) > contrastRatio(background, DARK_TEXT) ? WHITE : DARK_TEXT;
  return `rgb(${text.join(", ")})`;
}
