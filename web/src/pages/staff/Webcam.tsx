// Face pictures from the computer's camera: getUserMedia → <video> → a JPEG
// drawn on a canvas, handed to the same upload as a picked file. The camera is
// released when the dialog closes.
import { useEffect, useRef, useState } from 'react';
import { Alert, Button, Modal, Space, Typography } from 'antd';
import { CameraOutlined } from '@ant-design/icons';
import { useI18n, type MessageKey } from '../../i18n';
import { cameraProblem } from './camera';

export function WebcamCapture({ onCapture, busy }: { onCapture: (file: File) => Promise<void> | void; busy: boolean }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const [problem, setProblem] = useState<MessageKey | null>(null);
  const [live, setLive] = useState(false);
  const [taken, setTaken] = useState(0);
  const video = useRef<HTMLVideoElement>(null);
  const stream = useRef<MediaStream | null>(null);

  useEffect(() => {
    if (!open) return;
    let cancelled = false;
    setProblem(null);
    setLive(false);
    const media = navigator.mediaDevices;
    if (!media?.getUserMedia) {
      setProblem(cameraProblem(null, window.isSecureContext, false));
      return;
    }
    media.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' }, audio: false }).then(
      (s) => {
        if (cancelled) { s.getTracks().forEach((tr) => tr.stop()); return; }
        stream.current = s;
        const v = video.current;
        if (v) {
          v.srcObject = s;
          v.play().then(() => setLive(true), () => setLive(true));
        }
      },
      (e) => !cancelled && setProblem(cameraProblem(e, window.isSecureContext, true)),
    );
    return () => {
      cancelled = true;
      stream.current?.getTracks().forEach((tr) => tr.stop());
      stream.current = null;
    };
  }, [open]);

  async function take() {
    const v = video.current;
    if (!v || !v.videoWidth) return;
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    canvas.getContext('2d')!.drawImage(v, 0, 0);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
    if (!blob) { setProblem('staff.webcam.failed'); return; }
    const n = taken + 1;
    setTaken(n);
    await onCapture(new File([blob], `webcam-${n}.jpg`, { type: 'image/jpeg' }));
  }

  return (
    <>
      <Button icon={<CameraOutlined />} onClick={() => setOpen(true)}>{t('staff.webcam.open')}</Button>
      {open && (
        <Modal open title={t('staff.webcam.title')} onCancel={() => setOpen(false)} width={560}
          footer={[
            <Button key="close" onClick={() => setOpen(false)}>{t('common.close')}</Button>,
            <Button key="take" type="primary" icon={<CameraOutlined />} disabled={!live || problem !== null} loading={busy} onClick={take}>{t('staff.webcam.take')}</Button>,
          ]}>
          <Space direction="vertical" style={{ width: '100%' }}>
            {problem && <Alert type="error" showIcon role="alert" message={t(problem)} data-testid="webcam-problem" />}
            {!problem && <Typography.Text type="secondary">{t('staff.webcam.help')}</Typography.Text>}
            <video ref={video} muted playsInline data-testid="webcam-video" aria-label={t('staff.webcam.preview')}
              style={{ width: '100%', borderRadius: 6, background: '#111', display: problem ? 'none' : 'block', aspectRatio: '16 / 9' }} />
          </Space>
        </Modal>
      )}
    </>
  );
}
