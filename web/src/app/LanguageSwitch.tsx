import { Segmented } from 'antd';
import { useI18n, type Lang } from '../i18n';

export function LanguageSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <Segmented<Lang>
      aria-label={t('lang.label')}
      size="small"
      value={lang}
      onChange={setLang}
      options={[
        { value: 'en', label: 'EN', title: 'English' },
        { value: 'vi', label: 'VI', title: 'Tiếng Việt' },
      ]}
    />
  );
}
