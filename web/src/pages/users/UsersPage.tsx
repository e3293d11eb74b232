import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, Modal, Popconfirm, Select, Space, Switch, Table, Tag } from 'antd';
import { DeleteOutlined, EditOutlined, KeyOutlined, PlusOutlined } from '@ant-design/icons';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { assignableRoles, type Role } from '../../auth/roles';
import { PageHead, QueryError, SiteSelect, TenantSelect, siteName, useSites, useTenants } from '../../components/common';
import { useI18n } from '../../i18n';

type User = Schemas['User'];
interface FormValues { username: string; display_name?: string; password?: string; role: Role; site_id?: number | null; tenant_id?: number }

/** Site managers need a site; viewers may have one; admins have none. */
const SITE_ROLES: Role[] = ['site_manager', 'viewer'];

function UserDialog({ user, open, onClose }: { user: User | null; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const role = Form.useWatch('role', form) ?? user?.role;
  const needsTenant = !user && me.role === 'system_admin' && me.tenant_id === null && role !== 'system_admin';
  const save = useMutation({
    mutationFn: async (v: FormValues) => {
      const site_id = role && SITE_ROLES.includes(role) ? (v.site_id ?? null) : null;
      const display_name = v.display_name?.trim() || null;
      if (user) return unwrap(api.client.PATCH('/v1/users/{id}', { params: { path: { id: user.id } }, body: { display_name, role: v.role, site_id } }));
      return unwrap(api.client.POST('/v1/users', { body: {
        username: v.username.trim(), password: v.password ?? '', role: v.role, display_name, site_id,
        ...(needsTenant ? { tenant_id: v.tenant_id } : {}),
      } }));
    },
    onSuccess: () => { message.success(t('common.saved')); qc.invalidateQueries({ queryKey: ['users'] }); onClose(); },
  });
  return (
    <Modal open={open} title={user ? t('users.edit') : t('users.add')} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose} destroyOnHidden afterOpenChange={(o) => o || save.reset()}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" preserve={false} onFinish={(v) => save.mutate(v)}
        initialValues={user ? { username: user.username, display_name: user.display_name ?? '', role: user.role, site_id: user.site_id } : { role: 'viewer' }}>
        <Form.Item name="username" label={t('login.username')} extra={user ? undefined : t('users.usernameHelp')}
          rules={[{ required: true, message: t('form.required') }, { pattern: /^[a-z0-9._@-]{3,64}$/, message: t('users.usernameBad') }]}>
          <Input disabled={user !== null} autoComplete="off" />
        </Form.Item>
        <Form.Item name="display_name" label={t('users.displayName')} rules={[{ max: 128 }]}>
          <Input />
        </Form.Item>
        {!user && (
          <Form.Item name="password" label={t('login.password')} rules={[{ required: true, message: t('form.required') }, { min: 10, message: t('password.tooShort') }]}>
            <Input.Password autoComplete="new-password" />
          </Form.Item>
        )}
        <Form.Item name="role" label={t('users.role')} rules={[{ required: true, message: t('form.required') }]}>
          <Select options={assignableRoles(me.role).map((r) => ({ value: r, label: t(`role.${r}`) }))} />
        </Form.Item>
        {needsTenant && (
          <Form.Item name="tenant_id" label={t('common.tenant')} rules={[{ required: true, message: t('form.required') }]}>
            <TenantSelect />
          </Form.Item>
        )}
        {role && SITE_ROLES.includes(role) && (
          <Form.Item name="site_id" label={t('common.site')} extra={role === 'viewer' ? t('users.viewerSiteHelp') : undefined}
            rules={[{ required: role === 'site_manager', message: t('form.required') }]}>
            <SiteSelect allowClear={role === 'viewer'} />
          </Form.Item>
        )}
      </Form>
    </Modal>
  );
}

function ResetPasswordDialog({ user, onClose }: { user: User | null; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const [form] = Form.useForm<{ password: string }>();
  const save = useMutation({
    mutationFn: (password: string) => unwrap(api.client.PATCH('/v1/users/{id}', { params: { path: { id: user!.id } }, body: { password } })),
    onSuccess: () => { message.success(t('users.passwordReset')); onClose(); },
  });
  return (
    <Modal open={user !== null} title={t('users.resetPasswordFor', { name: user?.username ?? '' })} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose} destroyOnHidden afterOpenChange={(o) => o || save.reset()}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" preserve={false} onFinish={(v) => save.mutate(v.password)}>
        <Form.Item name="password" label={t('password.new')} rules={[{ required: true, message: t('form.required') }, { min: 10, message: t('password.tooShort') }]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
      </Form>
    </Modal>
  );
}

export default function UsersPage() {
  const { t, dateTime } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const sites = useSites();
  const global = me.role === 'system_admin' && me.tenant_id === null;
  const tenants = useTenants(global);
  const [editing, setEditing] = useState<User | null>(null);
  const [open, setOpen] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const users = useQuery({
    queryKey: ['users'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/users', { params: { query: { limit: 200, cursor } } }))),
  });
  const patch = useMutation({
    mutationFn: (v: { id: number; active: boolean }) => unwrap(api.client.PATCH('/v1/users/{id}', { params: { path: { id: v.id } }, body: { active: v.active } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['users'] }),
    onError: (e) => message.error(errorMessage(e)),
  });
  const del = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/users/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('common.deleted')); qc.invalidateQueries({ queryKey: ['users'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  return (
    <>
      <PageHead title={t('nav.users')}>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => { setEditing(null); setOpen(true); }}>{t('users.add')}</Button>
      </PageHead>
      {users.error && <QueryError error={users.error} retry={() => users.refetch()} />}
      <Table<User>
        rowKey="id"
        loading={users.isLoading}
        dataSource={users.data}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('users.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: t('login.username'), dataIndex: 'username', sorter: (a, b) => a.username.localeCompare(b.username) },
          { title: t('users.displayName'), dataIndex: 'display_name', render: (v: string | null) => v || '—' },
          { title: t('users.role'), dataIndex: 'role', render: (r: Role) => <Tag color={r === 'system_admin' ? 'red' : r === 'tenant_admin' ? 'blue' : undefined}>{t(`role.${r}`)}</Tag> },
          ...(global ? [{ title: t('common.tenant'), key: 'tenant', render: (_: unknown, u: User) => (u.tenant_id === null ? '—' : tenants.data?.find((x) => x.id === u.tenant_id)?.name ?? `#${u.tenant_id}`) }] : []),
          { title: t('common.site'), dataIndex: 'site_id', render: (v: number | null) => siteName(sites.data, v) || '—' },
          {
            title: t('users.active'), dataIndex: 'active', render: (v: boolean, u) => (
              <Switch checked={v} disabled={u.id === me.id} loading={patch.isPending && patch.variables?.id === u.id}
                aria-label={t('users.activeFor', { name: u.username })} onChange={(x) => patch.mutate({ id: u.id, active: x })} />
            ),
          },
          { title: t('users.lastLogin'), dataIndex: 'last_login_at_ms', render: (v: number | null) => (v ? dateTime(v) : t('users.never')) },
          {
            title: t('common.actions'), key: 'actions', render: (_, u) => (
              <Space wrap>
                <Button size="small" icon={<EditOutlined />} aria-label={t('common.editNamed', { name: u.username })} onClick={() => { setEditing(u); setOpen(true); }}>{t('common.edit')}</Button>
                <Button size="small" icon={<KeyOutlined />} aria-label={t('users.resetPasswordFor', { name: u.username })} onClick={() => setResetting(u)}>{t('users.resetPassword')}</Button>
                {u.id !== me.id && (
                  <Popconfirm title={t('users.deleteConfirm', { name: u.username })} okText={t('common.delete')} cancelText={t('common.cancel')}
                    okButtonProps={{ danger: true }} onConfirm={() => del.mutateAsync(u.id).catch(() => undefined)}>
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('common.deleteNamed', { name: u.username })}>{t('common.delete')}</Button>
                  </Popconfirm>
                )}
              </Space>
            ),
          },
        ]}
      />
      {open && <UserDialog key={editing?.id ?? 'new'} user={editing} open onClose={() => setOpen(false)} />}
      {resetting && <ResetPasswordDialog key={resetting.id} user={resetting} onClose={() => setResetting(null)} />}
    </>
  );
}
