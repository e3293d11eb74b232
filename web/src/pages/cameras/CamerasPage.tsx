import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Dropdown, Form, Input, InputNumber, Modal, Popconfirm, Radio, Select, Space, Switch, Table, Tag, Typography } from 'antd';
import { ClusterOutlined, DeleteOutlined, DownOutlined, EditOutlined, LockOutlined, PlusOutlined, SendOutlined } from '@ant-design/icons';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { ADMINS, MANAGERS, allowed } from '../../auth/roles';
import { useEventStream } from '../../api/events';
import { CameraStateTag, useWorkers } from '../../components/fleet';
import { PageHead, QueryError, SiteSelect, siteName, useSites } from '../../components/common';
import { useI18n, type MessageKey } from '../../i18n';

type Camera = Schemas['Camera'];
type Kind = Camera['kind'];
type CameraCommand = 'start_streaming' | 'stop_streaming' | 'start_processing' | 'stop_processing';
const CAMERA_COMMANDS: CameraCommand[] = ['start_streaming', 'stop_streaming', 'start_processing', 'stop_processing'];

/** Hand a camera to a chosen worker of its site (admins), or back to automatic placement. */
function LeaseDialog({ camera, onClose }: { camera: Camera; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const workers = useWorkers();
  const [workerId, setWorkerId] = useState<number | undefined>(camera.status?.worker_id ?? undefined);
  const done = () => { qc.invalidateQueries({ queryKey: ['cameras'] }); qc.invalidateQueries({ queryKey: ['workers'] }); onClose(); };
  const lease = useMutation({
    mutationFn: () => unwrap(api.client.PUT('/v1/cameras/{id}/lease', { params: { path: { id: camera.id } }, body: { worker_id: workerId! } })),
    onSuccess: () => { message.success(t('cameras.leased')); done(); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const release = useMutation({
    mutationFn: () => unwrap(api.client.DELETE('/v1/cameras/{id}/lease', { params: { path: { id: camera.id } } })),
    onSuccess: () => { message.success(t('cameras.released')); done(); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const eligible = (workers.data ?? []).filter((w) => w.site_id === camera.site_id);
  return (
    <Modal open title={t('cameras.placementOf', { name: camera.name })} onCancel={onClose} okText={t('cameras.lease')} cancelText={t('common.cancel')}
      okButtonProps={{ disabled: workerId === undefined, loading: lease.isPending }} onOk={() => lease.mutate()}
      footer={(orig) => (
        <Space>
          {camera.status?.manual && <Button loading={release.isPending} onClick={() => release.mutate()}>{t('cameras.release')}</Button>}
          {orig}
        </Space>
      )}>
      <Typography.Paragraph type="secondary">{t('cameras.leaseHelp')}</Typography.Paragraph>
      <Select<number> aria-label={t('cameras.worker')} style={{ width: '100%' }} value={workerId} onChange={setWorkerId} loading={workers.isLoading}
        placeholder={t('cameras.chooseWorker')} notFoundContent={t('cameras.noWorkers')}
        options={eligible.map((w) => ({ value: w.id!, label: `${w.name} (${t(`workers.status.${w.status}` as MessageKey)})` }))} />
    </Modal>
  );
}
const KINDS: Kind[] = ['rtsp', 'mjpeg', 'file', 'v4l2'];

// What each kind needs (mirrors the server's rules in the OpenAPI document).
const URL_RULES: Record<Exclude<Kind, 'v4l2'>, RegExp> = {
  rtsp: /^rtsps?:\/\/\S+$/i,
  mjpeg: /^https?:\/\/\S+$/i,
  file: /^\/\S*/,
};

interface FormValues { site_id: number; name: string; kind: Kind; url?: string; device?: string; sample_fps: number; entrance: boolean; enabled: boolean; processing: boolean }

function CameraDialog({ camera, siteId, open, onClose }: { camera: Camera | null; siteId: number | null; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const kind = Form.useWatch('kind', form) ?? camera?.kind ?? 'rtsp';
  const save = useMutation({
    mutationFn: async (v: FormValues) => {
      const source = v.kind === 'v4l2' ? { device: v.device?.trim() } : v.url?.trim() ? { url: v.url.trim() } : {};
      const common = { name: v.name.trim(), kind: v.kind, sample_fps: v.sample_fps, entrance: v.entrance, enabled: v.enabled, processing: v.processing, ...source };
      if (camera) return unwrap(api.client.PATCH('/v1/cameras/{id}', { params: { path: { id: camera.id } }, body: common }));
      return unwrap(api.client.POST('/v1/cameras', { body: { ...common, site_id: v.site_id } }));
    },
    onSuccess: () => {
      message.success(t('common.saved'));
      qc.invalidateQueries({ queryKey: ['cameras'] });
      onClose();
    },
  });
  // Editing: the stored URL is masked, so an empty field keeps it (and its password).
  const keepUrl = camera !== null && camera.kind === kind && kind !== 'v4l2';
  return (
    <Modal open={open} width={640} title={camera ? t('cameras.edit') : t('cameras.add')} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose} destroyOnHidden afterOpenChange={(o) => o || save.reset()}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" preserve={false} onFinish={(v) => save.mutate(v)}
        initialValues={camera
          ? { site_id: camera.site_id, name: camera.name, kind: camera.kind, device: camera.device, url: '', sample_fps: camera.sample_fps, entrance: camera.entrance, enabled: camera.enabled, processing: camera.processing }
          : { site_id: siteId ?? undefined, kind: 'rtsp', sample_fps: 5, entrance: true, enabled: true, processing: true }}>
        <Form.Item name="site_id" label={t('common.site')} rules={[{ required: true, message: t('form.required') }]}>
          <SiteSelect disabled={camera !== null} />
        </Form.Item>
        <Form.Item name="name" label={t('common.name')} rules={[{ required: true, whitespace: true, message: t('form.required') }, { max: 128 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="kind" label={t('cameras.kind')}>
          <Radio.Group optionType="button" options={KINDS.map((k) => ({ value: k, label: t(`cameras.kind.${k}`) }))} />
        </Form.Item>
        {kind === 'v4l2' ? (
          <Form.Item name="device" label={t('cameras.device')} extra={t('cameras.deviceHelp')}
            rules={[{ required: true, message: t('form.required') }, { pattern: /^\/dev\/\S+$/, message: t('cameras.deviceBad') }]}>
            <Input placeholder="/dev/video0" />
          </Form.Item>
        ) : (
          <Form.Item name="url" label={kind === 'file' ? t('cameras.path') : t('cameras.url')}
            extra={keepUrl ? t('cameras.keepUrl', { url: camera?.url ?? '' }) : t(`cameras.urlHelp.${kind}`)}
            rules={[
              { required: !keepUrl, message: t('form.required') },
              { pattern: URL_RULES[kind], message: t(`cameras.urlBad.${kind}`) },
              { max: 1024 },
            ]}>
            <Input placeholder={keepUrl ? camera?.url : t(`cameras.urlPlaceholder.${kind}`)} autoComplete="off" />
          </Form.Item>
        )}
        <Form.Item name="sample_fps" label={t('cameras.sampleFps')} extra={t('cameras.sampleFpsHelp')} rules={[{ required: true, message: t('form.required') }]}>
          <InputNumber min={0.1} max={30} step={0.5} />
        </Form.Item>
        <Space size="large" wrap>
          <Form.Item name="enabled" label={t('cameras.enabled')} valuePropName="checked"><Switch /></Form.Item>
          <Form.Item name="processing" label={t('cameras.processing')} valuePropName="checked"><Switch /></Form.Item>
          <Form.Item name="entrance" label={t('cameras.entrance')} valuePropName="checked" tooltip={t('cameras.entranceHelp')}><Switch /></Form.Item>
        </Space>
      </Form>
    </Modal>
  );
}

export default function CamerasPage() {
  const { t } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const sites = useSites();
  const [siteId, setSiteId] = useState<number | null>(null);
  const [editing, setEditing] = useState<Camera | null>(null);
  const [open, setOpen] = useState(false);
  const canManage = allowed(me.role, MANAGERS);
  const canAdmin = allowed(me.role, ADMINS);
  const [leasing, setLeasing] = useState<Camera | null>(null);
  const workers = useWorkers();
  useEventStream({
    enabled: me.tenant_id !== null,
    topics: ['camera'],
    onEvent: () => qc.invalidateQueries({ queryKey: ['cameras'] }),
    onReset: () => qc.invalidateQueries({ queryKey: ['cameras'] }),
  });
  const command = useMutation({
    mutationFn: (v: { id: number; type: CameraCommand }) => unwrap(api.client.POST('/v1/cameras/{id}/commands', { params: { path: { id: v.id } }, body: { type: v.type } })),
    onSuccess: (_, v) => { message.success(t('cameras.commandQueued', { type: t(`commands.type.${v.type}` as MessageKey) })); qc.invalidateQueries({ queryKey: ['commands'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const cameras = useQuery({
    queryKey: ['cameras', siteId ?? 'all'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/cameras', { params: { query: { limit: 200, cursor, site_id: siteId ?? undefined } } }))),
  });
  const patch = useMutation({
    mutationFn: (v: { id: number; body: Schemas['CameraUpdate'] }) => unwrap(api.client.PATCH('/v1/cameras/{id}', { params: { path: { id: v.id } }, body: v.body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['cameras'] }),
    onError: (e) => message.error(errorMessage(e)),
  });
  const del = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/cameras/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('common.deleted')); qc.invalidateQueries({ queryKey: ['cameras'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const workerName = (id: number | null | undefined) => (id ? workers.data?.find((w) => w.id === id)?.name ?? `#${id}` : null);
  const toggling = (id: number) => patch.isPending && patch.variables?.id === id;
  return (
    <>
      <PageHead title={t('nav.cameras')}>
        <Space wrap>
          <Select<number | 'all'> aria-label={t('common.site')} style={{ minWidth: 200 }} value={siteId ?? 'all'} loading={sites.isLoading}
            onChange={(v) => setSiteId(v === 'all' ? null : v)}
            options={[{ value: 'all', label: t('cameras.allSites') }, ...(sites.data ?? []).map((s) => ({ value: s.id, label: s.name }))]} />
          {canManage && (
            <Button type="primary" icon={<PlusOutlined />} disabled={!sites.data?.length} onClick={() => { setEditing(null); setOpen(true); }}>{t('cameras.add')}</Button>
          )}
        </Space>
      </PageHead>
      {sites.data && sites.data.length === 0 && <Alert type="info" showIcon message={t('cameras.noSites')} style={{ marginBottom: 16 }} />}
      {cameras.error && <QueryError error={cameras.error} retry={() => cameras.refetch()} />}
      <Table<Camera>
        rowKey="id"
        loading={cameras.isLoading}
        dataSource={cameras.data}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('cameras.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: t('common.name'), dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
          { title: t('common.site'), dataIndex: 'site_id', render: (v: number) => siteName(sites.data, v) },
          { title: t('cameras.kind'), dataIndex: 'kind', render: (k: Kind) => <Tag>{t(`cameras.kind.${k}`)}</Tag> },
          {
            title: t('cameras.source'), key: 'source', render: (_, c) => (
              <Space size={4}>
                <Typography.Text code copyable={false} title={(c.kind === 'v4l2' ? c.device : c.url) ?? undefined}
                  style={{ display: 'inline-block', maxWidth: 260, whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis', verticalAlign: 'middle' }}>
                  {c.kind === 'v4l2' ? c.device : c.url}
                </Typography.Text>
                {c.has_credentials && <LockOutlined title={t('cameras.hasCredentials')} aria-label={t('cameras.hasCredentials')} />}
              </Space>
            ),
          },
          { title: t('cameras.sampleFps'), dataIndex: 'sample_fps' },
          {
            title: t('cameras.enabled'), dataIndex: 'enabled', render: (v: boolean, c) => (
              <Switch checked={v} disabled={!canManage} loading={toggling(c.id)} aria-label={t('cameras.enabledFor', { name: c.name })}
                onChange={(x) => patch.mutate({ id: c.id, body: { enabled: x } })} />
            ),
          },
          {
            title: t('cameras.processing'), dataIndex: 'processing', render: (v: boolean, c) => (
              <Switch checked={v} disabled={!canManage} loading={toggling(c.id)} aria-label={t('cameras.processingFor', { name: c.name })}
                onChange={(x) => patch.mutate({ id: c.id, body: { processing: x } })} />
            ),
          },
          { title: t('cameras.entrance'), dataIndex: 'entrance', render: (v: boolean) => (v ? t('common.yes') : t('common.no')) },
          {
            title: t('cameras.placement'), key: 'placement', render: (_, c) => (
              <Space size={4} wrap data-testid={`placement-${c.id}`}>
                <CameraStateTag camera={c} />
                {workerName(c.status?.worker_id) && <Typography.Text>{workerName(c.status?.worker_id)}</Typography.Text>}
                {c.status?.manual && <Tag>{t('cameras.manual')}</Tag>}
                {c.status?.reason && <Typography.Text type="danger">{c.status.reason}</Typography.Text>}
              </Space>
            ),
          },
          ...(canManage ? [{
            title: t('common.actions'), key: 'actions', render: (_: unknown, c: Camera) => (
              <Space wrap>
                <Dropdown trigger={['click']} disabled={!c.status?.worker_id}
                  menu={{ items: CAMERA_COMMANDS.map((k) => ({ key: k, label: t(`commands.type.${k}` as MessageKey) })), onClick: ({ key }) => command.mutate({ id: c.id, type: key as CameraCommand }) }}>
                  <Button size="small" icon={<SendOutlined />} aria-label={t('cameras.commandsFor', { name: c.name })} title={c.status?.worker_id ? undefined : t('cameras.noWorkerYet')}>
                    {t('commands.title')} <DownOutlined />
                  </Button>
                </Dropdown>
                {canAdmin && <Button size="small" icon={<ClusterOutlined />} aria-label={t('cameras.placementOf', { name: c.name })} onClick={() => setLeasing(c)}>{t('cameras.placementShort')}</Button>}
                <Button size="small" icon={<EditOutlined />} aria-label={t('common.editNamed', { name: c.name })} onClick={() => { setEditing(c); setOpen(true); }}>{t('common.edit')}</Button>
                <Popconfirm title={t('cameras.deleteConfirm', { name: c.name })} okText={t('common.delete')} cancelText={t('common.cancel')}
                  okButtonProps={{ danger: true }} onConfirm={() => del.mutateAsync(c.id).catch(() => undefined)}>
                  <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('common.deleteNamed', { name: c.name })}>{t('common.delete')}</Button>
                </Popconfirm>
              </Space>
            ),
          }] : []),
        ]}
      />
      {leasing && <LeaseDialog camera={leasing} onClose={() => setLeasing(null)} />}
      {open && <CameraDialog key={editing?.id ?? 'new'} camera={editing} siteId={siteId} open onClose={() => setOpen(false)} />}
    </>
  );
}
