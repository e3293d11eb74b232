import { Button, Space, Typography } from 'antd';
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { useI18n } from '../../i18n';
import { DAYS, MAX_RANGES, type Day, type Hours, type Range } from './openingHours';

/** A form control: per day, a list of opening ranges (native time inputs, keyboard friendly). */
export function OpeningHoursEditor({ value, onChange }: { value?: Hours | null; onChange?: (h: Hours) => void }) {
  const { t } = useI18n();
  const h: Hours = value ?? {};
  const set = (d: Day, rs: Range[]) => onChange?.({ ...h, [d]: rs });
  return (
    <div data-testid="opening-hours">
      {DAYS.map((d) => {
        const rs = h[d] ?? [];
        return (
          <div key={d} style={{ display: 'flex', gap: 8, alignItems: 'center', marginBottom: 6, flexWrap: 'wrap' }}>
            <Typography.Text style={{ width: 90 }}>{t(`day.${d}`)}</Typography.Text>
            {rs.length === 0 && <Typography.Text type="secondary">{t('sites.closed')}</Typography.Text>}
            {rs.map(([a, b], i) => (
              <Space.Compact key={i}>
                <input type="time" className="ant-input" aria-label={t('sites.opens', { day: t(`day.${d}`) })} value={a}
                  onChange={(e) => set(d, rs.map((r, j) => (j === i ? [e.target.value, r[1]] : r)))} style={{ width: 110 }} />
                <input type="time" className="ant-input" aria-label={t('sites.closes', { day: t(`day.${d}`) })} value={b}
                  onChange={(e) => set(d, rs.map((r, j) => (j === i ? [r[0], e.target.value] : r)))} style={{ width: 110 }} />
                <Button aria-label={t('sites.removeRange')} icon={<DeleteOutlined />} onClick={() => set(d, rs.filter((_, j) => j !== i))} />
              </Space.Compact>
            ))}
            {rs.length < MAX_RANGES && (
              <Button size="small" type="dashed" icon={<PlusOutlined />} aria-label={t('sites.addRangeFor', { day: t(`day.${d}`) })}
                onClick={() => set(d, [...rs, rs.length ? ['13:00', '17:00'] : ['09:00', '17:00']])}>
                {t('sites.addRange')}
              </Button>
            )}
          </div>
        );
      })}
    </div>
  );
}
