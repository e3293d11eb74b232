// The fleet: every registered worker with its derived status and last
// heartbeat (kept current by the realtime feed), its details with the figures
// of each camera it runs, and its commands (send, cancel, history);
// maintenance and forget for admins.
import { useEffect, useRef, useState } from 'react';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Descriptions, Drawer, Empty, Popconfirm, Select, Space, Switch, Table, Tag, Typography } from 'antd';
import { DeleteOutlined, ReloadOutlined, SendOutlined, StopOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { toApiError } from '../../api/errors';
import { useEventStream } from '../../api/events';
import { useMe } from '../../auth/AuthProvider';
import { ADMINS, MANAGERS, allowed } from '../../auth/roles';
import { useCapabilities } from '../../api/capabilities';
import { PageHead, QueryError, siteName, useSites } from '../../components/common';
import { WorkerStatusTag, useCameras, useWorkers, type Worker, type WorkerStatus } from '../../components/fleet';
import { useI18n, type MessageKey } from '../../i18n';

type Command = Schemas['Command'];
const LOG_FOLLOW_MS = 2000;
type CommandType = Schemas['CommandCreate']['type'];
type Priority = NonNullable<Schemas['CommandCreate']['priority']>;
const STATUSES: WorkerStatus[] = ['online', 'processing', 'idle', 'late', 'offline', 'error', 'maintenance'];
/** Commands sent to a whole worker (camera commands are sent from the cameras page). */
const WORKER_COMMANDS: CommandType[] = ['status_report', 'refresh_staff', 'restart', 'shutdown'];
const DRASTIC: CommandType[] = ['restart', 'shutdown'];
const PRIORITIES: Priority[] = ['low', 'normal', 'high', 'urgent'];
const FINISHED = ['completed', 'failed', 'expired', 'cancelled'];
const COMMAND_COLOURS: Record<string, string> = { pending: 'default', sent: 'cyan', acknowledged: 'blue', completed: 'green', failed: 'red', expired: 'orange', cancelled: 'default' };

interface CameraFigures {
  id?: number; state?: string; reason?: string | null; frames_in?: number; processed?: number; faces?: number; events?: number;
  staff_events?: number; errors?: number; reconnects?: number; last_frame_at?: string | null; last_error?: string | null; processing?: boolean;
}

function CommandStatus({ status }: { status: string | undefined }) {
  const { t } = useI18n();
  return <Tag color={COMMAND_COLOURS[status ?? ''] ?? 'default'} data-status={status}>{status ? t(`commands.status.${status}` as MessageKey) : '—'}</Tag>;
}

function Commands({ worker, canAdmin }: { worker: Worker; canAdmin: boolean }) {
  const { t, dateTime } = useI18n();
  const { message, modal } = App.useApp();
  const qc = useQueryClient();
  const [type, setType] = useState<CommandType>('status_report');
  const [priority, setPriority] = useState<Priority>('normal');
  const id = worker.id!;
  const q = useInfiniteQuery({
    queryKey: ['commands', id],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => unwrap(api.client.GET('/v1/workers/{id}/commands', { params: { path: { id }, query: { limit: 20, cursor: pageParam } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const send = useMutation({
    mutationFn: () => unwrap(api.client.POST('/v1/workers/{id}/commands', { params: { path: { id } }, body: { type, priority } })),
    onSuccess: () => { message.success(t('commands.sent')); qc.invalidateQueries({ queryKey: ['commands', id] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const cancel = useMutation({
    mutationFn: (cid: number) => unwrap(api.client.POST('/v1/commands/{id}/cancel', { params: { path: { id: cid } } })),
    onSuccess: () => { message.success(t('commands.cancelled')); qc.invalidateQueries({ queryKey: ['commands', id] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  function submit() {
    if (!DRASTIC.includes(type)) return send.mutate();
    modal.confirm({
      title: t('commands.confirm', { type: t(`commands.type.${type}` as MessageKey), name: worker.name ?? '' }),
      okText: t('commands.send'), cancelText: t('common.cancel'), okButtonProps: { danger: true },
      onOk: () => send.mutateAsync().catch(() => undefined),
    });
  }
  const rows = q.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <>
      {canAdmin && (
        <Space wrap style={{ marginBottom: 12 }}>
          <Select<CommandType> aria-label={t('commands.type')} style={{ minWidth: 200 }} value={type} onChange={setType}
            options={WORKER_COMMANDS.map((c) => ({ value: c, label: t(`commands.type.${c}` as MessageKey) }))} />
          <Select<Priority> aria-label={t('commands.priority')} style={{ minWidth: 120 }} value={priority} onChange={setPriority}
            options={PRIORITIES.map((p) => ({ value: p, label: t(`commands.priority.${p}` as MessageKey) }))} />
          <Button type="primary" icon={<SendOutlined />} loading={send.isPending} onClick={submit}>{t('commands.send')}</Button>
        </Space>
      )}
      {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
      <Table<Command>
        rowKey="id" size="small" loading={q.isLoading} dataSource={rows} pagination={false} scroll={{ x: true }} data-testid="commands"
        locale={{ emptyText: t('commands.empty') }}
        columns={[
          { title: t('commands.type'), dataIndex: 'type', render: (v: string) => t(`commands.type.${v}` as MessageKey) },
          { title: t('common.status'), dataIndex: 'status', render: (v: string) => <CommandStatus status={v} /> },
          { title: t('commands.priority'), dataIndex: 'priority', render: (v: string) => t(`commands.priority.${v}` as MessageKey) },
          { title: t('common.created'), dataIndex: 'created_at_ms', render: (v: number) => dateTime(v) },
          { title: t('commands.finished'), dataIndex: 'finished_at_ms', render: (v: number | null) => (v ? dateTime(v) : '—') },
          { title: t('commands.attempts'), key: 'attempts', render: (_, c) => `${c.attempts ?? 0} / ${c.max_attempts ?? 0}` },
          { title: t('commands.outcome'), key: 'outcome', render: (_, c) => (c.error ? <Typography.Text type="danger">{c.error}</Typography.Text>
            : c.result !== undefined && c.result !== null ? <Typography.Text code ellipsis style={{ maxWidth: 260 }}>{JSON.stringify(c.result)}</Typography.Text> : '—') },
          ...(canAdmin ? [{
            title: t('common.actions'), key: 'actions', render: (_: unknown, c: Command) => (!FINISHED.includes(c.status ?? '') && (
              <Popconfirm title={t('commands.cancelConfirm')} okText={t('commands.cancel')} cancelText={t('common.no')} onConfirm={() => cancel.mutateAsync(c.id!).catch(() => undefined)}>
                <Button size="small" icon={<StopOutlined />} aria-label={t('commands.cancelNamed', { id: c.id ?? '' })}>{t('commands.cancel')}</Button>
              </Popconfirm>
            )),
          }] : []),
        ]}
      />
      {q.hasNextPage && <Button style={{ marginTop: 8 }} loading={q.isFetchingNextPage} onClick={() => q.fetchNextPage()}>{t('audit.loadMore')}</Button>}
    </>
  );
}

/**
 * The worker's recent log lines, fetched through the server from its endpoint
 * (site managers and admins). While "follow" is on the tail is fetched again
 * every two seconds and stays scrolled to the newest line unless the reader
 * scrolled up.
 */
function WorkerLogs({ id }: { id: number }) {
  const { t } = useI18n();
  const me = useMe();
  const caps = useCapabilities().data;
  const [on, setOn] = useState(false);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLPreElement>(null);
  const pinned = useRef(true);
  const q = useQuery({
    queryKey: ['workers', id, 'logs'],
    enabled: on,
    refetchInterval: on && follow ? LOG_FOLLOW_MS : false,
    retry: false,
    queryFn: async () => {
      const { data, error, response } = await api.client.GET('/v1/workers/{id}/logs', { params: { path: { id } }, parseAs: 'text' });
      if (!response.ok) throw toApiError(response.status, error, response.statusText);
      return String(data ?? '');
    },
  });
  useEffect(() => {
    const el = box.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [q.data]);
  if (!allowed(me.role, MANAGERS) || (caps && !caps.has('workerLogs'))) return null;
  return (
    <div>
      <Typography.Title level={5}>{t('workers.logs')}</Typography.Title>
      {!on ? <Button onClick={() => setOn(true)}>{t('workers.showLogs')}</Button> : (
        <>
          <Space style={{ marginBottom: 8 }} wrap>
            <Switch size="small" checked={follow} onChange={setFollow} aria-label={t('workers.followLogs')} />
            <Typography.Text>{t('workers.followLogs')}</Typography.Text>
            {follow
              ? <Tag color={q.error ? 'red' : 'green'} data-testid="worker-logs-state">{q.error ? t('workers.logsPaused') : t('workers.logsLive')}</Tag>
              : <Button size="small" icon={<ReloadOutlined />} loading={q.isFetching} onClick={() => q.refetch()}>{t('workers.refreshLogs')}</Button>}
            {q.dataUpdatedAt > 0 && <Typography.Text type="secondary" style={{ fontSize: 12 }}>{t('workers.logsAt', { time: new Date(q.dataUpdatedAt).toLocaleTimeString() })}</Typography.Text>}
          </Space>
          {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
          {q.data !== undefined && (
            <pre ref={box} data-testid="worker-logs" aria-live="polite" onScroll={(e) => { const el = e.currentTarget; pinned.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8; }}
              style={{ maxHeight: 320, overflow: 'auto', background: '#111', color: '#ddd', padding: 12, fontSize: 12, borderRadius: 6 }}>
              {q.data.trim() || t('workers.noLogs')}
            </pre>
          )}
        </>
      )}
    </div>
  );
}

function WorkerDetails({ id, onClose, canAdmin }: { id: number; onClose: () => void; canAdmin: boolean }) {
  const { t, dateTime, num } = useI18n();
  const sites = useSites();
  const cameras = useCameras();
  const q = useQuery({ queryKey: ['workers', id], queryFn: () => unwrap(api.client.GET('/v1/workers/{id}', { params: { path: { id } } })) });
  const w = q.data;
  const camName = (cid: number | undefined) => cameras.data?.find((c) => c.id === cid)?.name ?? `#${cid}`;
  const figures = (w?.cameras ?? []) as CameraFigures[];
  const leases = w?.leases ?? [];
  return (
    <Drawer open onClose={onClose} size="large" title={w ? t('workers.detailsOf', { name: w.name ?? '' }) : t('workers.details')} data-testid="worker-details">
      {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
      {w && (
        <Space orientation="vertical" size="large" style={{ width: '100%' }}>
          <Descriptions column={1} size="small" bordered>
            <Descriptions.Item label={t('common.status')}><WorkerStatusTag status={w.status} />{w.reported_status && w.reported_status !== w.status && <Typography.Text type="secondary"> ({t('workers.reported')}: {w.reported_status})</Typography.Text>}</Descriptions.Item>
            <Descriptions.Item label={t('common.site')}>{w.site_id ? siteName(sites.data, w.site_id) : t('workers.noSite')}</Descriptions.Item>
            <Descriptions.Item label="UUID"><Typography.Text code copyable>{w.uuid}</Typography.Text></Descriptions.Item>
            <Descriptions.Item label={t('workers.version')}>{w.version ?? '—'}</Descriptions.Item>
            <Descriptions.Item label={t('workers.lastSeen')}>{dateTime(w.last_seen_at_ms)}</Descriptions.Item>
            <Descriptions.Item label={t('workers.registered')}>{dateTime(w.registered_at_ms)}</Descriptions.Item>
            <Descriptions.Item label={t('workers.interval')}>{t('visits.seconds', { n: num((w.heartbeat_interval_ms ?? 0) / 1000) })}</Descriptions.Item>
            <Descriptions.Item label={t('workers.capacity')}>{num(w.capacity ?? 0)}</Descriptions.Item>
            <Descriptions.Item label={t('workers.channel')}>{w.channel_connected ? t('common.yes') : t('common.no')}</Descriptions.Item>
            <Descriptions.Item label={t('workers.endpoint')}>{w.endpoint_url ?? '—'}</Descriptions.Item>
            <Descriptions.Item label={t('workers.lastError')}>{w.last_error ? <Typography.Text type="danger">{w.last_error}</Typography.Text> : '—'}</Descriptions.Item>
          </Descriptions>
          <div>
            <Typography.Title level={5}>{t('workers.cameraFigures')}</Typography.Title>
            <Table<CameraFigures>
              rowKey={(r) => String(r.id)} size="small" pagination={false} dataSource={figures} scroll={{ x: true }} data-testid="worker-cameras"
              locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('workers.noCameras')} /> }}
              columns={[
                { title: t('nav.cameras'), dataIndex: 'id', render: (v: number) => camName(v) },
                { title: t('common.status'), dataIndex: 'state', render: (v: string, r) => <span>{v ?? '—'}{r.reason ? <Typography.Text type="danger"> ({r.reason})</Typography.Text> : null}</span> },
                { title: t('workers.framesIn'), dataIndex: 'frames_in', align: 'right', render: (v?: number) => num(v ?? 0) },
                { title: t('workers.processed'), dataIndex: 'processed', align: 'right', render: (v?: number) => num(v ?? 0) },
                { title: t('workers.faces'), dataIndex: 'faces', align: 'right', render: (v?: number) => num(v ?? 0) },
                { title: t('workers.events'), dataIndex: 'events', align: 'right', render: (v?: number) => num(v ?? 0) },
                { title: t('workers.errors'), dataIndex: 'errors', align: 'right', render: (v?: number) => num(v ?? 0) },
                { title: t('workers.reconnects'), dataIndex: 'reconnects', align: 'right', render: (v?: number) => num(v ?? 0) },
                { title: t('workers.lastFrame'), dataIndex: 'last_frame_at', render: (v?: string | null) => (v ? dateTime(Date.parse(v)) : '—') },
              ]}
            />
          </div>
          <div>
            <Typography.Title level={5}>{t('workers.leases')}</Typography.Title>
            <Table
              rowKey={(r) => String(r.camera_id)} size="small" pagination={false} dataSource={leases} data-testid="worker-leases"
              locale={{ emptyText: <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('workers.noLeases')} /> }}
              columns={[
                { title: t('nav.cameras'), dataIndex: 'camera_id', render: (v: number) => camName(v) },
                { title: t('workers.generation'), dataIndex: 'generation' },
                { title: t('workers.leaseExpires'), dataIndex: 'expires_at_ms', render: (v: number) => dateTime(v) },
                { title: t('cameras.processing'), dataIndex: 'processing', render: (v: boolean) => (v ? t('common.yes') : t('common.no')) },
              ]}
            />
          </div>
          <div>
            <Typography.Title level={5}>{t('commands.title')}</Typography.Title>
            <Commands worker={w} canAdmin={canAdmin} />
          </div>
          <WorkerLogs id={id} />
        </Space>
      )}
    </Drawer>
  );
}

export default function WorkersPage() {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const sites = useSites();
  const cameras = useCameras();
  const workers = useWorkers();
  const canAdmin = allowed(me.role, ADMINS);
  const [siteId, setSiteId] = useState<number | null>(null);
  const [status, setStatus] = useState<WorkerStatus | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  useEventStream({
    enabled: me.tenant_id !== null,
    topics: ['worker', 'command', 'camera'],
    onEvent: (e) => {
      if (e.type === 'worker.status') qc.invalidateQueries({ queryKey: ['workers'] });
      else if (e.type === 'command.updated') qc.invalidateQueries({ queryKey: ['commands'] });
      else if (e.type === 'camera.status') { qc.invalidateQueries({ queryKey: ['cameras'] }); qc.invalidateQueries({ queryKey: ['workers'] }); }
    },
    onReset: () => qc.invalidateQueries({ queryKey: ['workers'] }),
  });
  const maintenance = useMutation({
    mutationFn: (v: { id: number; on: boolean }) => unwrap(api.client.PUT('/v1/workers/{id}/maintenance', { params: { path: { id: v.id } }, body: { maintenance: v.on } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['workers'] }),
    onError: (e) => message.error(errorMessage(e)),
  });
  const forget = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/workers/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('workers.forgotten')); qc.invalidateQueries({ queryKey: ['workers'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const rows = (workers.data ?? []).filter((w) => (siteId === null || w.site_id === siteId) && (status === null || w.status === status));
  // The cameras a worker holds: the list names their ids (camera_ids, one request for every worker).
  const camerasOf = (w: Worker) => (w.camera_ids ?? []).map((id) => ({ id, name: cameras.data?.find((c) => c.id === id)?.name ?? `#${id}` }));
  return (
    <>
      <PageHead title={t('nav.workers')}>
        <Space wrap>
          <Select<number | 'all'> aria-label={t('common.site')} style={{ minWidth: 180 }} value={siteId ?? 'all'} loading={sites.isLoading}
            onChange={(v) => setSiteId(v === 'all' ? null : v)}
            options={[{ value: 'all', label: t('cameras.allSites') }, ...(sites.data ?? []).map((s) => ({ value: s.id, label: s.name }))]} />
          <Select<WorkerStatus | 'all'> aria-label={t('common.status')} style={{ minWidth: 160 }} value={status ?? 'all'} onChange={(v) => setStatus(v === 'all' ? null : v)}
            options={[{ value: 'all', label: t('workers.anyStatus') }, ...STATUSES.map((s) => ({ value: s, label: t(`workers.status.${s}` as MessageKey) }))]} />
          <Button icon={<ReloadOutlined />} aria-label={t('common.retry')} onClick={() => workers.refetch()} loading={workers.isRefetching} />
        </Space>
      </PageHead>
      {workers.error && <QueryError error={workers.error} retry={() => workers.refetch()} />}
      <Table<Worker>
        rowKey="id" loading={workers.isLoading} dataSource={rows} pagination={{ pageSize: 20, hideOnSinglePage: true }} scroll={{ x: true }}
        locale={{ emptyText: t('workers.empty') }}
        columns={[
          { title: t('common.name'), dataIndex: 'name', render: (v: string, w) => <Button type="link" style={{ padding: 0 }} onClick={() => setOpen(w.id!)} aria-label={t('workers.open', { name: v })}>{v}</Button> },
          { title: t('common.site'), dataIndex: 'site_id', render: (v: number | null) => (v ? siteName(sites.data, v) : t('workers.noSite')) },
          { title: t('common.status'), dataIndex: 'status', render: (v: WorkerStatus, w) => <Space size={4}><WorkerStatusTag status={v} />{w.last_error && <Typography.Text type="danger">{w.last_error}</Typography.Text>}</Space> },
          { title: t('workers.lastSeen'), dataIndex: 'last_seen_at_ms', render: (v: number) => dateTime(v) },
          { title: t('nav.cameras'), key: 'cameras', render: (_, w) => {
            const cs = camerasOf(w);
            return cs.length ? cs.map((c) => <Tag key={c.id}>{c.name}</Tag>) : <Typography.Text type="secondary">{num(0)}</Typography.Text>;
          } },
          { title: t('workers.capacity'), dataIndex: 'capacity', align: 'right', render: (v: number) => num(v ?? 0) },
          { title: t('workers.version'), dataIndex: 'version', render: (v: string | null) => v ?? '—' },
          { title: t('workers.maintenance'), dataIndex: 'maintenance', render: (v: boolean, w) => (
            <Switch checked={v} disabled={!canAdmin} loading={maintenance.isPending && maintenance.variables?.id === w.id}
              aria-label={t('workers.maintenanceFor', { name: w.name ?? '' })} onChange={(on) => maintenance.mutate({ id: w.id!, on })} />
          ) },
          ...(canAdmin ? [{
            title: t('common.actions'), key: 'actions', render: (_: unknown, w: Worker) => (
              <Popconfirm title={t('workers.forgetConfirm', { name: w.name ?? '' })} description={t('workers.forgetNote')} okText={t('workers.forget')} cancelText={t('common.cancel')}
                okButtonProps={{ danger: true }} onConfirm={() => forget.mutateAsync(w.id!).catch(() => undefined)}>
                <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('workers.forgetNamed', { name: w.name ?? '' })}>{t('workers.forget')}</Button>
              </Popconfirm>
            ),
          }] : []),
        ]}
      />
      {open !== null && <WorkerDetails id={open} canAdmin={canAdmin} onClose={() => setOpen(null)} />}
    </>
  );
}
