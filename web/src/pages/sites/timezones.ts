// Time zones for the picker: the browser's list plus current IANA names that
// some browsers still report under an older alias (the server knows both).
const MODERN = ['Asia/Ho_Chi_Minh', 'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Yangon', 'Europe/Kyiv', 'America/Nuuk',
  'Pacific/Kanton', 'UTC'];

export function timeZones(extra?: string): string[] {
  const list = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const all = new Set([...list, ...MODERN]);
  if (extra) all.add(extra);
  return [...all].sort();
}

export function browserTimeZone(): string {
  const z = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (z === 'Asia/Saigon') return 'Asia/Ho_Chi_Minh';
  if (z === 'Asia/Calcutta') return 'Asia/Kolkata';
  if (z === 'Europe/Kiev') return 'Europe/Kyiv';
  return z || 'UTC';
}
