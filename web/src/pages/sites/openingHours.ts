// Opening hours as the server stores them: per day (mon..sun) up to four
// ["HH:MM","HH:MM"] ranges; null when not set.
export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];
export type Range = [string, string];
export type Hours = Partial<Record<Day, Range[]>>;

export const MAX_RANGES = 4;
const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** Problems with the hours, as [day, index, problem]; empty when valid. */
export function validateHours(h: Hours): Array<[Day, number, 'format' | 'order' | 'overlap' | 'tooMany']> {
  const out: Array<[Day, number, 'format' | 'order' | 'overlap' | 'tooMany']> = [];
  for (const d of DAYS) {
    const rs = h[d] ?? [];
    if (rs.length > MAX_RANGES) out.push([d, MAX_RANGES, 'tooMany']);
    rs.forEach(([a, b], i) => {
      if (!HHMM.test(a) || !HHMM.test(b)) out.push([d, i, 'format']);
      else if (a >= b) out.push([d, i, 'order']);
    });
    const sorted = rs.filter(([a, b]) => HHMM.test(a) && HHMM.test(b) && a < b).sort((x, y) => x[0].localeCompare(y[0]));
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i][0] < sorted[i - 1][1]) out.push([d, rs.indexOf(sorted[i]), 'overlap']);
    }
  }
  return out;
}

/** The value to send: days without ranges left out, ranges sorted; null when no day has any. */
export function normaliseHours(h: Hours | null | undefined): Hours | null {
  if (!h) return null;
  const out: Hours = {};
  for (const d of DAYS) {
    const rs = (h[d] ?? []).filter(([a, b]) => a && b);
    if (rs.length) out[d] = [...rs].sort((x, y) => x[0].localeCompare(y[0])).map(([a, b]) => [a, b]);
  }
  return Object.keys(out).length ? out : null;
}

/** Days with identical ranges grouped, e.g. "mon–fri 09:00–17:00; sat 10:00–14:00". */
export function summariseHours(h: Hours | null | undefined, dayName: (d: Day) => string, closed: string): string {
  const n = normaliseHours(h);
  if (!n) return '';
  const key = (d: Day) => (n[d] ?? []).map(([a, b]) => `${a}–${b}`).join(', ');
  const parts: string[] = [];
  let i = 0;
  while (i < DAYS.length) {
    let j = i;
    while (j + 1 < DAYS.length && key(DAYS[j + 1]) === key(DAYS[i])) j++;
    const span = i === j ? dayName(DAYS[i]) : `${dayName(DAYS[i])}–${dayName(DAYS[j])}`;
    parts.push(`${span} ${key(DAYS[i]) || closed}`);
    i = j + 1;
  }
  return parts.join('; ');
}
