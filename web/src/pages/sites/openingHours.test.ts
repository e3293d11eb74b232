import { describe, expect, it } from 'vitest';
import { normaliseHours, summariseHours, validateHours } from './openingHours';

describe('opening hours', () => {
  it('drops empty days and sorts ranges', () => {
    expect(normaliseHours({ mon: [['13:00', '17:00'], ['08:00', '12:00']], tue: [] })).toEqual({
      mon: [['08:00', '12:00'], ['13:00', '17:00']],
    });
  });
  it('is null when nothing is set', () => {
    expect(normaliseHours({ mon: [], sun: [] })).toBeNull();
    expect(normaliseHours(null)).toBeNull();
  });
  it('finds bad, reversed and overlapping ranges', () => {
    expect(validateHours({ mon: [['09:00', '17:00']] })).toEqual([]);
    expect(validateHours({ mon: [['9:00', '17:00']] })).toEqual([['mon', 0, 'format']]);
    expect(validateHours({ tue: [['18:00', '09:00']] })).toEqual([['tue', 0, 'order']]);
    expect(validateHours({ wed: [['09:00', '12:00'], ['11:00', '14:00']] })).toEqual([['wed', 1, 'overlap']]);
    expect(validateHours({ thu: [['24:00', '25:00']] })).toEqual([['thu', 0, 'format']]);
  });
  it('groups equal days in the summary', () => {
    const week = { mon: [['09:00', '17:00']], tue: [['09:00', '17:00']], wed: [['09:00', '17:00']], thu: [['09:00', '17:00']],
      fri: [['09:00', '17:00']], sat: [['10:00', '14:00']] } as const;
    const h = JSON.parse(JSON.stringify(week));
    expect(summariseHours(h, (d) => d, 'closed')).toBe('mon–fri 09:00–17:00; sat 10:00–14:00; sun closed');
  });
});
