import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, InputNumber, Modal, Popconfirm, Space, Switch, Table } from 'antd';
import { DeleteOutlined, EditOutlined, PlusOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { PageHead, QueryError, useTenants } from '../../components/common';
import { useI18n } from '../../i18n';

type Tenant = Schemas['Tenant'];
interface FormValues { name: string; retention_days: number }

function TenantDialog({ tenant, open, onClose }: { tenant: Tenant | null; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const save = useMutation({
    mutationFn: (v: FormValues) => {
      const body = { name: v.name.trim(), retention_days: v.retention_days };
      return tenant
        ? unwrap(api.client.PATCH('/v1/tenants/{id}', { params: { path: { id: tenant.id } }, body }))
        : unwrap(api.client.POST('/v1/tenants', { body }));
    },
    onSuccess: () => { message.success(t('common.saved')); (qc.invalidateQueries({ queryKey: ['tenants'] }), qc.invalidateQueries({ queryKey: ['tenant-switcher'] })); onClose(); },
  });
  return (
    <Modal open={open} title={tenant ? t('tenants.edit') : t('tenants.add')} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose} destroyOnHidden afterOpenChange={(o) => o || save.reset()}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" preserve={false} onFinish={(v) => save.mutate(v)}
        initialValues={tenant ? { name: tenant.name, retention_days: tenant.retention_days } : { retention_days: 30 }}>
        <Form.Item name="name" label={t('common.name')} rules={[{ required: true, whitespace: true, message: t('form.required') }, { max: 128 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="retention_days" label={t('tenants.retention')} extra={t('tenants.retentionHelp')} rules={[{ required: true, message: t('form.required') }]}>
          <InputNumber min={1} max={3650} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

export default function TenantsPage() {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const tenants = useTenants(true);
  const [editing, setEditing] = useState<Tenant | null>(null);
  const [open, setOpen] = useState(false);
  const patch = useMutation({
    mutationFn: (v: { id: number; active: boolean }) => unwrap(api.client.PATCH('/v1/tenants/{id}', { params: { path: { id: v.id } }, body: { active: v.active } })),
    onSuccess: () => (qc.invalidateQueries({ queryKey: ['tenants'] }), qc.invalidateQueries({ queryKey: ['tenant-switcher'] })),
    onError: (e) => message.error(errorMessage(e)),
  });
  const del = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/tenants/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('common.deleted')); (qc.invalidateQueries({ queryKey: ['tenants'] }), qc.invalidateQueries({ queryKey: ['tenant-switcher'] })); },
    onError: (e) => message.error(errorMessage(e)),
  });
  return (
    <>
      <PageHead title={t('nav.tenants')}>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => { setEditing(null); setOpen(true); }}>{t('tenants.add')}</Button>
      </PageHead>
      {tenants.error && <QueryError error={tenants.error} retry={() => tenants.refetch()} />}
      <Table<Tenant>
        rowKey="id"
        loading={tenants.isLoading}
        dataSource={tenants.data}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('tenants.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: 'ID', dataIndex: 'id', width: 70 },
          { title: t('common.name'), dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
          { title: t('tenants.sites'), dataIndex: 'site_count', render: (v?: number) => (v === undefined ? '—' : num(v)) },
          { title: t('tenants.retention'), dataIndex: 'retention_days', render: (v: number) => t('tenants.days', { n: num(v) }) },
          {
            title: t('users.active'), dataIndex: 'active', render: (v: boolean, x) => (
              <Switch checked={v} loading={patch.isPending && patch.variables?.id === x.id} aria-label={t('users.activeFor', { name: x.name })}
                onChange={(a) => patch.mutate({ id: x.id, active: a })} />
            ),
          },
          { title: t('common.created'), dataIndex: 'created_at_ms', render: (v?: number) => dateTime(v) },
          {
            title: t('common.actions'), key: 'actions', render: (_, x) => (
              <Space>
                <Button size="small" icon={<EditOutlined />} aria-label={t('common.editNamed', { name: x.name })} onClick={() => { setEditing(x); setOpen(true); }}>{t('common.edit')}</Button>
                <Popconfirm title={t('tenants.deleteConfirm', { name: x.name })} okText={t('common.delete')} cancelText={t('common.cancel')}
                  okButtonProps={{ danger: true }} onConfirm={() => del.mutateAsync(x.id).catch(() => undefined)}>
                  <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('common.deleteNamed', { name: x.name })}>{t('common.delete')}</Button>
                </Popconfirm>
              </Space>
            ),
          },
        ]}
      />
      {open && <TenantDialog key={editing?.id ?? 'new'} tenant={editing} open onClose={() => setOpen(false)} />}
    </>
  );
}
