import { describe, expect, it } from 'vitest';
import { formatDateTime, formatNumber, formatTimeIn, interpolate, pickLang } from './format';
import { en } from './en';
import { vi } from './vi';

const MS = Date.UTC(2026, 10, 30, 6, 5); // 30 Nov 2026 06:05 UTC

describe('formatting', () => {
  it('shows a site-local time with its zone', () => {
    const s = formatDateTime(MS, 'en', 'Asia/Ho_Chi_Minh');
    expect(s).toContain('13:05');
    expect(s).toContain('(Asia/Ho_Chi_Minh)');
    expect(formatDateTime(MS, 'en', 'Europe/Paris')).toContain('07:05');
  });
  it('uses Vietnamese month names and number grouping', () => {
    expect(formatDateTime(MS, 'vi', 'UTC')).toMatch(/thg 11|tháng 11/);
    expect(formatNumber(1234567, 'vi')).toBe('1.234.567');
    expect(formatNumber(1234567, 'en')).toBe('1,234,567');
  });
  it('shows the wall-clock time in a zone with the weekday', () => {
    expect(formatTimeIn(MS, 'en', 'Asia/Ho_Chi_Minh')).toMatch(/Mon.*13:05/);
    expect(formatTimeIn(MS, 'vi', 'America/New_York')).toMatch(/01:05/);
  });
  it('prints nothing for a missing time', () => {
    expect(formatDateTime(null, 'en')).toBe('');
  });
  it('fills placeholders and leaves unknown ones', () => {
    expect(interpolate('Delete {name}?', { name: 'Door' })).toBe('Delete Door?');
    expect(interpolate('{a} {b}', { a: 1 })).toBe('1 {b}');
  });
  it('picks the stored language, else the browser one, else English', () => {
    expect(pickLang('vi', ['en-US'])).toBe('vi');
    expect(pickLang(null, ['fr-FR', 'vi-VN'])).toBe('vi');
    expect(pickLang('xx', ['de'])).toBe('en');
  });
});

describe('dictionaries', () => {
  it('have the same keys, all translated and non-empty', () => {
    expect(Object.keys(vi).sort()).toEqual(Object.keys(en).sort());
    for (const [k, v] of Object.entries(vi)) expect(v.trim(), k).not.toBe('');
  });
  it('keep the same placeholders in both languages', () => {
    const ph = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort().join();
    for (const k of Object.keys(en) as (keyof typeof en)[]) expect(ph(vi[k]), k).toBe(ph(en[k]));
  });
});
