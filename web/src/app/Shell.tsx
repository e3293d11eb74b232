import { Suspense, useEffect, useState } from 'react';
import { Link, Outlet, useLocation, useNavigate } from 'react-router';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { App, Button, Dropdown, Layout, Menu, Result, Select, Space, Spin, Tag, Typography } from 'antd';
import { DownOutlined, LockOutlined, LogoutOutlined, UserOutlined } from '@ant-design/icons';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../api';
import { useCapabilities } from '../api/capabilities';
import { useMe } from '../auth/AuthProvider';
import { tenantNameOf } from '../components/common';
import { rememberTenants, rememberedTenants } from '../auth/tenantMemory';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { allowed } from '../auth/roles';
import { ChangePasswordDialog } from '../auth/ChangePasswordDialog';
import { useI18n } from '../i18n';
import { LanguageSwitch } from './LanguageSwitch';
import { PAGES, offered, permitted, type PageDef } from './pages';

const ALL = 'all';
function TenantSwitcher() {
  const me = useMe();
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  // Inside a tenant the server lists only that tenant, so the list seen in the
  // all-tenants view is kept (under its own key) for switching between tenants.
  const tenants = useQuery({
    queryKey: ['tenant-switcher', me.tenant_id === null ? 'all' : 'scoped'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/tenants', { params: { query: { limit: 200, cursor } } }))),
  });
  const global = me.tenant_id === null ? tenants.data : undefined;
  useEffect(() => {
    if (global) rememberTenants(global);
  }, [global]);
  const options = global ?? qc.getQueryData<Schemas['Tenant'][]>(['tenant-switcher', 'all']) ?? rememberedTenants() ?? tenants.data ?? [];
  async function change(v: number | typeof ALL) {
    setBusy(true);
    try {
      await api.switchTenant(v === ALL ? null : v);
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'openapi' && !(q.queryKey[0] === 'tenant-switcher' && q.queryKey[1] === 'all') });
      navigate('/');
    } catch (e) {
      message.error(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <Select<number | typeof ALL>
      aria-label={t('tenant.switch')}
      data-testid="tenant-switcher"
      style={{ minWidth: 200 }}
      loading={tenants.isLoading || busy}
      value={me.tenant_id ?? ALL}
      onChange={change}
      options={[
        { value: ALL, label: t('tenant.all') },
        ...options.map((x) => ({ value: x.id, label: x.name })),
        // The current tenant even before the list arrives.
        ...(me.tenant_id !== null && !options.some((x) => x.id === me.tenant_id) ? [{ value: me.tenant_id, label: tenantNameOf(me) ?? String(me.tenant_id) }] : []),
      ]}
    />
  );
}

function UserMenu() {
  const me = useMe();
  const { t } = useI18n();
  const [pwOpen, setPwOpen] = useState(false);
  const qc = useQueryClient();
  async function logout() {
    await api.logout().catch(() => undefined);
    qc.clear();
  }
  return (
    <>
      <Dropdown
        trigger={['click']}
        menu={{
          items: [
            { key: 'pw', icon: <LockOutlined />, label: t('user.changePassword'), onClick: () => setPwOpen(true) },
            { key: 'logout', icon: <LogoutOutlined />, label: t('user.logout'), onClick: logout },
          ],
        }}
      >
        <Button type="text" data-testid="user-menu" icon={<UserOutlined />}>
          <span>{me.display_name || me.username}</span>
          <Tag style={{ marginInlineStart: 8 }}>{t(`role.${me.role}`)}</Tag>
          <DownOutlined />
        </Button>
      </Dropdown>
      <ChangePasswordDialog open={pwOpen} onClose={() => setPwOpen(false)} />
    </>
  );
}

export function Shell() {
  const me = useMe();
  const { t } = useI18n();
  const caps = useCapabilities();
  const location = useLocation();
  if (caps.isLoading) return <Spin fullscreen />;
  const visible = PAGES.filter((p) => permitted(p, me) && offered(p, caps.data));
  const selected = visible.find((p) => p.path !== '/' && location.pathname.startsWith(p.path))?.path ?? '/';
  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Sider breakpoint="lg" collapsible theme="light" width={220}>
        <div className="brand">Footfall</div>
        <Menu
          mode="inline"
          selectedKeys={[selected]}
          aria-label={t('nav.label')}
          items={visible.map((p) => ({ key: p.path, icon: p.icon, label: <Link to={p.path}>{t(p.label)}</Link> }))}
        />
      </Layout.Sider>
      <Layout>
        <Layout.Header className="app-header">
          <Space size="middle" wrap>
            {me.role === 'system_admin' ? (
              <TenantSwitcher />
            ) : (
              tenantNameOf(me) && <Typography.Text strong>{tenantNameOf(me)}</Typography.Text>
            )}
          </Space>
          <Space size="middle">
            <LanguageSwitch />
            <UserMenu />
          </Space>
        </Layout.Header>
        <Layout.Content className="app-content">
          <ErrorBoundary title={t('common.pageFailed')} resetKey={location.pathname}>
            <Suspense fallback={<Spin />}>
              <Outlet />
            </Suspense>
          </ErrorBoundary>
        </Layout.Content>
      </Layout>
    </Layout>
  );
}

/** Route guard: the role may open the page and this server offers it. */
export function Guard({ page }: { page: PageDef }) {
  const me = useMe();
  const { t } = useI18n();
  const caps = useCapabilities();
  if (!permitted(page, me)) {
    if (allowed(me.role, page.roles)) {
      return <Result status="info" title={t('guard.globalOnlyTitle')} subTitle={t('guard.globalOnly')} />;
    }
    return <Result status="403" title={t('guard.forbiddenTitle')} subTitle={t('guard.forbidden')} extra={<Link to="/">{t('nav.dashboard')}</Link>} />;
  }
  if (!offered(page, caps.data)) {
    return <Result status="info" title={t('guard.unavailableTitle')} subTitle={t('guard.unavailable')} />;
  }
  const C = page.component;
  return <C />;
}
