// Reports in each site's local time: summary, time series, hour × weekday
// heat map, gender and age, new vs returning, per-site comparison with the
// previous period, and every table as CSV. Only the server's figures are shown.
import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { App, Button, Card, Col, DatePicker, Dropdown, Empty, Radio, Row, Select, Skeleton, Space, Statistic, Table, Tag, Typography } from 'antd';
import { DownloadOutlined, ReloadOutlined } from '@ant-design/icons';
import dayjs, { type Dayjs } from 'dayjs';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { downloadFetched } from '../../api/download';
import { useMe } from '../../auth/AuthProvider';
import { Chart, type ChartOption } from '../../components/Chart';
import { PageHead, QueryError, useSites } from '../../components/common';
import { useI18n, type MessageKey } from '../../i18n';
import { GRANULARITIES, HOURLY_MAX_DAYS, changeText, csvName, daysInRange, durationText, heatmapData, reportQuery, type Granularity, type ReportQuery } from './model';

const DAYS: MessageKey[] = ['dayShort.mon', 'dayShort.tue', 'dayShort.wed', 'dayShort.thu', 'dayShort.fri', 'dayShort.sat', 'dayShort.sun'];
const REPORTS = ['summary', 'series', 'heatmap', 'demographics', 'new-returning', 'sites'] as const;
type ReportName = (typeof REPORTS)[number];
type SiteRow = NonNullable<Schemas['ReportSites']['sites']>[number];
type NrRow = NonNullable<Schemas['ReportNewReturning']['rows']>[number];

function fetchReport(name: ReportName, query: ReportQuery & { granularity?: Granularity; format?: 'csv' }, asBlob = false) {
  const opts = { params: { query }, ...(asBlob ? { parseAs: 'blob' as const } : {}) };
  switch (name) {
    case 'summary': return api.client.GET('/v1/reports/summary', opts);
    case 'series': return api.client.GET('/v1/reports/series', opts);
    case 'heatmap': return api.client.GET('/v1/reports/heatmap', opts);
    case 'demographics': return api.client.GET('/v1/reports/demographics', opts);
    case 'new-returning': return api.client.GET('/v1/reports/new-returning', opts);
    case 'sites': return api.client.GET('/v1/reports/sites', opts);
  }
}

/** A report as JSON (the operations also answer text/csv, hence the union in the generated types). */
function json<T>(p: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<T> {
  return unwrap(p) as Promise<T>;
}

function Stat({ id, title, value, loading }: { id: string; title: string; value: string | undefined; loading: boolean }) {
  return (
    <Card data-testid={`report-${id}`} size="small">
      {loading ? <Skeleton active paragraph={false} /> : <Statistic title={title} value={value ?? '—'} />}
    </Card>
  );
}

export default function ReportsPage() {
  const { t, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const sites = useSites();
  const [range, setRange] = useState<[Dayjs, Dayjs]>(() => [dayjs().subtract(6, 'day'), dayjs()]);
  const [siteIds, setSiteIds] = useState<number[]>([]);
  const [gran, setGran] = useState<Granularity>('day');
  const [downloading, setDownloading] = useState<ReportName | null>(null);
  const from = range[0].format('YYYY-MM-DD');
  const to = range[1].format('YYYY-MM-DD');
  const days = daysInRange(from, to);
  const granularity: Granularity = gran === 'hour' && days > HOURLY_MAX_DAYS ? 'day' : gran;
  const query = useMemo(() => reportQuery(from, to, siteIds), [from, to, siteIds]);
  const key = [query.from, query.to, query.site_id ?? ''];

  const summary = useQuery({ queryKey: ['report', 'summary', ...key], queryFn: () => json<Schemas['ReportSummary']>(api.client.GET('/v1/reports/summary', { params: { query } })) });
  const series = useQuery({ queryKey: ['report', 'series', granularity, ...key], queryFn: () => json<Schemas['ReportSeries']>(api.client.GET('/v1/reports/series', { params: { query: { ...query, granularity } } })) });
  const heat = useQuery({ queryKey: ['report', 'heatmap', ...key], queryFn: () => json<Schemas['ReportHeatmap']>(api.client.GET('/v1/reports/heatmap', { params: { query } })) });
  const demo = useQuery({ queryKey: ['report', 'demographics', ...key], queryFn: () => json<Schemas['ReportDemographics']>(api.client.GET('/v1/reports/demographics', { params: { query } })) });
  const nr = useQuery({ queryKey: ['report', 'new-returning', ...key], queryFn: () => json<Schemas['ReportNewReturning']>(api.client.GET('/v1/reports/new-returning', { params: { query } })) });
  const cmp = useQuery({ queryKey: ['report', 'sites', ...key], queryFn: () => json<Schemas['ReportSites']>(api.client.GET('/v1/reports/sites', { params: { query } })) });
  const all = [summary, series, heat, demo, nr, cmp];
  const failed = all.find((q) => q.error);
  const s = summary.data;
  const empty = s !== undefined && s.visits === 0 && (s.staff_passes ?? 0) === 0;

  async function download(name: ReportName) {
    setDownloading(name);
    try {
      await downloadFetched(() => fetchReport(name, { ...query, ...(name === 'series' ? { granularity } : {}), format: 'csv' }, true), csvName(name, query));
    } catch (e) {
      message.error(errorMessage(e));
    } finally {
      setDownloading(null);
    }
  }

  const seriesOption = useMemo<ChartOption>(() => {
    const rows = series.data?.series ?? [];
    return {
      tooltip: { trigger: 'axis' },
      legend: { top: 0, data: [t('reports.visits'), t('reports.unique')] },
      grid: { left: 48, right: 16, top: 40, bottom: 32 },
      xAxis: { type: 'category', data: rows.map((r) => r.period ?? '') },
      yAxis: { type: 'value', minInterval: 1 },
      series: [
        { name: t('reports.visits'), type: 'bar', data: rows.map((r) => r.visits ?? 0) },
        { name: t('reports.unique'), type: 'line', data: rows.map((r) => r.unique_visitors ?? 0) },
      ],
    };
  }, [series.data, t]);

  const heatOption = useMemo<ChartOption>(() => {
    const { data, max } = heatmapData(heat.data?.cells ?? []);
    return {
      tooltip: { position: 'top' },
      grid: { left: 56, right: 16, top: 16, bottom: 96 },
      xAxis: { type: 'category', data: Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0')), splitArea: { show: true }, name: t('reports.hour'), nameLocation: 'middle', nameGap: 26 },
      yAxis: { type: 'category', data: DAYS.map((d) => t(d)), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: Math.max(max, 1), calculable: true, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120 },
      series: [{ name: t('reports.visits'), type: 'heatmap', data, label: { show: false } }],
    };
  }, [heat.data, t]);

  const gender = demo.data?.gender;
  const genderOption = useMemo<ChartOption>(() => ({
    tooltip: { trigger: 'item' },
    legend: { bottom: 0 },
    series: [{
      type: 'pie', radius: ['40%', '70%'], label: { formatter: '{b}: {c}' },
      data: gender ? [
        { name: t('staff.gender.male'), value: gender.male ?? 0 },
        { name: t('staff.gender.female'), value: gender.female ?? 0 },
        { name: t('reports.unknown'), value: gender.unknown ?? 0 },
      ] : [],
    }],
  }), [gender, t]);

  const bands = demo.data?.age_bands ?? [];
  const bandLabel = (b: string | undefined) => (b === 'unknown' ? t('reports.unknown') : b ?? '');
  const ageOption = useMemo<ChartOption>(() => {
    const bands = demo.data?.age_bands ?? [];
    return {
      tooltip: { trigger: 'axis' },
      grid: { left: 48, right: 16, top: 16, bottom: 32 },
      xAxis: { type: 'category', data: bands.map((b) => (b.band === 'unknown' ? t('reports.unknown') : b.band ?? '')), axisLabel: { interval: 0 } },
      yAxis: { type: 'value', minInterval: 1 },
      series: [{ name: t('reports.visits'), type: 'bar', data: bands.map((b) => b.visits ?? 0) }],
    };
  }, [demo.data, t]);

  const zones = s?.sites ?? [];
  const change = (v: number | null | undefined) => {
    const text = changeText(v, (n) => num(n));
    if (text === null) return <Typography.Text type="secondary">—</Typography.Text>;
    return <Tag color={v! > 0 ? 'green' : v! < 0 ? 'red' : 'default'}>{text}</Tag>;
  };
  const loading = summary.isLoading;

  return (
    <>
      <PageHead title={t('nav.reports')}>
        <Space wrap>
          <DatePicker.RangePicker aria-label={t('reports.range')} value={range} allowClear={false}
            onChange={(v) => v && v[0] && v[1] && setRange([v[0], v[1]])}
            presets={[
              { label: t('reports.today'), value: [dayjs(), dayjs()] },
              { label: t('reports.last7'), value: [dayjs().subtract(6, 'day'), dayjs()] },
              { label: t('reports.last30'), value: [dayjs().subtract(29, 'day'), dayjs()] },
              { label: t('reports.thisMonth'), value: [dayjs().startOf('month'), dayjs()] },
            ]} />
          {me.site_id === null && (
            <Select<number[]> mode="multiple" aria-label={t('reports.sites')} data-testid="report-sites-filter" style={{ minWidth: 220 }} allowClear
              placeholder={t('cameras.allSites')} value={siteIds} onChange={setSiteIds} loading={sites.isLoading}
              options={(sites.data ?? []).map((x) => ({ value: x.id, label: x.name }))} optionFilterProp="label" />
          )}
          <Dropdown trigger={['click']} menu={{ items: REPORTS.map((r) => ({ key: r, label: t(`reports.csv.${r}` as MessageKey) })), onClick: ({ key }) => download(key as ReportName) }}>
            <Button icon={<DownloadOutlined />} loading={downloading !== null} data-testid="report-csv">{t('reports.downloadCsv')}</Button>
          </Dropdown>
          <Button icon={<ReloadOutlined />} aria-label={t('common.retry')} onClick={() => all.forEach((q) => q.refetch())} />
        </Space>
      </PageHead>
      <Typography.Paragraph type="secondary" data-testid="report-zones">
        {t('reports.zoneNote')}{' '}
        {zones.map((z) => `${z.name} (${z.timezone})`).join(', ') || '—'}
        {s && ` · ${t('reports.lookback', { n: num(s.returning_lookback_days ?? 0) })}`}
      </Typography.Paragraph>
      {failed && <QueryError error={failed.error} retry={() => all.forEach((q) => q.refetch())} />}
      <Row gutter={[16, 16]}>
        <Col xs={12} md={8} xl={4}><Stat id="visits" title={t('reports.visits')} value={s && num(s.visits)} loading={loading} /></Col>
        <Col xs={12} md={8} xl={4}><Stat id="unique" title={t('reports.unique')} value={s && num(s.unique_visitors)} loading={loading} /></Col>
        <Col xs={12} md={8} xl={4}><Stat id="new" title={t('reports.new')} value={s && num(s.new_visitors ?? 0)} loading={loading} /></Col>
        <Col xs={12} md={8} xl={4}><Stat id="returning" title={t('reports.returning')} value={s && num(s.returning_visitors ?? 0)} loading={loading} /></Col>
        <Col xs={12} md={8} xl={4}><Stat id="staff" title={t('reports.staffPasses')} value={s && num(s.staff_passes ?? 0)} loading={loading} /></Col>
        <Col xs={12} md={8} xl={4}><Stat id="duration" title={t('reports.avgDuration')} value={s && durationText(s.average_duration_s)} loading={loading} /></Col>
      </Row>
      {empty ? (
        <Card style={{ marginTop: 16 }}><Empty data-testid="report-empty" description={t('reports.empty')} /></Card>
      ) : (
        <Row gutter={[16, 16]} style={{ marginTop: 16 }}>
          <Col xs={24}>
            <Card title={t('reports.series')} extra={
              <Radio.Group size="small" value={granularity} onChange={(e) => setGran(e.target.value)} aria-label={t('reports.granularity')}
                options={GRANULARITIES.map((g) => ({ value: g, label: t(`reports.gran.${g}` as MessageKey), disabled: g === 'hour' && days > HOURLY_MAX_DAYS }))} optionType="button" />
            }>
              {series.isLoading ? <Skeleton active /> : <Chart option={seriesOption} label={t('reports.series')} testId="chart-series" />}
            </Card>
          </Col>
          <Col xs={24} xl={14}>
            <Card title={t('reports.heatmap')}>
              {heat.isLoading ? <Skeleton active /> : <Chart option={heatOption} height={320} label={t('reports.heatmap')} testId="chart-heatmap" />}
            </Card>
          </Col>
          <Col xs={24} xl={10}>
            <Card title={t('reports.gender')}>
              {demo.isLoading ? <Skeleton active /> : (
                <>
                  <Chart option={genderOption} height={220} label={t('reports.gender')} testId="chart-gender" />
                  <Space size="large" wrap data-testid="report-gender">
                    <span>{t('staff.gender.male')}: <b>{num(gender?.male ?? 0)}</b></span>
                    <span>{t('staff.gender.female')}: <b>{num(gender?.female ?? 0)}</b></span>
                    <span>{t('reports.unknown')}: <b>{num(gender?.unknown ?? 0)}</b></span>
                  </Space>
                </>
              )}
            </Card>
          </Col>
          <Col xs={24} xl={12}>
            <Card title={t('reports.ageBands')}>
              {demo.isLoading ? <Skeleton active /> : (
                <>
                  <Chart option={ageOption} height={220} label={t('reports.ageBands')} testId="chart-age" />
                  <Space size="middle" wrap data-testid="report-ages">
                    {bands.filter((b) => (b.visits ?? 0) > 0).map((b) => <span key={b.band}>{bandLabel(b.band)}: <b>{num(b.visits ?? 0)}</b></span>)}
                  </Space>
                </>
              )}
            </Card>
          </Col>
          <Col xs={24} xl={12}>
            <Card title={t('reports.newReturning')}>
              <Table<NrRow> size="small" rowKey={(r) => String(r.site_id ?? 'total')} loading={nr.isLoading} pagination={false} data-testid="report-new-returning"
                dataSource={nr.data?.rows ?? []}
                columns={[
                  { title: t('common.site'), key: 'site', render: (_, r) => (r.site_id === null || r.site_id === undefined ? <b>{t('reports.total')}</b> : r.site_name) },
                  { title: t('reports.unique'), dataIndex: 'unique_visitors', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.new'), dataIndex: 'new_visitors', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.returning'), dataIndex: 'returning_visitors', align: 'right', render: (v: number) => num(v ?? 0) },
                ]} />
            </Card>
          </Col>
          <Col xs={24}>
            <Card title={t('reports.comparison')} extra={cmp.data?.previous_from && (
              <Typography.Text type="secondary" data-testid="report-previous">{t('reports.previous', { from: cmp.data.previous_from, to: cmp.data.previous_to ?? '' })}</Typography.Text>
            )}>
              <Table<SiteRow> size="small" rowKey={(r) => String(r.site_id)} loading={cmp.isLoading} pagination={false} scroll={{ x: true }} data-testid="report-comparison"
                dataSource={cmp.data?.sites ?? []}
                columns={[
                  { title: t('common.site'), dataIndex: 'site_name', render: (v: string, r) => <span>{v} <Typography.Text type="secondary">({r.timezone})</Typography.Text></span> },
                  { title: t('reports.visits'), dataIndex: 'visits', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.previousShort'), dataIndex: 'previous_visits', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.change'), dataIndex: 'visits_change', align: 'right', render: (v: number | null) => change(v) },
                  { title: t('reports.unique'), dataIndex: 'unique_visitors', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.previousShort'), dataIndex: 'previous_unique_visitors', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.change'), dataIndex: 'unique_visitors_change', align: 'right', render: (v: number | null) => change(v) },
                  { title: t('reports.staffPasses'), dataIndex: 'staff_passes', align: 'right', render: (v: number) => num(v ?? 0) },
                  { title: t('reports.avgDuration'), dataIndex: 'average_duration_s', align: 'right', render: (v: number | null) => durationText(v) },
                ]} />
            </Card>
          </Col>
        </Row>
      )}
      <Typography.Paragraph type="secondary" style={{ marginTop: 16 }}>{t('reports.definitions')}</Typography.Paragraph>
    </>
  );
}
