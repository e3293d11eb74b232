import { useRef, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Drawer, Form, Input, InputNumber, List, Modal, Popconfirm, Progress, Select, Space, Switch, Table, Tag, Typography, Upload } from 'antd';
import { DeleteOutlined, EditOutlined, ExperimentOutlined, PictureOutlined, PlusOutlined, UploadOutlined } from '@ant-design/icons';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { MANAGERS, allowed } from '../../auth/roles';
import { PageHead, QueryError, SiteSelect, TenantSelect, siteName, useSites } from '../../components/common';
import { useI18n } from '../../i18n';
import { readAsDataUrl } from './files';
import { WebcamCapture } from './Webcam';
import { StaffFacePicture } from '../visits/AuthImage';

type Staff = Schemas['Staff'];
type Gender = 'male' | 'female';
interface FormValues { name: string; home_site_id?: number | null; gender?: Gender | 'unknown'; birth_year?: number | null; phone?: string; email?: string; active: boolean; tenant_id?: number }

/** A staff member is recognised once two or more face pictures are enrolled. */
const READY_AT = 2;

function StaffDialog({ staff, onClose }: { staff: Staff | null; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const needsTenant = !staff && me.role === 'system_admin' && me.tenant_id === null;
  const save = useMutation({
    mutationFn: (v: FormValues) => {
      const body = {
        name: v.name.trim(), home_site_id: v.home_site_id ?? null, gender: v.gender === 'male' || v.gender === 'female' ? v.gender : null,
        birth_year: v.birth_year ?? null, phone: v.phone?.trim() || null, email: v.email?.trim() || null, active: v.active,
      };
      if (staff) return unwrap(api.client.PATCH('/v1/staff/{id}', { params: { path: { id: staff.id } }, body }));
      return unwrap(api.client.POST('/v1/staff', { body: needsTenant ? { ...body, tenant_id: v.tenant_id } : body }));
    },
    onSuccess: () => { message.success(t('common.saved')); qc.invalidateQueries({ queryKey: ['staff'] }); onClose(); },
  });
  return (
    <Modal open title={staff ? t('staff.edit') : t('staff.add')} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" onFinish={(v) => save.mutate(v)}
        initialValues={staff
          ? { name: staff.name, home_site_id: staff.home_site_id, gender: staff.gender ?? 'unknown', birth_year: staff.birth_year, phone: staff.phone ?? '', email: staff.email ?? '', active: staff.active }
          : { gender: 'unknown', active: true }}>
        {needsTenant && (
          <Form.Item name="tenant_id" label={t('common.tenant')} rules={[{ required: true, message: t('form.required') }]}>
            <TenantSelect />
          </Form.Item>
        )}
        <Form.Item name="name" label={t('staff.fullName')} rules={[{ required: true, whitespace: true, message: t('form.required') }, { max: 128 }]}>
          <Input />
        </Form.Item>
        <Form.Item name="home_site_id" label={t('staff.homeSite')}>
          <SiteSelect allowClear />
        </Form.Item>
        <Space size="large" wrap>
          <Form.Item name="gender" label={t('staff.gender')}>
            <Select style={{ width: 160 }} options={[
              { value: 'unknown', label: t('staff.gender.unknown') },
              { value: 'female', label: t('staff.gender.female') },
              { value: 'male', label: t('staff.gender.male') },
            ]} />
          </Form.Item>
          <Form.Item name="birth_year" label={t('staff.birthYear')}>
            <InputNumber min={1900} max={2100} />
          </Form.Item>
        </Space>
        <Form.Item name="phone" label={t('staff.phone')} rules={[{ max: 32 }]}>
          <Input type="tel" />
        </Form.Item>
        <Form.Item name="email" label={t('staff.email')} rules={[{ type: 'email', message: t('staff.emailBad') }, { max: 254 }]}>
          <Input type="email" />
        </Form.Item>
        <Form.Item name="active" label={t('users.active')} valuePropName="checked">
          <Switch />
        </Form.Item>
      </Form>
    </Modal>
  );
}

interface UploadResult { file: string; ok: boolean; text: string }

/** The staff member's enrolled faces; uploads one picture after another, each with its own result. */
function FacesDrawer({ staffId, onClose }: { staffId: number; onClose: () => void }) {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [results, setResults] = useState<UploadResult[]>([]);
  const canManage = allowed(me.role, MANAGERS);
  const staff = useQuery({
    queryKey: ['staff', staffId],
    queryFn: () => unwrap(api.client.GET('/v1/staff/{id}', { params: { path: { id: staffId } } })),
  });
  const removeFace = useMutation({
    mutationFn: (faceId: number) => unwrap(api.client.DELETE('/v1/staff/{id}/faces/{face_id}', { params: { path: { id: staffId, face_id: faceId } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['staff'] }),
    onError: (e) => message.error(errorMessage(e)),
  });

  async function upload(files: File[]) {
    setResults([]);
    setProgress({ done: 0, total: files.length });
    const out: UploadResult[] = [];
    for (const [i, f] of files.entries()) {
      try {
        const image = await readAsDataUrl(f);
        const r = await unwrap(api.client.POST('/v1/staff/{id}/faces', { params: { path: { id: staffId } }, body: { image } }));
        out.push({ file: f.name, ok: true, text: t('staff.enrolled', { quality: num(Math.round((r.quality ?? 0) * 100)) }) });
      } catch (e) {
        out.push({ file: f.name, ok: false, text: errorMessage(e) });
      }
      setResults([...out]);
      setProgress({ done: i + 1, total: files.length });
    }
    setProgress(null);
    qc.invalidateQueries({ queryKey: ['staff'] });
  }

  const s = staff.data;
  return (
    <Drawer open width={520} title={s ? t('staff.facesOf', { name: s.name }) : t('staff.faces')} onClose={onClose}>
      {staff.error && <QueryError error={staff.error} retry={() => staff.refetch()} />}
      {s && (
        <Space direction="vertical" style={{ width: '100%' }} size="middle">
          <div data-testid="staff-readiness">
            {s.ready ? <Tag color="green">{t('staff.ready')}</Tag> : <Tag color="orange">{t('staff.notReady', { n: READY_AT - s.face_count })}</Tag>}
            <Typography.Text type="secondary">{t('staff.readyHelp')}</Typography.Text>
          </div>
          {canManage && (
            <>
              <input ref={input} type="file" accept="image/jpeg,image/png" multiple hidden aria-label={t('staff.uploadFaces')}
                onChange={(e) => { const fs = [...(e.target.files ?? [])]; e.target.value = ''; if (fs.length) upload(fs); }} />
              <Space wrap>
                <Button icon={<UploadOutlined />} loading={progress !== null} onClick={() => input.current?.click()}>{t('staff.uploadFaces')}</Button>
                <WebcamCapture busy={progress !== null} onCapture={(f) => upload([f])} />
              </Space>
              <Typography.Text type="secondary">{t('staff.uploadHelp')}</Typography.Text>
            </>
          )}
          {progress && <Progress percent={Math.round((progress.done / progress.total) * 100)} format={() => `${progress.done}/${progress.total}`} />}
          {results.length > 0 && (
            <List size="small" bordered dataSource={results} data-testid="upload-results"
              renderItem={(r) => <List.Item><Typography.Text type={r.ok ? 'success' : 'danger'}>{r.file}: {r.text}</Typography.Text></List.Item>} />
          )}
          <Table rowKey="id" size="small" pagination={false} dataSource={s.faces ?? []} locale={{ emptyText: t('staff.noFaces') }}
            columns={[
              {
                title: t('staff.facePicture'), key: 'picture', render: (_: unknown, f: { id?: number; has_picture?: boolean }) => (
                  f.has_picture && f.id ? <StaffFacePicture staffId={staffId} faceId={f.id} alt={t('staff.facePictureOf', { name: s.name })} /> : '—'
                ),
              },
              { title: t('staff.faceQuality'), dataIndex: 'quality', render: (q?: number) => (q === undefined ? '—' : `${num(Math.round(q * 100))}%`) },
              { title: t('common.created'), dataIndex: 'created_at_ms', render: (v?: number) => dateTime(v) },
              ...(canManage ? [{
                title: t('common.actions'), key: 'a', render: (_: unknown, f: { id?: number }) => (
                  <Popconfirm title={t('staff.removeFaceConfirm')} okText={t('common.delete')} cancelText={t('common.cancel')} okButtonProps={{ danger: true }}
                    onConfirm={() => removeFace.mutateAsync(f.id!).catch(() => undefined)}>
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('staff.removeFace')}>{t('common.delete')}</Button>
                  </Popconfirm>
                ),
              }] : []),
            ]} />
        </Space>
      )}
    </Drawer>
  );
}

type Recognition = { threshold: number; faces: { score?: number; quality?: number; matches?: { staff_id?: number; name?: string | null; distance?: number; match?: boolean }[] }[] };

/** Recognition test: a photo, and for every face in it the nearest staff members (a match under the threshold). */
function RecognitionTest() {
  const { t, num } = useI18n();
  const [result, setResult] = useState<Recognition | null>(null);
  const test = useMutation({
    mutationFn: async (file: File) => unwrap(api.client.POST('/v1/staff/recognize', { body: { image: await readAsDataUrl(file) } })) as Promise<Recognition>,
    onSuccess: setResult,
  });
  const close = () => { setResult(null); test.reset(); };
  return (
    <>
      <Upload accept="image/jpeg,image/png" showUploadList={false} beforeUpload={(f) => { test.mutate(f); return false; }}>
        <Button icon={<ExperimentOutlined />} loading={test.isPending}>{t('staff.recognitionTest')}</Button>
      </Upload>
      {(result || test.error) && (
        <Modal open title={t('staff.recognitionTest')} footer={null} onCancel={close} width={560}>
          {test.error && <Alert type="error" showIcon role="alert" message={errorMessage(test.error)} />}
          {result?.faces.map((f, i) => (
            <div key={i} data-testid="recognized-face" style={{ marginBottom: 12 }}>
              <Typography.Text strong>{t('customers.searchFace', { n: i + 1 })}</Typography.Text>
              <List size="small" dataSource={f.matches ?? []} locale={{ emptyText: t('staff.noMatch') }}
                renderItem={(m) => (
                  <List.Item>
                    <Space wrap>
                      <Tag color={m.match ? 'green' : 'default'}>{m.match ? t('staff.isMatch') : t('customers.searchNear')}</Tag>
                      <span>{m.name ?? `#${m.staff_id}`}</span>
                      <Typography.Text type="secondary">{t('customers.distance', { d: num(Math.round((m.distance ?? 0) * 1000) / 1000) })}</Typography.Text>
                    </Space>
                  </List.Item>
                )} />
            </div>
          ))}
        </Modal>
      )}
    </>
  );
}

export default function StaffPage() {
  const { t, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const sites = useSites();
  const canManage = allowed(me.role, MANAGERS);
  const [editing, setEditing] = useState<Staff | null>(null);
  const [open, setOpen] = useState(false);
  const [faces, setFaces] = useState<number | null>(null);
  const staff = useQuery({
    queryKey: ['staff'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/staff', { params: { query: { limit: 200, cursor } } }))),
  });
  const patch = useMutation({
    mutationFn: (v: { id: number; active: boolean }) => unwrap(api.client.PATCH('/v1/staff/{id}', { params: { path: { id: v.id } }, body: { active: v.active } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['staff'] }),
    onError: (e) => message.error(errorMessage(e)),
  });
  const del = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/staff/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('common.deleted')); qc.invalidateQueries({ queryKey: ['staff'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  return (
    <>
      <PageHead title={t('nav.staff')}>
        {canManage && (
          <Space wrap>
            <RecognitionTest />
            <Button type="primary" icon={<PlusOutlined />} onClick={() => { setEditing(null); setOpen(true); }}>{t('staff.add')}</Button>
          </Space>
        )}
      </PageHead>
      {staff.error && <QueryError error={staff.error} retry={() => staff.refetch()} />}
      <Table<Staff>
        rowKey="id"
        loading={staff.isLoading}
        dataSource={staff.data}
        pagination={{ pageSize: 20, hideOnSinglePage: true }}
        locale={{ emptyText: t('staff.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: t('common.name'), dataIndex: 'name', sorter: (a, b) => a.name.localeCompare(b.name) },
          { title: t('staff.homeSite'), dataIndex: 'home_site_id', render: (v: number | null) => siteName(sites.data, v) || '—' },
          { title: t('staff.gender'), dataIndex: 'gender', render: (g: Gender | null) => t(`staff.gender.${g ?? 'unknown'}`) },
          { title: t('staff.birthYear'), dataIndex: 'birth_year', render: (v: number | null) => v ?? '—' },
          { title: t('staff.contact'), key: 'contact', render: (_, s) => [s.phone, s.email].filter(Boolean).join(' · ') || '—' },
          {
            title: t('staff.faces'), key: 'faces', render: (_, s) => (
              <Space>
                <span>{num(s.face_count)}</span>
                {s.ready ? <Tag color="green">{t('staff.ready')}</Tag> : <Tag color="orange">{t('staff.notReady', { n: READY_AT - s.face_count })}</Tag>}
              </Space>
            ),
          },
          {
            title: t('users.active'), dataIndex: 'active', render: (v: boolean, s) => (
              <Switch checked={v} disabled={!canManage} loading={patch.isPending && patch.variables?.id === s.id}
                aria-label={t('users.activeFor', { name: s.name })} onChange={(a) => patch.mutate({ id: s.id, active: a })} />
            ),
          },
          {
            title: t('common.actions'), key: 'actions', render: (_, s) => (
              <Space wrap>
                <Button size="small" icon={<PictureOutlined />} aria-label={t('staff.facesOf', { name: s.name })} onClick={() => setFaces(s.id)}>{t('staff.faces')}</Button>
                {canManage && <Button size="small" icon={<EditOutlined />} aria-label={t('common.editNamed', { name: s.name })} onClick={() => { setEditing(s); setOpen(true); }}>{t('common.edit')}</Button>}
                {canManage && (
                  <Popconfirm title={t('staff.deleteConfirm', { name: s.name })} okText={t('common.delete')} cancelText={t('common.cancel')}
                    okButtonProps={{ danger: true }} onConfirm={() => del.mutateAsync(s.id).catch(() => undefined)}>
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('common.deleteNamed', { name: s.name })}>{t('common.delete')}</Button>
                  </Popconfirm>
                )}
              </Space>
            ),
          },
        ]}
      />
      {open && <StaffDialog key={editing?.id ?? 'new'} staff={editing} onClose={() => setOpen(false)} />}
      {faces !== null && <FacesDrawer key={faces} staffId={faces} onClose={() => setFaces(null)} />}
    </>
  );
}
