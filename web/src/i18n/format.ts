// Locale-aware formatting of the server's values (epoch milliseconds, counts).
export type Lang = 'en' | 'vi';

export const LOCALES: Record<Lang, string> = { en: 'en-GB', vi: 'vi-VN' };

/** A date and time; in `timeZone` (an IANA zone, named in the text) when given. */
export function formatDateTime(ms: number | null | undefined, lang: Lang, timeZone?: string): string {
  if (ms === null || ms === undefined) return '';
  const opts: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' };
  if (timeZone) {
    return `${new Intl.DateTimeFormat(LOCALES[lang], { ...opts, timeZone }).format(ms)} (${timeZone})`;
  }
  return new Intl.DateTimeFormat(LOCALES[lang], opts).format(ms);
}

/** The wall-clock time now in a zone, e.g. for a site. */
export function formatTimeIn(ms: number, lang: Lang, timeZone: string): string {
  // (timeStyle cannot be combined with weekday.)
  return new Intl.DateTimeFormat(LOCALES[lang], { weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone }).format(ms);
}

export function formatNumber(n: number, lang: Lang): string {
  return new Intl.NumberFormat(LOCALES[lang]).format(n);
}

/** Fills {name} placeholders. */
export function interpolate(text: string, vars?: Record<string, string | number>): string {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

/** The first language the browser prefers that we have, else English. */
export function pickLang(stored: string | null, preferred: readonly string[]): Lang {
  if (stored === 'en' || stored === 'vi') return stored;
  for (const p of preferred) {
    const base = p.toLowerCase().split('-')[0];
    if (base === 'vi' || base === 'en') return base;
  }
  return 'en';
}
