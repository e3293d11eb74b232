import { useMemo, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, Modal, Popconfirm, Select, Space, Table, Typography } from 'antd';
import { DeleteOutlined, EditOutlined, PlusOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { ADMINS, MANAGERS, allowed } from '../../auth/roles';
import { PageHead, QueryError, TenantSelect, useSites, useTenants } from '../../components/common';
import { useI18n } from '../../i18n';
import { OpeningHoursEditor } from './OpeningHoursEditor';
import { normaliseHours, summariseHours, validateHours, type Hours } from './openingHours';
import { browserTimeZone, timeZones } from './timezones';

type Site = Schemas['Site'];
interface FormValues { name: string; address?: string; timezone: string; opening_hours?: Hours | null; tenant_id?: number }

function SiteDialog({ site, open, onClose }: { site: Site | null; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const zones = useMemo(() => timeZones(site?.timezone), [site]);
  const needsTenant = !site && me.role === 'system_admin' && me.tenant_id === null;
  const save = useMutation({
    mutationFn: async (v: FormValues) => {
      const body = { name: v.name.trim(), address: v.address?.trim() || null, timezone: v.timezone, opening_hours: normaliseHours(v.opening_hours) };
      if (site) return unwrap(api.client.PATCH('/v1/sites/{id}', { params: { path: { id: site.id } }, body }));
      return unwrap(api.client.POST('/v1/sites', { body: needsTenant ? { ...body, tenant_id: v.tenant_id } : body }));
    },
    onSuccess: () => {
      message.success(t('common.saved'));
      qc.invalidateQueries({ queryKey: ['sites'] });
      onClose();
    },
  });
  return (
    <Modal open={open} width={720} title={site ? t('sites.edit') : t('sites.add')} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose} destroyOnHidden afterOpenChange={(o) => o || save.reset()}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" preserve={false} onFinish={(v) => save.mutate(v)}
        initialValues={site ? { name: site.name, address: site.address ?? '', timezone: site.timezone, opening_hours: site.opening_hours ?? {} }
          : { timezone: browserTimeZone(), opening_hours: {} }}>
        {needsTenant && (
          <Form.Item name="tenant_id" label={t('common.tenant')} rules={[{ required: true, message: t('form.required') }]}>
            <TenantSelect />
          </Form.Item>
        )}
        <Form.Item name="name" label={t('common.name')} rules={[{ required: true, whitespace: true, message: t('form.required') }, { max: 128 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="address" label={t('sites.address')} rules={[{ max: 512 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="timezone" label={t('sites.timezone')} rules={[{ required: true, message: t('form.required') }]}>
          <Select showSearch={{ optionFilterProp: 'label' }} options={zones.map((z) => ({ value: z, label: z }))} />
        </Form.Item>
        <Form.Item name="opening_hours" label={t('sites.openingHours')} extra={t('sites.openingHoursHelp')}
          rules={[{ validator: (_, v: Hours | null) => {
            const bad = validateHours(v ?? {});
            return bad.length ? Promise.reject(new Error(t(`sites.hours.${bad[0][2]}`, { day: t(`day.${bad[0][0]}`) }))) : Promise.resolve();
          } }]}>
          <OpeningHoursEditor />
        </Form.Item>
      </Form>
    </Modal>
  );
}

export default function SitesPage() {
  const { t, dateTime, timeIn } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const sites = useSites();
  const global = me.role === 'system_admin' && me.tenant_id === null;
  const tenants = useTenants(global);
  const [editing, setEditing] = useState<Site | null>(null);
  const [open, setOpen] = useState(false);
  const del = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/sites/{id}', { params: { path: { id } } })),
    onSuccess: () => {
      message.success(t('common.deleted'));
      qc.invalidateQueries({ queryKey: ['sites'] });
    },
    // The server says why (e.g. 409: cameras or users still bound to the site).
    onError: (e) => message.error(errorMessage(e)),
  });
  const now = Date.now();
  return (
    <>
      <PageHead title={t('nav.sites')}>
        {allowed(me.role, ADMINS) && (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => { setEditing(null); setOpen(true); }}>{t('sites.add')}</Button>
        )}
      </PageHead>
      {sites.error && <QueryError error={sites.error} retry={() => sites.refetch()} />}
      <Table<Site>
        rowKey="id"
        loading={sites.isLoading}
        dataSource={sites.data}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('sites.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: t('common.name'), dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
          ...(global ? [{ title: t('common.tenant'), key: 'tenant', render: (_: unknown, s: Site) => tenants.data?.find((x) => x.id === s.tenant_id)?.name ?? `#${s.tenant_id}` }] : []),
          { title: t('sites.address'), dataIndex: 'address', render: (v: string | null) => v || '—' },
          { title: t('sites.timezone'), dataIndex: 'timezone' },
          { title: t('sites.localTime'), key: 'local', render: (_, s) => timeIn(now, s.timezone) },
          { title: t('sites.openingHours'), key: 'hours', render: (_, s) => summariseHours(s.opening_hours as Hours | null, (d) => t(`dayShort.${d}`), t('sites.closed')) || <Typography.Text type="secondary">{t('sites.hoursNotSet')}</Typography.Text> },
          { title: t('common.created'), dataIndex: 'created_at_ms', render: (v?: number) => dateTime(v) },
          {
            title: t('common.actions'), key: 'actions', render: (_, s) => (
              <Space>
                {allowed(me.role, MANAGERS) && (
                  <Button size="small" icon={<EditOutlined />} aria-label={t('common.editNamed', { name: s.name })} onClick={() => { setEditing(s); setOpen(true); }}>{t('common.edit')}</Button>
                )}
                {allowed(me.role, ADMINS) && (
                  <Popconfirm title={t('sites.deleteConfirm', { name: s.name })} okText={t('common.delete')} cancelText={t('common.cancel')}
                    okButtonProps={{ danger: true }} onConfirm={() => del.mutateAsync(s.id).catch(() => undefined)}>
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('common.deleteNamed', { name: s.name })}>{t('common.delete')}</Button>
                  </Popconfirm>
                )}
              </Space>
            ),
          },
        ]}
      />
      {open && <SiteDialog key={editing?.id ?? 'new'} site={editing} open onClose={() => setOpen(false)} />}
    </>
  );
}
