// Only what the server can answer today: the session, and counts of sites and
// cameras. Visit figures appear when the server offers visits and reports.
import { useQuery } from '@tanstack/react-query';
import { Card, Col, Descriptions, Row, Skeleton, Statistic } from 'antd';
import { api, listAll, unwrap } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { PageHead, QueryError, siteName, tenantNameOf, useSites } from '../../components/common';
import { useI18n } from '../../i18n';

export default function DashboardPage() {
  const me = useMe();
  const { t, num } = useI18n();
  const sites = useSites();
  const cameras = useQuery({
    queryKey: ['cameras', 'all'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/cameras', { params: { query: { limit: 200, cursor } } }))),
  });
  const cams = cameras.data ?? [];
  return (
    <>
      <PageHead title={t('nav.dashboard')} />
      {sites.error && <QueryError error={sites.error} retry={() => sites.refetch()} />}
      {cameras.error && <QueryError error={cameras.error} retry={() => cameras.refetch()} />}
      <Row gutter={[16, 16]}>
        <Col xs={24} sm={12} lg={6}>
          <Card data-testid="stat-sites">
            {sites.isLoading ? <Skeleton active paragraph={false} /> : <Statistic title={t('dash.sites')} value={sites.data ? num(sites.data.length) : '—'} />}
          </Card>
        </Col>
        <Col xs={24} sm={12} lg={6}>
          <Card data-testid="stat-cameras">
            {cameras.isLoading ? <Skeleton active paragraph={false} /> : <Statistic title={t('dash.cameras')} value={cameras.data ? num(cams.length) : '—'} />}
          </Card>
        </Col>
        <Col xs={24} sm={12} lg={6}>
          <Card data-testid="stat-enabled">
            {cameras.isLoading ? <Skeleton active paragraph={false} /> : <Statistic title={t('dash.camerasEnabled')} value={cameras.data ? num(cams.filter((c) => c.enabled).length) : '—'} />}
          </Card>
        </Col>
        <Col xs={24} sm={12} lg={6}>
          <Card data-testid="stat-processing">
            {cameras.isLoading ? <Skeleton active paragraph={false} /> : <Statistic title={t('dash.camerasProcessing')} value={cameras.data ? num(cams.filter((c) => c.enabled && c.processing).length) : '—'} />}
          </Card>
        </Col>
        <Col xs={24}>
          <Card title={t('dash.session')}>
            <Descriptions column={{ xs: 1, md: 2 }} size="small">
              <Descriptions.Item label={t('login.username')}>{me.username}</Descriptions.Item>
              <Descriptions.Item label={t('users.displayName')}>{me.display_name || '—'}</Descriptions.Item>
              <Descriptions.Item label={t('users.role')}>{t(`role.${me.role}`)}</Descriptions.Item>
              <Descriptions.Item label={t('common.tenant')}>{tenantNameOf(me) ?? (me.role === 'system_admin' ? t('tenant.all') : '—')}</Descriptions.Item>
              {me.site_id !== null && <Descriptions.Item label={t('common.site')}>{siteName(sites.data, me.site_id)}</Descriptions.Item>}
            </Descriptions>
          </Card>
        </Col>
      </Row>
    </>
  );
}
