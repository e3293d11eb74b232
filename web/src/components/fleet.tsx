// Workers and camera placement, shared by the dashboard home, the workers
// page and the cameras page: status tags and the lists behind them.
import { useQuery } from '@tanstack/react-query';
import { Tag, Tooltip } from 'antd';
import { api, listAll, unwrap, type Schemas } from '../api';
import { useI18n, type MessageKey } from '../i18n';

export type Worker = Schemas['Worker'];
export type WorkerStatus = NonNullable<Worker['status']>;

const WORKER_COLOURS: Record<WorkerStatus, string> = {
  online: 'green', processing: 'green', idle: 'cyan', late: 'orange', offline: 'default', error: 'red', maintenance: 'blue',
};

/** Worker statuses that mean "running and heard from". */
export const HEALTHY: readonly WorkerStatus[] = ['online', 'processing', 'idle'];

export function WorkerStatusTag({ status }: { status: WorkerStatus | undefined }) {
  const { t } = useI18n();
  if (!status) return <Tag>—</Tag>;
  return <Tag color={WORKER_COLOURS[status]} data-status={status}>{t(`workers.status.${status}` as MessageKey)}</Tag>;
}

const CAMERA_STATES = ['starting', 'streaming', 'reconnecting', 'stopped', 'error', 'unassigned'] as const;
const CAMERA_COLOURS: Record<string, string> = { streaming: 'green', starting: 'cyan', reconnecting: 'orange', stopped: 'default', error: 'red', unassigned: 'default' };

/** Where a camera runs and what its worker says: "unassigned" when no worker holds it. */
export function cameraState(c: Schemas['Camera']): string {
  const s = c.status;
  if (!s || s.worker_id === null || s.worker_id === undefined) return 'unassigned';
  return s.state ?? 'starting';
}

/** The state as a tag; the reason (e.g. a device conflict) and when the worker reported it in its tooltip. */
export function CameraStateTag({ camera }: { camera: Schemas['Camera'] }) {
  const { t, dateTime } = useI18n();
  const state = cameraState(camera);
  const known = (CAMERA_STATES as readonly string[]).includes(state);
  const at = camera.status?.state_at_ms;
  const tag = <Tag color={CAMERA_COLOURS[state] ?? 'default'} data-state={state} data-state-at={at ?? undefined}>{known ? t(`cameras.state.${state}` as MessageKey) : state}</Tag>;
  const reason = camera.status?.reason;
  const when = at ? t('cameras.stateAt', { time: dateTime(at) }) : null;
  if (!reason && !when) return tag;
  return <Tooltip title={<>{reason && <div>{reason}</div>}{when && <div>{when}</div>}</>}>{tag}</Tooltip>;
}

export function useWorkers(enabled = true) {
  return useQuery({
    queryKey: ['workers'],
    enabled,
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/workers', { params: { query: { limit: 200, cursor } } }))),
  });
}

/** Every camera of the tenant, each with its placement and reported state (`status`) from the one list. */
export function useCameras(enabled = true) {
  return useQuery({
    queryKey: ['cameras', 'all'],
    enabled,
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/cameras', { params: { query: { limit: 200, cursor } } }))),
  });
}
