import { useEffect, useRef, useState } from 'react';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Checkbox, DatePicker, Descriptions, Empty, InputNumber, List, Modal, Popconfirm, Select, Space, Tag, Typography } from 'antd';
import { DeleteOutlined, MergeCellsOutlined, ReloadOutlined, SwapOutlined } from '@ant-design/icons';
import type { Dayjs } from 'dayjs';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { MANAGERS, allowed } from '../../auth/roles';
import { PageHead, QueryError, siteName, useSites } from '../../components/common';
import { useI18n } from '../../i18n';
import { VisitPicture } from './AuthImage';

type Visit = Schemas['Visit'];
type Kind = 'new' | 'returning';
const PAGE = 30;

function duration(ms: number | undefined, t: ReturnType<typeof useI18n>['t']): string {
  const s = Math.round((ms ?? 0) / 1000);
  if (s < 60) return t('visits.seconds', { n: s });
  const m = Math.round(s / 60);
  return m < 60 ? t('visits.minutes', { n: m }) : t('visits.hours', { h: Math.floor(m / 60), m: m % 60 });
}

/**
 * Moves a visit to another customer. The dialog is the confirmation: it shows
 * the customer the visit goes to (fetched by id) before anything changes.
 */
function ReassignDialog({ visit, onClose }: { visit: Visit; onClose: () => void }) {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [to, setTo] = useState<number | null>(null);
  const target = useQuery({
    queryKey: ['customers', 'one', to],
    enabled: to !== null && to > 0 && to !== visit.customer_id,
    retry: false,
    queryFn: () => unwrap(api.client.GET('/v1/customers/{id}', { params: { path: { id: to! } } })),
  });
  const move = useMutation({
    mutationFn: () => unwrap(api.client.POST('/v1/visits/{id}/reassign', { params: { path: { id: visit.id } }, body: { customer_id: to! } })),
    onSuccess: () => {
      message.success(t('customers.reassigned', { id: to ?? '' }));
      qc.invalidateQueries({ queryKey: ['visits'] });
      qc.invalidateQueries({ queryKey: ['customers'] });
      onClose();
    },
  });
  const ready = !!target.data && target.data.id === to;
  return (
    <Modal open title={t('visits.reassignTitle', { id: visit.id })} okText={t('visits.reassignOk')} cancelText={t('common.cancel')}
      okButtonProps={{ disabled: !ready }} confirmLoading={move.isPending} onOk={() => move.mutate()} onCancel={onClose}>
      <Typography.Paragraph>
        {visit.customer_id !== null && visit.customer_id !== undefined ? t('visits.reassignFrom', { id: visit.customer_id }) : t('visits.reassignAnonymous')}
      </Typography.Paragraph>
      <Space direction="vertical" style={{ width: '100%' }}>
        <InputNumber<number> min={1} style={{ width: 200 }} placeholder={t('customers.customerId')} aria-label={t('customers.reassignTo', { id: visit.id })}
          value={to} onChange={setTo} autoFocus />
        {to !== null && to === visit.customer_id && <Alert type="info" showIcon message={t('visits.reassignSame')} />}
        {target.error && <Alert type="error" showIcon role="alert" message={errorMessage(target.error)} />}
        {ready && (
          <Descriptions size="small" column={1} bordered data-testid="reassign-target">
            <Descriptions.Item label={t('visits.reassignTarget')}>{target.data.name ? `${target.data.name} (#${target.data.id})` : t('customers.anonymous', { id: target.data.id })}</Descriptions.Item>
            <Descriptions.Item label={t('customers.visits')}>{num(target.data.visit_count)}</Descriptions.Item>
            <Descriptions.Item label={t('customers.lastSeen')}>{dateTime(target.data.last_seen_at_ms) || '—'}</Descriptions.Item>
          </Descriptions>
        )}
        {ready && <Typography.Text type="secondary">{t('visits.reassignNote')}</Typography.Text>}
        {move.error && <Alert type="error" showIcon role="alert" message={errorMessage(move.error)} />}
      </Space>
    </Modal>
  );
}

/**
 * Folds the selected visits into the earliest of them: one pass of a person
 * that was recorded as several. The dialog is the confirmation; the server
 * refuses visits of different sites or local days, and so does the dialog.
 */
function MergeDialog({ visits, onClose, onDone }: { visits: Visit[]; onClose: () => void; onDone: () => void }) {
  const { t, dateTime } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const sites = useSites();
  const sorted = [...visits].sort((a, b) => a.first_seen_at_ms - b.first_seen_at_ms || a.id - b.id);
  const target = sorted[0];
  const oneDay = sorted.every((v) => v.site_id === target.site_id && v.local_day === target.local_day);
  const merge = useMutation({
    mutationFn: () => unwrap(api.client.POST('/v1/visits/{id}/merge', { params: { path: { id: target.id } }, body: { visit_ids: sorted.slice(1).map((v) => v.id) } })),
    onSuccess: () => {
      message.success(t('visits.merged', { id: target.id }));
      qc.invalidateQueries({ queryKey: ['visits'] });
      qc.invalidateQueries({ queryKey: ['customers'] });
      qc.invalidateQueries({ queryKey: ['reports'] });
      onDone();
    },
  });
  return (
    <Modal open title={t('visits.mergeTitle', { n: sorted.length })} okText={t('visits.mergeOk')} cancelText={t('common.cancel')}
      okButtonProps={{ disabled: !oneDay, danger: true }} confirmLoading={merge.isPending} onOk={() => merge.mutate()} onCancel={onClose}>
      <Space direction="vertical" style={{ width: '100%' }}>
        <List<Visit> size="small" bordered dataSource={sorted} data-testid="merge-list" renderItem={(v) => (
          <List.Item>
            <Space wrap>
              <Typography.Text strong>#{v.id}</Typography.Text>
              <Typography.Text>{siteName(sites.data, v.site_id)}</Typography.Text>
              <Typography.Text>{dateTime(v.first_seen_at_ms, v.timezone)}</Typography.Text>
              {v.customer_id !== null && v.customer_id !== undefined && <Typography.Text type="secondary">{t('visits.customer', { id: v.customer_id })}</Typography.Text>}
            </Space>
          </List.Item>
        )} />
        {oneDay ? <Typography.Paragraph>{t('visits.mergeExplain', { id: target.id })}</Typography.Paragraph>
          : <Alert type="warning" showIcon message={t('visits.mergeSameDay')} />}
        {merge.error && <Alert type="error" showIcon role="alert" message={errorMessage(merge.error)} />}
      </Space>
    </Modal>
  );
}

export default function VisitsPage() {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const sites = useSites();
  const [siteId, setSiteId] = useState<number | null>(null);
  const [kind, setKind] = useState<Kind | null>(null);
  const [range, setRange] = useState<[Dayjs | null, Dayjs | null] | null>(null);
  const [moving, setMoving] = useState<Visit | null>(null);
  const [chosen, setChosen] = useState<Map<number, Visit>>(new Map());
  const [merging, setMerging] = useState(false);
  const choose = (v: Visit, on: boolean) => setChosen((m) => { const n = new Map(m); if (on) n.set(v.id, v); else n.delete(v.id); return n; });
  const sentinel = useRef<HTMLDivElement>(null);
  const from = range?.[0]?.startOf('day').valueOf();
  const to = range?.[1]?.endOf('day').valueOf();
  const q = useInfiniteQuery({
    queryKey: ['visits', siteId, kind, from, to],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => unwrap(api.client.GET('/v1/visits', { params: { query: {
      limit: PAGE, cursor: pageParam, site_id: siteId ?? undefined, kind: kind ?? undefined,
      from: from === undefined ? undefined : String(from), to: to === undefined ? undefined : String(to + 1),
    } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const visits = q.data?.pages.flatMap((p) => p.items) ?? [];
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = q;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasNextPage) return;
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting) && !isFetchingNextPage) fetchNextPage();
    }, { rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);
  const del = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/visits/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('common.deleted')); qc.invalidateQueries({ queryKey: ['visits'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const filtered = siteId !== null || kind !== null || range !== null;
  return (
    <>
      <PageHead title={t('nav.visits')}>
        <Space wrap>
          <Select<number | 'all'> aria-label={t('common.site')} style={{ minWidth: 180 }} value={siteId ?? 'all'} loading={sites.isLoading}
            onChange={(v) => setSiteId(v === 'all' ? null : v)}
            options={[{ value: 'all', label: t('cameras.allSites') }, ...(sites.data ?? []).map((s) => ({ value: s.id, label: s.name }))]} />
          <Select<Kind | 'all'> aria-label={t('visits.kind')} style={{ minWidth: 150 }} value={kind ?? 'all'} onChange={(v) => setKind(v === 'all' ? null : v)}
            options={[{ value: 'all', label: t('visits.kind.all') }, { value: 'new', label: t('visits.kind.new') }, { value: 'returning', label: t('visits.kind.returning') }]} />
          <DatePicker.RangePicker aria-label={t('visits.dates')} value={range} onChange={(v) => setRange(v)} allowEmpty={[true, true]} />
          {filtered && <Button onClick={() => { setSiteId(null); setKind(null); setRange(null); }}>{t('visits.clear')}</Button>}
          <Button icon={<ReloadOutlined />} aria-label={t('common.retry')} onClick={() => q.refetch()} loading={q.isRefetching} />
        </Space>
      </PageHead>
      {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
      {chosen.size > 0 && (
        <Space style={{ marginBottom: 12 }} data-testid="merge-bar">
          <Button type="primary" icon={<MergeCellsOutlined />} disabled={chosen.size < 2} onClick={() => setMerging(true)}>{t('visits.mergeSelected', { n: chosen.size })}</Button>
          <Button onClick={() => setChosen(new Map())}>{t('visits.clearSelection')}</Button>
        </Space>
      )}
      <List<Visit>
        loading={q.isLoading}
        grid={{ gutter: 16, xs: 1, sm: 1, md: 2, lg: 2, xl: 3, xxl: 4 }}
        dataSource={visits}
        locale={{ emptyText: <Empty description={filtered ? t('visits.emptyFiltered') : t('visits.empty')} /> }}
        renderItem={(v) => (
          <List.Item>
            <Card size="small" data-testid="visit-card">
              <div style={{ display: 'flex', gap: 12 }}>
                {v.has_picture ? <VisitPicture visitId={v.id} alt={t('visits.pictureOf', { id: v.id })} /> : <div style={{ width: 96 }}><Typography.Text type="secondary">{t('visits.noPicture')}</Typography.Text></div>}
                <div style={{ minWidth: 0, flex: 1 }}>
                  <Space size={4} wrap>
                    <Tag color={v.is_new ? 'blue' : 'green'}>{v.is_new ? t('visits.kind.new') : t('visits.kind.returning')}</Tag>
                    {v.customer_id !== null && v.customer_id !== undefined && <Typography.Text type="secondary">{t('visits.customer', { id: v.customer_id })}</Typography.Text>}
                  </Space>
                  <div><Typography.Text strong>{siteName(sites.data, v.site_id)}</Typography.Text></div>
                  <div><Typography.Text>{dateTime(v.first_seen_at_ms, v.timezone)}</Typography.Text></div>
                  <Typography.Text type="secondary">
                    {duration(v.duration_ms, t)} · {t('visits.detections', { n: num(v.detections ?? 0) })}
                    {v.gender ? ` · ${t(`staff.gender.${v.gender === 'male' ? 'male' : 'female'}`)}` : ''}
                    {typeof v.age === 'number' ? ` · ${t('visits.age', { n: Math.round(v.age) })}` : ''}
                  </Typography.Text>
                  {allowed(me.role, MANAGERS) && (
                    <Space size={6} style={{ marginTop: 6 }} wrap>
                      <Checkbox checked={chosen.has(v.id)} onChange={(e) => choose(v, e.target.checked)} aria-label={t('visits.select', { id: v.id })} />
                      <Button size="small" icon={<SwapOutlined />} aria-label={t('customers.reassignNamed', { id: v.id })} onClick={() => setMoving(v)}>{t('customers.reassign')}</Button>
                      <Popconfirm title={t('visits.deleteConfirm')} okText={t('common.delete')} cancelText={t('common.cancel')} okButtonProps={{ danger: true }}
                        onConfirm={() => del.mutateAsync(v.id).catch(() => undefined)}>
                        <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('visits.deleteNamed', { id: v.id })}>{t('common.delete')}</Button>
                      </Popconfirm>
                    </Space>
                  )}
                </div>
              </div>
            </Card>
          </List.Item>
        )}
      />
      {moving && <ReassignDialog key={moving.id} visit={moving} onClose={() => setMoving(null)} />}
      {merging && <MergeDialog visits={[...chosen.values()]} onClose={() => setMerging(false)} onDone={() => { setMerging(false); setChosen(new Map()); }} />}
      <div ref={sentinel} style={{ textAlign: 'center', padding: 16 }} data-testid="visits-end">
        {hasNextPage ? (
          <Button loading={isFetchingNextPage} onClick={() => fetchNextPage()}>{t('audit.loadMore')}</Button>
        ) : (
          visits.length > 0 && <Typography.Text type="secondary">{t('visits.end', { count: num(visits.length) })}</Typography.Text>
        )}
      </div>
    </>
  );
}
