// Pure helpers of the reports page: the query for a range, the heat map
// matrix, changes against the previous period. Numbers come only from the
// server's answers; nothing here invents a figure.
export type Granularity = 'hour' | 'day' | 'week' | 'month';
export const GRANULARITIES: readonly Granularity[] = ['hour', 'day', 'week', 'month'];
/** The server refuses hourly series longer than this (days, inclusive). */
export const HOURLY_MAX_DAYS = 31;

/** A local calendar date as YYYY-MM-DD (each site reads it in its own zone). */
export function localDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** Days in an inclusive YYYY-MM-DD range. */
export function daysInRange(from: string, to: string): number {
  const a = Date.UTC(+from.slice(0, 4), +from.slice(5, 7) - 1, +from.slice(8, 10));
  const b = Date.UTC(+to.slice(0, 4), +to.slice(5, 7) - 1, +to.slice(8, 10));
  return Math.round((b - a) / 86400000) + 1;
}

export interface ReportQuery {
  from: string;
  to: string;
  site_id?: string;
}

export function reportQuery(from: string, to: string, siteIds: readonly number[]): ReportQuery {
  return siteIds.length ? { from, to, site_id: [...siteIds].sort((a, b) => a - b).join(',') } : { from, to };
}

export interface HeatCell { weekday?: number; hour?: number; visits?: number }

/** [hour, weekday, visits] triples for every cell the server gave, and the largest count. */
export function heatmapData(cells: readonly HeatCell[]): { data: [number, number, number][]; max: number } {
  const data: [number, number, number][] = [];
  let max = 0;
  for (const c of cells) {
    if (c.weekday === undefined || c.hour === undefined) continue;
    const v = c.visits ?? 0;
    data.push([c.hour, c.weekday, v]);
    if (v > max) max = v;
  }
  return { data, max };
}

/** A change ratio from the server (0.25 = +25 %) as signed percent text; null when there is no base. */
export function changeText(change: number | null | undefined, fmt: (n: number) => string): string | null {
  if (change === null || change === undefined || !Number.isFinite(change)) return null;
  const pct = Math.round(change * 1000) / 10;
  return `${pct > 0 ? '+' : ''}${fmt(pct)} %`;
}

/** Seconds as minutes and seconds ("2:05"); empty for none. */
export function durationText(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** The file name of a CSV download. */
export function csvName(report: string, q: ReportQuery): string {
  return `footfall-${report}-${q.from}_${q.to}${q.site_id ? '-sites-' + q.site_id.replace(/,/g, '-') : ''}.csv`;
}
