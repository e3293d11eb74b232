// Workers and camera placement, shared by the dashboard home, the workers
// page and the cameras page: status tags and the lists behind them.
import { useQueries, useQuery } from '@tanstack/react-query';
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

export function CameraStateTag({ camera }: { camera: Schemas['Camera'] }) {
  const { t } = useI18n();
  const state = cameraState(camera);
  const known = (CAMERA_STATES as readonly string[]).includes(state);
  const tag = <Tag color={CAMERA_COLOURS[state] ?? 'default'} data-state={state}>{known ? t(`cameras.state.${state}` as MessageKey) : state}</Tag>;
  const reason = camera.status?.reason;
  return reason ? <Tooltip title={reason}>{tag}</Tooltip> : tag;
}

export function useWorkers(enabled = true) {
  return useQuery({
    queryKey: ['workers'],
    enabled,
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/workers', { params: { query: { limit: 200, cursor } } }))),
  });
}

export function useCameras(enabled = true) {
  return useQuery({
    queryKey: ['cameras', 'all'],
    enabled,
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/cameras', { params: { query: { limit: 200, cursor } } }))),
  });
}

/** At most this many cameras or workers are read one by one for their placement. */
export const DETAIL_LIMIT = 100;

/**
 * Each camera with its placement and state. GET /v1/cameras does not carry
 * `status` (only GET /v1/cameras/{id} does), so it is read per camera.
 */
export function useCameraStatuses(cameras: Schemas['Camera'][] | undefined) {
  const list = (cameras ?? []).slice(0, DETAIL_LIMIT);
  const qs = useQueries({
    queries: list.map((c) => ({
      queryKey: ['cameras', 'status', c.id],
      queryFn: () => unwrap(api.client.GET('/v1/cameras/{id}', { params: { path: { id: c.id } } })),
    })),
  });
  const byId = new Map<number, Schemas['Camera']>();
  qs.forEach((q, i) => { if (q.data) byId.set(list[i].id, q.data); });
  return (cameras ?? []).map((c) => byId.get(c.id) ?? c);
}
