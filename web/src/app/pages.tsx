// Every page of the dashboard, in menu order: who may open it and which server
// operations it needs. A page appears only when the server's OpenAPI document
// lists all of its operations, so pages for endpoints still being built are
// added here when they exist and stay hidden on servers without them.
import { lazy, type ComponentType, type LazyExoticComponent, type ReactNode } from 'react';
import {
  ApiOutlined, AuditOutlined, EyeInvisibleOutlined, BarChartOutlined, ClusterOutlined, PlaySquareOutlined, ScheduleOutlined, DashboardOutlined, FieldTimeOutlined, SmileOutlined, EnvironmentOutlined, IdcardOutlined, KeyOutlined, TeamOutlined, VideoCameraOutlined,
} from '@ant-design/icons';
import type { MessageKey } from '../i18n';
import { ADMINS, ANY_USER, SYSTEM, allowed, type Role } from '../auth/roles';
import DashboardPage from '../pages/dashboard/DashboardPage';

export interface PageDef {
  path: string;
  label: MessageKey;
  icon: ReactNode;
  roles: readonly Role[];
  requires: readonly string[];
  /** Only in a system admin's all-tenants view (a switched session is scoped to one tenant). */
  globalOnly?: boolean;
  component: ComponentType | LazyExoticComponent<ComponentType>;
}

export const PAGES: readonly PageDef[] = [
  { path: '/', label: 'nav.dashboard', icon: <DashboardOutlined />, roles: ANY_USER, requires: ['getMe', 'listSites', 'listCameras'], component: DashboardPage },
  { path: '/reports', label: 'nav.reports', icon: <BarChartOutlined />, roles: ANY_USER, requires: ['getReportSummary', 'getReportSeries', 'getReportHeatmap', 'getReportDemographics', 'getReportNewReturning', 'getReportSites', 'listSites'], component: lazy(() => import('../pages/reports/ReportsPage')) },
  { path: '/sites', label: 'nav.sites', icon: <EnvironmentOutlined />, roles: ANY_USER, requires: ['listSites'], component: lazy(() => import('../pages/sites/SitesPage')) },
  { path: '/cameras', label: 'nav.cameras', icon: <VideoCameraOutlined />, roles: ANY_USER, requires: ['listCameras', 'listSites'], component: lazy(() => import('../pages/cameras/CamerasPage')) },
  { path: '/live', label: 'nav.live', icon: <PlaySquareOutlined />, roles: ANY_USER, requires: ['cameraLive', 'getCamera', 'listCameras', 'listSites'], component: lazy(() => import('../pages/live/LivePage')) },
  { path: '/workers', label: 'nav.workers', icon: <ClusterOutlined />, roles: ANY_USER, requires: ['listWorkers', 'getWorker', 'listWorkerCommands', 'listCameras', 'listSites'], component: lazy(() => import('../pages/workers/WorkersPage')) },
  { path: '/visits', label: 'nav.visits', icon: <FieldTimeOutlined />, roles: ANY_USER, requires: ['listVisits', 'getVisitPicture'], component: lazy(() => import('../pages/visits/VisitsPage')) },
  { path: '/customers', label: 'nav.customers', icon: <SmileOutlined />, roles: ANY_USER, requires: ['listCustomers', 'getCustomer', 'listVisits'], component: lazy(() => import('../pages/customers/CustomersPage')) },
  { path: '/staff', label: 'nav.staff', icon: <IdcardOutlined />, roles: ANY_USER, requires: ['listStaff', 'getStaff', 'addStaffFace'], component: lazy(() => import('../pages/staff/StaffPage')) },
  { path: '/users', label: 'nav.users', icon: <TeamOutlined />, roles: ADMINS, requires: ['listUsers'], component: lazy(() => import('../pages/users/UsersPage')) },
  { path: '/api-keys', label: 'nav.apiKeys', icon: <KeyOutlined />, roles: ADMINS, requires: ['listApiKeys'], component: lazy(() => import('../pages/apikeys/ApiKeysPage')) },
  { path: '/do-not-track', label: 'nav.doNotTrack', icon: <EyeInvisibleOutlined />, roles: ADMINS, requires: ['listDoNotTrack'], component: lazy(() => import('../pages/privacy/DoNotTrackPage')) },
  { path: '/jobs', label: 'nav.jobs', icon: <ScheduleOutlined />, roles: ADMINS, requires: ['listJobs'], component: lazy(() => import('../pages/jobs/JobsPage')) },
  { path: '/audit', label: 'nav.audit', icon: <AuditOutlined />, roles: ADMINS, requires: ['listAudit'], component: lazy(() => import('../pages/audit/AuditPage')) },
  { path: '/tenants', label: 'nav.tenants', icon: <ApiOutlined />, roles: SYSTEM, requires: ['listTenants'], globalOnly: true, component: lazy(() => import('../pages/tenants/TenantsPage')) },
];

/** The page may be opened in this session (role, and scope for global-only pages). */
export function permitted(page: PageDef, me: { role: Role; tenant_id: number | null }): boolean {
  return allowed(me.role, page.roles) && !(page.globalOnly && me.tenant_id !== null);
}

export function offered(page: PageDef, caps: ReadonlySet<string> | undefined): boolean {
  // Until the document has loaded, trust the build (it was checked against it).
  return !caps || page.requires.every((op) => caps.has(op));
}
