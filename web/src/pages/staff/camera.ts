import type { MessageKey } from '../../i18n/en';

/** Why the camera could not be opened, as a message key (the browser's error names). */
export function cameraProblem(e: unknown, secure: boolean, hasApi: boolean): MessageKey {
  if (!hasApi) return secure ? 'staff.webcam.unsupported' : 'staff.webcam.insecure';
  const name = e && typeof e === 'object' && 'name' in e ? String((e as { name: unknown }).name) : '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') return 'staff.webcam.denied';
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') return 'staff.webcam.none';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'staff.webcam.busy';
  return 'staff.webcam.failed';
}
