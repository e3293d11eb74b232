// Background jobs: what each does and when it runs next, and the recent runs
// with their outcome and counts; system admins may run a job now.
import { useState } from 'react';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { App, Button, Card, Popconfirm, Select, Space, Table, Tag, Typography } from 'antd';
import { PlayCircleOutlined, ReloadOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { SYSTEM, allowed } from '../../auth/roles';
import { PageHead, QueryError } from '../../components/common';
import { useI18n, type MessageKey } from '../../i18n';

type Run = Schemas['JobRun'];
const OUTCOME_COLOURS: Record<string, string> = { running: 'processing', ok: 'green', error: 'orange', failed: 'red', interrupted: 'default' };

export function OutcomeTag({ outcome }: { outcome: string }) {
  const { t } = useI18n();
  return <Tag color={OUTCOME_COLOURS[outcome] ?? 'default'} data-outcome={outcome}>{t(`jobs.outcome.${outcome}` as MessageKey)}</Tag>;
}

export default function JobsPage() {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const canRun = allowed(me.role, SYSTEM);
  const [job, setJob] = useState<string | null>(null);
  const q = useInfiniteQuery({
    queryKey: ['jobs', job],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => unwrap(api.client.GET('/v1/jobs', { params: { query: { limit: 50, cursor: pageParam, job: job ?? undefined } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const run = useMutation({
    mutationFn: (name: string) => unwrap(api.client.POST('/v1/jobs/{name}/run', { params: { path: { name } } })),
    onSuccess: (r) => {
      const text = t('jobs.ran', { name: r.job, outcome: t(`jobs.outcome.${r.outcome}` as MessageKey) });
      if (r.outcome === 'ok') message.success(text);
      else message.warning(text);
      qc.invalidateQueries({ queryKey: ['jobs'] });
    },
    onError: (e) => message.error(errorMessage(e)),
  });
  const jobs = q.data?.pages[0]?.jobs ?? [];
  const runs = q.data?.pages.flatMap((p) => p.runs) ?? [];
  type Job = (typeof jobs)[number];
  return (
    <>
      <PageHead title={t('nav.jobs')}>
        <Button icon={<ReloadOutlined />} aria-label={t('common.retry')} onClick={() => q.refetch()} loading={q.isRefetching} />
      </PageHead>
      {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
      <Card title={t('jobs.jobs')} style={{ marginBottom: 16 }}>
        <Table<Job>
          rowKey="name" size="small" loading={q.isLoading} dataSource={jobs} pagination={false} scroll={{ x: true }} data-testid="jobs"
          locale={{ emptyText: t('jobs.empty') }}
          columns={[
            { title: t('common.name'), dataIndex: 'name', render: (v: string) => <Typography.Text code style={{ whiteSpace: 'nowrap' }}>{v}</Typography.Text> },
            { title: t('jobs.about'), dataIndex: 'about' },
            { title: t('jobs.every'), dataIndex: 'interval_s', render: (v: number) => t('jobs.seconds', { n: num(v ?? 0) }) },
            { title: t('jobs.nextRun'), dataIndex: 'next_run_at_ms', render: (v: number | null, j) => (j.running ? <Tag color="processing">{t('jobs.outcome.running')}</Tag> : v ? dateTime(v) : '—') },
            ...(canRun ? [{
              title: t('common.actions'), key: 'actions', render: (_: unknown, j: Job) => (
                <Popconfirm title={t('jobs.runConfirm', { name: j.name ?? '' })} okText={t('jobs.run')} cancelText={t('common.cancel')} onConfirm={() => run.mutateAsync(j.name!).catch(() => undefined)}>
                  <Button size="small" icon={<PlayCircleOutlined />} loading={run.isPending && run.variables === j.name} aria-label={t('jobs.runNamed', { name: j.name ?? '' })}>{t('jobs.run')}</Button>
                </Popconfirm>
              ),
            }] : []),
          ]}
        />
      </Card>
      <Card title={t('jobs.runs')} extra={
        <Select<string | 'all'> aria-label={t('jobs.filter')} style={{ minWidth: 200 }} value={job ?? 'all'} onChange={(v) => setJob(v === 'all' ? null : v)}
          options={[{ value: 'all', label: t('jobs.all') }, ...jobs.map((j) => ({ value: j.name!, label: j.name! }))]} />
      }>
        <Table<Run>
          rowKey="id" size="small" loading={q.isLoading} dataSource={runs} pagination={false} scroll={{ x: true }} data-testid="job-runs"
          locale={{ emptyText: t('jobs.noRuns') }}
          columns={[
            { title: t('jobs.job'), dataIndex: 'job', render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
            { title: t('jobs.started'), dataIndex: 'started_at_ms', render: (v: number) => dateTime(v) },
            { title: t('commands.finished'), dataIndex: 'finished_at_ms', render: (v: number | null) => (v ? dateTime(v) : '—') },
            { title: t('jobs.trigger'), dataIndex: 'trigger', render: (v: string) => t(`jobs.trigger.${v}` as MessageKey) },
            { title: t('jobs.outcome'), dataIndex: 'outcome', render: (v: string) => <OutcomeTag outcome={v} /> },
            { title: t('jobs.counts'), dataIndex: 'counts', render: (v: Record<string, number>) => (
              <Space size={4} wrap>{Object.entries(v ?? {}).map(([k, n]) => <Tag key={k}>{k}: {num(n)}</Tag>)}</Space>
            ) },
            { title: t('jobs.problems'), key: 'errors', render: (_, r) => {
              const list = [...(r.error ? [r.error] : []), ...(r.errors ?? []).map((e) => (e.tenant_id ? `#${e.tenant_id}: ` : '') + (e.message ?? ''))];
              return list.length ? <Typography.Text type="danger">{list.join('; ')}</Typography.Text> : '—';
            } },
          ]}
        />
        {q.hasNextPage && <Button style={{ marginTop: 8 }} loading={q.isFetchingNextPage} onClick={() => q.fetchNextPage()}>{t('audit.loadMore')}</Button>}
      </Card>
    </>
  );
}
