import { describe, expect, it } from 'vitest';
import { changeText, csvName, daysInRange, durationText, heatmapData, localDate, reportQuery } from './model';

describe('reports model', () => {
  it('builds the range query with sorted site ids', () => {
    expect(reportQuery('2026-01-01', '2026-01-07', [])).toEqual({ from: '2026-01-01', to: '2026-01-07' });
    expect(reportQuery('2026-01-01', '2026-01-07', [5, 2])).toEqual({ from: '2026-01-01', to: '2026-01-07', site_id: '2,5' });
  });
  it('counts inclusive days across months and years', () => {
    expect(daysInRange('2026-01-01', '2026-01-01')).toBe(1);
    expect(daysInRange('2025-12-31', '2026-01-31')).toBe(32);
    expect(daysInRange('2024-02-28', '2024-03-01')).toBe(3);
  });
  it('formats a local date', () => {
    expect(localDate(new Date(2026, 0, 5, 23, 59))).toBe('2026-01-05');
  });
  it('keeps only the cells the server gave and their maximum', () => {
    const { data, max } = heatmapData([{ weekday: 0, hour: 9, visits: 4 }, { weekday: 6, hour: 23, visits: 7 }, { hour: 3 }]);
    expect(data).toEqual([[9, 0, 4], [23, 6, 7]]);
    expect(max).toBe(7);
    expect(heatmapData([]).max).toBe(0);
  });
  it('shows a change only when there is a base', () => {
    const f = (n: number) => String(n);
    expect(changeText(0.25, f)).toBe('+25 %');
    expect(changeText(-0.333, f)).toBe('-33.3 %');
    expect(changeText(0, f)).toBe('0 %');
    expect(changeText(null, f)).toBeNull();
  });
  it('formats durations', () => {
    expect(durationText(125)).toBe('2:05');
    expect(durationText(3725)).toBe('1:02:05');
    expect(durationText(null)).toBe('—');
  });
  it('names CSV files after the report and range', () => {
    expect(csvName('series', { from: '2026-01-01', to: '2026-01-07', site_id: '2,5' })).toBe('footfall-series-2026-01-01_2026-01-07-sites-2-5.csv');
  });
});
