// Small pieces every page uses: the page heading, a server error, the lists
// of sites and tenants for pickers.
import type { ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Alert, Button, Select, Typography } from 'antd';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../api';
import { useI18n } from '../i18n';

export function PageHead({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="page-head">
      <Typography.Title level={2}>{title}</Typography.Title>
      <div>{children}</div>
    </div>
  );
}

export function QueryError({ error, retry }: { error: unknown; retry?: () => void }) {
  const { t } = useI18n();
  return (
    <Alert type="error" showIcon role="alert" style={{ marginBottom: 16 }} message={t('common.loadFailed')}
      description={errorMessage(error)}
      action={retry && <Button size="small" onClick={retry}>{t('common.retry')}</Button>} />
  );
}

export function useSites() {
  return useQuery({
    queryKey: ['sites'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/sites', { params: { query: { limit: 200, cursor } } }))),
  });
}

export function useTenants(enabled: boolean) {
  return useQuery({
    queryKey: ['tenants'],
    enabled,
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/tenants', { params: { query: { limit: 200, cursor } } }))),
  });
}

export function siteName(sites: Schemas['Site'][] | undefined, id: number | null | undefined): string {
  if (id === null || id === undefined) return '';
  return sites?.find((s) => s.id === id)?.name ?? `#${id}`;
}

export function SiteSelect(props: { value?: number | null; onChange?: (v: number | null) => void; allowClear?: boolean; disabled?: boolean; id?: string }) {
  const sites = useSites();
  const { t } = useI18n();
  return (
    <Select<number | null>
      id={props.id}
      value={props.value ?? undefined}
      onChange={(v) => props.onChange?.(v ?? null)}
      allowClear={props.allowClear}
      disabled={props.disabled}
      loading={sites.isLoading}
      placeholder={t('common.chooseSite')}
      showSearch={{ optionFilterProp: 'label' }}
      options={(sites.data ?? []).map((s) => ({ value: s.id, label: s.name }))}
    />
  );
}

export function TenantSelect(props: { value?: number; onChange?: (v: number) => void; id?: string }) {
  const tenants = useTenants(true);
  const { t } = useI18n();
  return (
    <Select<number>
      id={props.id}
      value={props.value}
      onChange={props.onChange}
      loading={tenants.isLoading}
      placeholder={t('common.chooseTenant')}
      options={(tenants.data ?? []).map((x) => ({ value: x.id, label: x.name }))}
    />
  );
}

/** Tenant name from /v1/me's tenant object. */
export function tenantNameOf(me: Schemas['Me']): string | null {
  const t = me.tenant as { name?: unknown } | null | undefined;
  return t && typeof t.name === 'string' ? t.name : null;
}
