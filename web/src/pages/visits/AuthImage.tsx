import { useEffect, useState } from 'react';
import { Skeleton, Typography } from 'antd';
import { PictureOutlined } from '@ant-design/icons';
import { api } from '../../api';
import { useI18n } from '../../i18n';

type Load = () => Promise<{ data?: unknown; response: Response }>;

/** A picture fetched with the session's bearer token and shown from a blob: URL (revoked on unmount);
 *  `picture` names it, so a new name loads again. */
function AuthPicture({ picture, load, alt, size }: { picture: string; load: Load; alt: string; size: number }) {
  const { t } = useI18n();
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let objectUrl: string | null = null;
    let live = true;
    load().then(
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
  }, [picture]);
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

/** A visit's best face crop. */
export function VisitPicture({ visitId, alt, size = 96 }: { visitId: number; alt: string; size?: number }) {
  return <AuthPicture picture={`visit/${visitId}`} alt={alt} size={size}
    load={() => api.client.GET('/v1/visits/{id}/picture', { params: { path: { id: visitId } }, parseAs: 'blob' })} />;
}

/** A staff member's enrolment picture. */
export function StaffFacePicture({ staffId, faceId, alt, size = 64 }: { staffId: number; faceId: number; alt: string; size?: number }) {
  return <AuthPicture picture={`staff/${staffId}/${faceId}`} alt={alt} size={size}
    load={() => api.client.GET('/v1/staff/{id}/faces/{face_id}/picture', { params: { path: { id: staffId, face_id: faceId } }, parseAs: 'blob' })} />;
}
