import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { App as AntApp, ConfigProvider, Result, Spin } from 'antd';
import enUS from 'antd/locale/en_US';
import viVN from 'antd/locale/vi_VN';
import { ApiError } from '../api';
import { AuthProvider, useAuth } from '../auth/AuthProvider';
import LoginPage from '../auth/LoginPage';
import { I18nProvider, useI18n } from '../i18n';
import { Guard, Shell } from './Shell';
import { PAGES } from './pages';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      refetchOnWindowFocus: false,
      // A refused or missing thing will not appear on a retry.
      retry: (n, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && n < 2,
    },
  },
});

function NotFound() {
  const { t } = useI18n();
  return <Result status="404" title="404" subTitle={t('guard.notFound')} />;
}

function Routed() {
  const auth = useAuth();
  const location = useLocation();
  if (auth.status === 'loading') return <Spin fullscreen />;
  if (auth.status === 'signedOut') {
    if (location.pathname !== '/login') return <Navigate to="/login" replace state={{ from: location.pathname }} />;
    return <LoginPage />;
  }
  if (location.pathname === '/login') {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== '/login' ? from : '/'} replace />;
  }
  return (
    <Routes>
      <Route element={<Shell />}>
        {PAGES.map((p) => (
          <Route key={p.path} path={p.path} element={<Guard page={p} />} />
        ))}
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function Themed() {
  const { lang } = useI18n();
  return (
    <ConfigProvider locale={lang === 'vi' ? viVN : enUS} theme={{ token: { colorPrimary: '#1677ff' } }}>
      <AntApp>
        <AuthProvider>
          <BrowserRouter>
            <Routed />
          </BrowserRouter>
        </AuthProvider>
      </AntApp>
    </ConfigProvider>
  );
}

export default function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <I18nProvider>
        <Themed />
      </I18nProvider>
    </QueryClientProvider>
  );
}
