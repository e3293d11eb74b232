// The home page: today's figures (from the reports API), the live visit feed
// (Server-Sent Events), worker and camera health, the sites and cameras, the
// session. Parts whose API this server lacks are left out, never faked.
import { useCallback, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, Badge, Card, Col, Descriptions, Empty, List, Row, Skeleton, Space, Statistic, Tag, Typography } from 'antd';
import { api, unwrap, type Schemas } from '../../api';
import { useCapabilities } from '../../api/capabilities';
import { useEventStream, type RealtimeEvent, type StreamState } from '../../api/events';
import { useMe } from '../../auth/AuthProvider';
import { PageHead, QueryError, siteName, tenantNameOf, useSites } from '../../components/common';
import { CameraStateTag, HEALTHY, WorkerStatusTag, cameraState, useCameras, useWorkers } from '../../components/fleet';
import { useI18n } from '../../i18n';
import { localDate } from '../reports/model';

const FEED_MAX = 30;

interface FeedItem {
  key: string;
  type: string;
  visitId: number;
  customerId: number | null;
  siteId: number;
  cameraId: number | null;
  seenAt: number;
  newCustomer: boolean;
}

function toFeedItem(e: RealtimeEvent): FeedItem | null {
  const d = e.data ?? {};
  if (typeof d.visit_id !== 'number') return null;
  return {
    key: `${e.id ?? ''}-${d.visit_id}`,
    type: e.type,
    visitId: d.visit_id,
    customerId: typeof d.customer_id === 'number' ? d.customer_id : null,
    siteId: typeof d.site_id === 'number' ? d.site_id : (e.site_id ?? 0),
    cameraId: typeof d.camera_id === 'number' ? d.camera_id : null,
    seenAt: typeof d.seen_at === 'number' ? d.seen_at : (e.at ?? Date.now()),
    newCustomer: d.new_customer === true,
  };
}

function StatCard({ id, title, value, loading }: { id: string; title: string; value: string | undefined; loading: boolean }) {
  return (
    <Card data-testid={id}>
      {loading ? <Skeleton active paragraph={false} /> : <Statistic title={title} value={value ?? '—'} />}
    </Card>
  );
}

function FeedState({ state }: { state: StreamState }) {
  const { t } = useI18n();
  const status = state === 'open' ? 'processing' : state === 'off' ? 'default' : 'warning';
  return <Badge status={status} text={t(`dash.feed.${state}`)} data-testid="feed-state" data-state={state} />;
}

export default function DashboardPage() {
  const me = useMe();
  const { t, num, dateTime } = useI18n();
  const qc = useQueryClient();
  const caps = useCapabilities().data;
  const has = (op: string) => !caps || caps.has(op);
  const inTenant = me.tenant_id !== null;
  const sites = useSites();
  const cameras = useCameras();
  const workers = useWorkers(has('listWorkers'));
  const today = localDate(new Date());
  const summary = useQuery({
    queryKey: ['report', 'today', today],
    enabled: has('getReportSummary'),
    queryFn: () => unwrap(api.client.GET('/v1/reports/summary', { params: { query: { from: today, to: today } } })) as Promise<Schemas['ReportSummary']>,
  });

  // Live: visits go to the feed and refresh today's figures (at most once a
  // second); worker and camera changes refresh the health lists.
  const [feed, setFeed] = useState<FeedItem[]>([]);
  const pending = useRef<Set<string>>(new Set());
  const flush = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refresh = useCallback((what: string) => {
    pending.current.add(what);
    if (flush.current) return;
    flush.current = setTimeout(() => {
      flush.current = undefined;
      for (const w of pending.current) qc.invalidateQueries({ queryKey: w === 'report' ? ['report', 'today'] : [w] });
      pending.current.clear();
    }, 1000);
  }, [qc]);
  const feedOn = inTenant && has('streamEvents');
  const state = useEventStream({
    enabled: feedOn,
    topics: ['visit', 'worker', 'camera'],
    onEvent: (e) => {
      if (e.type.startsWith('visit.')) {
        const item = toFeedItem(e);
        if (item) setFeed((f) => [item, ...f.filter((x) => x.key !== item.key)].slice(0, FEED_MAX));
        refresh('report');
      } else if (e.type === 'worker.status') refresh('workers');
      else if (e.type === 'camera.status') refresh('cameras');
    },
    onReset: () => ['report', 'workers', 'cameras'].forEach(refresh),
  });

  const cams = cameras.data ?? [];
  const ws = workers.data ?? [];
  const s = summary.data;
  const camName = (id: number | null) => (id === null ? '' : cams.find((c) => c.id === id)?.name ?? `#${id}`);
  const zoneOf = (siteId: number) => sites.data?.find((x) => x.id === siteId)?.timezone;
  // Each camera of the list carries its placement and state (no request per camera).
  const troubled = (has('listWorkers') ? cams : []).filter((c) => c.enabled && ['error', 'reconnecting', 'unassigned'].includes(cameraState(c)));
  const healthy = ws.filter((w) => w.status && HEALTHY.includes(w.status)).length;

  return (
    <>
      <PageHead title={t('nav.dashboard')} />
      {sites.error && <QueryError error={sites.error} retry={() => sites.refetch()} />}
      {cameras.error && <QueryError error={cameras.error} retry={() => cameras.refetch()} />}
      <Row gutter={[16, 16]}>
        {has('getReportSummary') && (
          <>
            <Col xs={24}>
              <Typography.Text type="secondary" data-testid="today-note">{t('dash.todayNote', { date: today })}</Typography.Text>
            </Col>
            {summary.error && <Col xs={24}><QueryError error={summary.error} retry={() => summary.refetch()} /></Col>}
            <Col xs={12} lg={6}><StatCard id="stat-today-visits" title={t('dash.todayVisits')} value={s && num(s.visits)} loading={summary.isLoading} /></Col>
            <Col xs={12} lg={6}><StatCard id="stat-today-unique" title={t('reports.unique')} value={s && num(s.unique_visitors)} loading={summary.isLoading} /></Col>
            <Col xs={12} lg={6}><StatCard id="stat-today-new" title={t('reports.new')} value={s && num(s.new_visitors ?? 0)} loading={summary.isLoading} /></Col>
            <Col xs={12} lg={6}><StatCard id="stat-today-returning" title={t('reports.returning')} value={s && num(s.returning_visitors ?? 0)} loading={summary.isLoading} /></Col>
          </>
        )}
        <Col xs={12} lg={6}><StatCard id="stat-sites" title={t('dash.sites')} value={sites.data && num(sites.data.length)} loading={sites.isLoading} /></Col>
        <Col xs={12} lg={6}><StatCard id="stat-cameras" title={t('dash.cameras')} value={cameras.data && num(cams.length)} loading={cameras.isLoading} /></Col>
        <Col xs={12} lg={6}><StatCard id="stat-enabled" title={t('dash.camerasEnabled')} value={cameras.data && num(cams.filter((c) => c.enabled).length)} loading={cameras.isLoading} /></Col>
        <Col xs={12} lg={6}><StatCard id="stat-processing" title={t('dash.camerasProcessing')} value={cameras.data && num(cams.filter((c) => c.enabled && c.processing).length)} loading={cameras.isLoading} /></Col>

        {has('streamEvents') && (
          <Col xs={24} xl={14}>
            <Card title={t('dash.feed')} extra={<FeedState state={state} />} data-testid="live-feed">
              {!inTenant ? (
                <Alert type="info" showIcon message={t('dash.feedChooseTenant')} />
              ) : (
                <List<FeedItem>
                  size="small"
                  dataSource={feed}
                  locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('dash.feedEmpty')} /> }}
                  renderItem={(v) => (
                    <List.Item data-testid="live-visit" data-visit-id={v.visitId}>
                      <Space wrap>
                        <Tag color={v.newCustomer ? 'blue' : 'green'}>{v.newCustomer ? t('visits.kind.new') : t('visits.kind.returning')}</Tag>
                        {v.type === 'visit.extended' && <Tag>{t('dash.feedExtended')}</Tag>}
                        <Typography.Text strong>{siteName(sites.data, v.siteId)}</Typography.Text>
                        {v.cameraId !== null && <Typography.Text type="secondary">{camName(v.cameraId)}</Typography.Text>}
                        {v.customerId !== null && <Typography.Text>{t('visits.customer', { id: v.customerId })}</Typography.Text>}
                        <Typography.Text type="secondary">{dateTime(v.seenAt, zoneOf(v.siteId))}</Typography.Text>
                      </Space>
                    </List.Item>
                  )}
                />
              )}
            </Card>
          </Col>
        )}
        {has('listWorkers') && (
          <Col xs={24} xl={10}>
            <Card title={t('dash.health')} data-testid="health" extra={<Link to="/workers">{t('nav.workers')}</Link>}>
              {workers.error && <QueryError error={workers.error} retry={() => workers.refetch()} />}
              <Space size="large" wrap style={{ marginBottom: 12 }}>
                <div data-testid="stat-workers"><Statistic title={t('dash.workersUp')} value={workers.data ? `${num(healthy)} / ${num(ws.length)}` : '—'} /></div>
                <div data-testid="stat-cameras-trouble"><Statistic title={t('dash.camerasTrouble')} value={cameras.data ? num(troubled.length) : '—'} /></div>
              </Space>
              <List<Schemas['Worker']>
                size="small"
                loading={workers.isLoading}
                dataSource={ws}
                locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('workers.empty')} /> }}
                renderItem={(w) => (
                  <List.Item data-testid="health-worker">
                    <Space wrap>
                      <WorkerStatusTag status={w.status} />
                      <Typography.Text strong>{w.name}</Typography.Text>
                      <Typography.Text type="secondary">{siteName(sites.data, w.site_id)}</Typography.Text>
                      <Typography.Text type="secondary">{t('workers.lastSeen')}: {dateTime(w.last_seen_at_ms)}</Typography.Text>
                    </Space>
                  </List.Item>
                )}
              />
              {troubled.length > 0 && (
                <List<Schemas['Camera']>
                  size="small"
                  header={<Typography.Text strong>{t('dash.camerasTrouble')}</Typography.Text>}
                  dataSource={troubled}
                  renderItem={(c) => (
                    <List.Item data-testid="health-camera">
                      <Space wrap>
                        <CameraStateTag camera={c} />
                        <Typography.Text>{c.name}</Typography.Text>
                        <Typography.Text type="secondary">{siteName(sites.data, c.site_id)}</Typography.Text>
                        {c.status?.reason && <Typography.Text type="danger">{c.status.reason}</Typography.Text>}
                      </Space>
                    </List.Item>
                  )}
                />
              )}
            </Card>
          </Col>
        )}
        <Col xs={24}>
          <Card title={t('dash.session')}>
            <Descriptions column={{ xs: 1, md: 2 }} size="small">
              <Descriptions.Item label={t('login.username')}>{me.username}</Descriptions.Item>
              <Descriptions.Item label={t('users.displayName')}>{me.display_name || '—'}</Descriptions.Item>
              <Descriptions.Item label={t('users.role')}>{t(`role.${me.role}`)}</Descriptions.Item>
              <Descriptions.Item label={t('common.tenant')}>{tenantNameOf(me) ?? (me.role === 'system_admin' ? t('tenant.all') : '—')}</Descriptions.Item>
              {me.site_id !== null && <Descriptions.Item label={t('common.site')}>{siteName(sites.data, me.site_id)}</Descriptions.Item>}
            </Descriptions>
          </Card>
        </Col>
      </Row>
    </>
  );
}
