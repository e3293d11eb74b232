import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, DatePicker, Form, Input, Modal, Popconfirm, Table, Tag, Typography } from 'antd';
import { PlusOutlined, StopOutlined } from '@ant-design/icons';
import type { Dayjs } from 'dayjs';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { PageHead, QueryError, SiteSelect, TenantSelect, siteName, useSites } from '../../components/common';
import { useI18n } from '../../i18n';

type Key = Schemas['ApiKey'];
type Created = Schemas['ApiKeyCreated'];
interface FormValues { name: string; site_id?: number | null; expires?: Dayjs | null; tenant_id?: number }

function keyStatus(k: Key, now: number): 'revoked' | 'expired' | 'active' {
  if (k.revoked_at_ms) return 'revoked';
  if (k.expires_at_ms && k.expires_at_ms <= now) return 'expired';
  return 'active';
}

function CreateDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (k: Created) => void }) {
  const { t } = useI18n();
  const me = useMe();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const needsTenant = me.role === 'system_admin' && me.tenant_id === null;
  const save = useMutation({
    mutationFn: (v: FormValues) => unwrap(api.client.POST('/v1/api-keys', { body: {
      name: v.name.trim(), site_id: v.site_id ?? null, expires_at_ms: v.expires ? v.expires.endOf('day').valueOf() : null,
      ...(needsTenant ? { tenant_id: v.tenant_id } : {}),
    } })),
    onSuccess: (k) => { qc.invalidateQueries({ queryKey: ['api-keys'] }); onCreated(k); },
  });
  return (
    <Modal open={open} title={t('keys.add')} okText={t('keys.create')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose} destroyOnHidden afterOpenChange={(o) => o || save.reset()}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Typography.Paragraph type="secondary">{t('keys.intro')}</Typography.Paragraph>
      <Form form={form} layout="vertical" preserve={false} onFinish={(v) => save.mutate(v)}>
        <Form.Item name="name" label={t('common.name')} rules={[{ required: true, whitespace: true, message: t('form.required') }, { max: 128 }]}>
          <Input placeholder={t('keys.namePlaceholder')} />
        </Form.Item>
        {needsTenant && (
          <Form.Item name="tenant_id" label={t('common.tenant')} rules={[{ required: true, message: t('form.required') }]}>
            <TenantSelect />
          </Form.Item>
        )}
        <Form.Item name="site_id" label={t('common.site')} extra={t('keys.siteHelp')}>
          <SiteSelect allowClear />
        </Form.Item>
        <Form.Item name="expires" label={t('keys.expires')} extra={t('keys.expiresHelp')}>
          <DatePicker disabledDate={(d) => d.isBefore(new Date(), 'day')} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function SecretDialog({ created, onClose }: { created: Created | null; onClose: () => void }) {
  const { t } = useI18n();
  return (
    <Modal open={created !== null} title={t('keys.createdTitle', { name: created?.name ?? '' })} closable={false} maskClosable={false}
      destroyOnHidden
      keyboard={false} footer={<Button type="primary" onClick={onClose}>{t('keys.secretSaved')}</Button>}>
      <Alert type="warning" showIcon message={t('keys.secretWarning')} style={{ marginBottom: 16 }} />
      <Typography.Paragraph className="secret" data-testid="api-key-secret" copyable={{ text: created?.secret ?? '', tooltips: [t('keys.copy'), t('keys.copied')] }}>
        {created?.secret}
      </Typography.Paragraph>
      <Typography.Paragraph type="secondary">{t('keys.secretUse')}</Typography.Paragraph>
    </Modal>
  );
}

export default function ApiKeysPage() {
  const { t, dateTime } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const sites = useSites();
  const [open, setOpen] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const keys = useQuery({
    queryKey: ['api-keys'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/api-keys', { params: { query: { limit: 200, cursor } } }))),
  });
  const revoke = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/api-keys/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('keys.revoked')); qc.invalidateQueries({ queryKey: ['api-keys'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const now = Date.now();
  return (
    <>
      <PageHead title={t('nav.apiKeys')}>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => setOpen(true)}>{t('keys.add')}</Button>
      </PageHead>
      {keys.error && <QueryError error={keys.error} retry={() => keys.refetch()} />}
      <Table<Key>
        rowKey="id"
        loading={keys.isLoading}
        dataSource={keys.data}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('keys.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: t('common.name'), dataIndex: 'name' },
          { title: t('keys.prefix'), dataIndex: 'prefix', render: (p: string) => <Typography.Text code>{`ffk_${p}_…`}</Typography.Text> },
          { title: t('common.site'), dataIndex: 'site_id', render: (v: number | null) => (v === null ? t('keys.anySite') : siteName(sites.data, v)) },
          {
            title: t('common.status'), key: 'status', render: (_, k) => {
              const s = keyStatus(k, now);
              return <Tag color={s === 'active' ? 'green' : s === 'revoked' ? 'red' : 'orange'}>{t(`keys.status.${s}`)}</Tag>;
            },
          },
          { title: t('common.created'), dataIndex: 'created_at_ms', render: (v?: number) => dateTime(v) },
          { title: t('keys.expires'), dataIndex: 'expires_at_ms', render: (v: number | null) => (v ? dateTime(v) : t('keys.never')) },
          { title: t('keys.lastUsed'), dataIndex: 'last_used_at_ms', render: (v: number | null) => (v ? dateTime(v) : t('keys.neverUsed')) },
          {
            title: t('common.actions'), key: 'actions', render: (_, k) => keyStatus(k, now) !== 'revoked' && (
              <Popconfirm title={t('keys.revokeConfirm', { name: k.name })} description={t('keys.revokeNote')} okText={t('keys.revoke')} cancelText={t('common.cancel')}
                okButtonProps={{ danger: true }} onConfirm={() => revoke.mutateAsync(k.id).catch(() => undefined)}>
                <Button size="small" danger icon={<StopOutlined />} aria-label={t('keys.revokeNamed', { name: k.name })}>{t('keys.revoke')}</Button>
              </Popconfirm>
            ),
          },
        ]}
      />
      {open && <CreateDialog open onClose={() => setOpen(false)} onCreated={(k) => { setOpen(false); setCreated(k); }} />}
      <SecretDialog created={created} onClose={() => setCreated(null)} />
    </>
  );
}
