// Live view: a grid of 1, 4, 9 or 16 cameras, each an <img> on the server's
// MJPEG stream. An <img> cannot send a header, so each stream gets its own
// single-use stream ticket (a fresh one for every (re)connection and for the
// overlay switch); no token is ever put in the URL.
import { useEffect, useState } from 'react';
import { Button, Card, Empty, Pagination, Segmented, Select, Space, Switch, Typography } from 'antd';
import { ReloadOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { PageHead, QueryError, siteName, useSites } from '../../components/common';
import { useCameras } from '../../components/fleet';
import { useI18n } from '../../i18n';

const LAYOUTS = [1, 4, 9, 16] as const;
type Layout = (typeof LAYOUTS)[number];

function LiveTile({ camera, overlay, site }: { camera: Schemas['Camera']; overlay: boolean; site: string }) {
  const { t } = useI18n();
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [playing, setPlaying] = useState(false);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    setSrc(null);
    setError(null);
    setPlaying(false);
    const path = `/v1/cameras/${camera.id}/live.mjpeg`;
    unwrap(api.client.POST('/v1/stream-tickets', { body: { path } })).then(
      (tk) => live && setSrc(`${path}?ticket=${encodeURIComponent(tk.ticket)}${overlay ? '&overlay=1' : ''}`),
      (e) => live && setError(errorMessage(e)),
    );
    return () => { live = false; };
  }, [camera.id, overlay, attempt]);
  return (
    <Card size="small" title={<span>{camera.name} <Typography.Text type="secondary">{site}</Typography.Text></span>} data-testid="live-tile" data-camera-id={camera.id}
      extra={<Button size="small" type="text" icon={<ReloadOutlined />} aria-label={t('live.reconnect', { name: camera.name })} onClick={() => setAttempt((n) => n + 1)} />}
      styles={{ body: { padding: 0, background: '#111', aspectRatio: '16 / 9', display: 'flex', alignItems: 'center', justifyContent: 'center' } }}>
      {error ? (
        <Space orientation="vertical" align="center" style={{ padding: 16 }} data-testid="live-error">
          <Typography.Text style={{ color: '#ddd' }}>{error}</Typography.Text>
          <Button size="small" onClick={() => setAttempt((n) => n + 1)}>{t('common.retry')}</Button>
        </Space>
      ) : src ? (
        <img key={src} src={src} alt={t('live.of', { name: camera.name })} data-playing={playing ? '1' : '0'}
          style={{ maxWidth: '100%', maxHeight: '100%', objectFit: 'contain' }}
          onLoad={() => setPlaying(true)} onError={() => setError(t('live.unavailable'))} />
      ) : (
        <Typography.Text style={{ color: '#888' }}>{t('live.connecting')}</Typography.Text>
      )}
    </Card>
  );
}

export default function LivePage() {
  const { t } = useI18n();
  const sites = useSites();
  const cameras = useCameras();
  const [layout, setLayout] = useState<Layout>(4);
  const [overlay, setOverlay] = useState(false);
  const [siteId, setSiteId] = useState<number | null>(null);
  const [page, setPage] = useState(1);
  const list = (cameras.data ?? []).filter((c) => c.enabled && (siteId === null || c.site_id === siteId));
  const shown = list.slice((page - 1) * layout, page * layout);
  const cols = Math.sqrt(layout);
  return (
    <>
      <PageHead title={t('nav.live')}>
        <Space wrap>
          <Select<number | 'all'> aria-label={t('common.site')} style={{ minWidth: 180 }} value={siteId ?? 'all'} loading={sites.isLoading}
            onChange={(v) => { setSiteId(v === 'all' ? null : v); setPage(1); }}
            options={[{ value: 'all', label: t('cameras.allSites') }, ...(sites.data ?? []).map((s) => ({ value: s.id, label: s.name }))]} />
          <Segmented<Layout> aria-label={t('live.layout')} value={layout} onChange={(v) => { setLayout(v); setPage(1); }}
            options={LAYOUTS.map((n) => ({ value: n, label: String(n) }))} />
          <Space size={4}>
            <Switch checked={overlay} onChange={setOverlay} aria-label={t('live.overlay')} />
            <Typography.Text>{t('live.overlay')}</Typography.Text>
          </Space>
        </Space>
      </PageHead>
      {cameras.error && <QueryError error={cameras.error} retry={() => cameras.refetch()} />}
      {cameras.data && list.length === 0 ? (
        <Empty description={t('live.noCameras')} />
      ) : (
        <div data-testid="live-grid" data-layout={layout} style={{ display: 'grid', gridTemplateColumns: `repeat(${cols}, minmax(0, 1fr))`, gap: 12 }}>
          {shown.map((c) => <LiveTile key={c.id} camera={c} overlay={overlay} site={siteName(sites.data, c.site_id)} />)}
        </div>
      )}
      {list.length > layout && (
        <Pagination style={{ marginTop: 16 }} current={page} pageSize={layout} total={list.length} onChange={setPage} showSizeChanger={false} />
      )}
      <Typography.Paragraph type="secondary" style={{ marginTop: 16 }}>{t('live.note')}</Typography.Paragraph>
    </>
  );
}
