// English and Vietnamese. `vi` is typed against `en`, so a key missing from
// either dictionary fails the build.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import dayjs from 'dayjs';
import 'dayjs/locale/vi';
import { en, type MessageKey } from './en';
import { vi } from './vi';
import { formatDateTime, formatNumber, formatTimeIn, interpolate, pickLang, type Lang } from './format';

export type { Lang, MessageKey };
const DICTS: Record<Lang, Record<MessageKey, string>> = { en, vi };
const STORAGE_KEY = 'footfall.lang';

interface I18n {
  lang: Lang;
  setLang: (l: Lang) => void;
  t: (key: MessageKey, vars?: Record<string, string | number>) => string;
  dateTime: (ms: number | null | undefined, timeZone?: string) => string;
  timeIn: (ms: number, timeZone: string) => string;
  num: (n: number) => string;
}

const Ctx = createContext<I18n | null>(null);

function initialLang(): Lang {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    /* storage disabled */
  }
  return pickLang(stored, navigator.languages ?? [navigator.language]);
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  useEffect(() => {
    document.documentElement.lang = lang;
    dayjs.locale(lang === 'vi' ? 'vi' : 'en');
  }, [lang]);
  const setLang = useCallback((l: Lang) => {
    setLangState(l);
    try {
      localStorage.setItem(STORAGE_KEY, l);
    } catch {
      /* storage disabled */
    }
  }, []);
  const value = useMemo<I18n>(
    () => ({
      lang,
      setLang,
      t: (key, vars) => interpolate(DICTS[lang][key], vars),
      dateTime: (ms, tz) => formatDateTime(ms, lang, tz),
      timeIn: (ms, tz) => formatTimeIn(ms, lang, tz),
      num: (n) => formatNumber(n, lang),
    }),
    [lang, setLang],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const v = useContext(Ctx);
  if (!v) throw new Error('useI18n outside I18nProvider');
  return v;
}
