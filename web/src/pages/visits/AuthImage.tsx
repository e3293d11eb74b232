import { useEffect, useState } from 'react';
import { Skeleton, Typography } from 'antd';
import { PictureOutlined } from '@ant-design/icons';
import { api } from '../../api';
import { useI18n } from '../../i18n';

/** A picture fetched with the session's bearer token and shown from a blob: URL (revoked on unmount). */
export function VisitPicture({ visitId, alt, size = 96 }: { visitId: number; alt: string; size?: number }) {
  const { t } = useI18n();
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let objectUrl: string | null = null;
    let live = true;
    api.client.GET('/v1/visits/{id}/picture', { params: { path: { id: visitId } }, parseAs: 'blob' }).then(
      ({ data, response }) => {
        if (!live) return;
        if (response.ok && data) {
          objectUrl = URL.createObjectURL(data as Blob);
          setUrl(objectUrl);
        } else setFailed(true);
      },
      () => live && setFailed(true),
    );
    return () => {
      live = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [visitId]);
  const box = { width: size, height: size, borderRadius: 6, objectFit: 'cover' as const, background: '#f0f0f0' };
  if (failed) {
    return (
      <div style={{ ...box, display: 'flex', alignItems: 'center', justifyContent: 'center', flexDirection: 'column' }} role="img" aria-label={t('visits.noPicture')}>
        <PictureOutlined style={{ fontSize: 20, color: '#bbb' }} />
        <Typography.Text type="secondary" style={{ fontSize: 11 }}>{t('visits.noPicture')}</Typography.Text>
      </div>
    );
  }
  if (!url) return <Skeleton.Image active style={box} />;
  return <img src={url} alt={alt} style={box} />;
}
