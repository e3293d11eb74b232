import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Checkbox, Descriptions, Drawer, Form, Input, InputNumber, List, Modal, Popconfirm, Radio, Select, Space, Table, Tag, Typography, Upload } from 'antd';
import { DeleteOutlined, DisconnectOutlined, DownloadOutlined, EditOutlined, MergeCellsOutlined, ProfileOutlined, ScissorOutlined, SearchOutlined, SwapOutlined } from '@ant-design/icons';
import { api, errorMessage, listAll, unwrap, type Schemas } from '../../api';
import { useMe } from '../../auth/AuthProvider';
import { ADMINS, MANAGERS, allowed } from '../../auth/roles';
import { PageHead, QueryError, siteName, useSites } from '../../components/common';
import { useI18n } from '../../i18n';
import { VisitPicture } from '../visits/AuthImage';
import { downloadWithTicket } from '../../api/download';
import { readAsDataUrl } from '../staff/files';

type Customer = Schemas['Customer'];
type Gender = 'male' | 'female';
interface FormValues { name?: string; phone?: string; email?: string; notes?: string; gender: Gender | 'estimate'; age?: number | null }

export function customerLabel(c: Pick<Customer, 'id' | 'name'>, t: ReturnType<typeof useI18n>['t']): string {
  return c.name ? `${c.name} (#${c.id})` : t('customers.anonymous', { id: c.id });
}

function EditDialog({ customer, onClose }: { customer: Customer; onClose: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const save = useMutation({
    mutationFn: (v: FormValues) => unwrap(api.client.PATCH('/v1/customers/{id}', { params: { path: { id: customer.id } }, body: {
      name: v.name?.trim() || null, phone: v.phone?.trim() || null, email: v.email?.trim() || null, notes: v.notes?.trim() || null,
      // null hands gender and age back to the estimate from the pictures.
      gender: v.gender === 'estimate' ? null : v.gender, age: v.age ?? null,
    } })),
    onSuccess: () => { message.success(t('common.saved')); qc.invalidateQueries({ queryKey: ['customers'] }); onClose(); },
  });
  return (
    <Modal open title={t('customers.edit', { name: customerLabel(customer, t) })} okText={t('common.save')} cancelText={t('common.cancel')}
      onOk={() => form.submit()} confirmLoading={save.isPending} onCancel={onClose}>
      {save.error && <Alert type="error" showIcon role="alert" message={errorMessage(save.error)} style={{ marginBottom: 16 }} />}
      <Form form={form} layout="vertical" onFinish={(v) => save.mutate(v)} initialValues={{
        name: customer.name ?? '', phone: customer.phone ?? '', email: customer.email ?? '', notes: customer.notes ?? '',
        gender: customer.gender_source === 'manual' && customer.gender ? customer.gender : 'estimate',
        age: customer.age_source === 'manual' ? customer.age : null,
      }}>
        <Form.Item name="name" label={t('common.name')}><Input /></Form.Item>
        <Form.Item name="phone" label={t('staff.phone')}><Input type="tel" /></Form.Item>
        <Form.Item name="email" label={t('staff.email')} rules={[{ type: 'email', message: t('staff.emailBad') }]}><Input type="email" /></Form.Item>
        <Form.Item name="notes" label={t('customers.notes')}><Input.TextArea rows={2} /></Form.Item>
        <Form.Item name="gender" label={t('staff.gender')}>
          <Radio.Group options={[
            { value: 'estimate', label: t('customers.useEstimate') },
            { value: 'female', label: t('staff.gender.female') },
            { value: 'male', label: t('staff.gender.male') },
          ]} />
        </Form.Item>
        <Form.Item name="age" label={t('customers.age')} extra={t('customers.ageHelp')}>
          <InputNumber min={0} max={120} />
        </Form.Item>
      </Form>
    </Modal>
  );
}

function MergeDialog({ customers, onClose, onMerged }: { customers: Customer[]; onClose: () => void; onMerged: () => void }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  // Keep the customer with the most visits by default.
  const [target, setTarget] = useState(() => [...customers].sort((a, b) => b.visit_count - a.visit_count)[0].id);
  const merge = useMutation({
    mutationFn: () => unwrap(api.client.POST('/v1/customers/merge', { body: { target_id: target, source_ids: customers.filter((c) => c.id !== target).map((c) => c.id) } })),
    onSuccess: () => { message.success(t('customers.merged')); qc.invalidateQueries({ queryKey: ['customers'] }); qc.invalidateQueries({ queryKey: ['visits'] }); onMerged(); },
  });
  return (
    <Modal open title={t('customers.mergeTitle', { n: customers.length })} okText={t('customers.merge')} cancelText={t('common.cancel')}
      okButtonProps={{ danger: true }} onOk={() => merge.mutate()} confirmLoading={merge.isPending} onCancel={onClose}>
      {merge.error && <Alert type="error" showIcon role="alert" message={errorMessage(merge.error)} style={{ marginBottom: 16 }} />}
      <Typography.Paragraph>{t('customers.mergeKeep')}</Typography.Paragraph>
      <Select aria-label={t('customers.mergeTarget')} style={{ width: '100%' }} value={target} onChange={setTarget}
        options={customers.map((c) => ({ value: c.id, label: `${customerLabel(c, t)} · ${t('customers.visitsN', { n: c.visit_count })}` }))} />
      <Alert type="warning" showIcon style={{ marginTop: 16 }} message={t('customers.mergeWarning')} />
    </Modal>
  );
}

/** Moves one visit to another customer (both customers' figures are recomputed by the server). */
function ReassignButton({ visitId, from }: { visitId: number; from: number }) {
  const { t } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [to, setTo] = useState<number | null>(null);
  const move = useMutation({
    mutationFn: () => unwrap(api.client.POST('/v1/visits/{id}/reassign', { params: { path: { id: visitId } }, body: { customer_id: to! } })),
    onSuccess: () => { message.success(t('customers.reassigned', { id: to ?? '' })); qc.invalidateQueries({ queryKey: ['customers'] }); qc.invalidateQueries({ queryKey: ['visits'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  return (
    <Space.Compact size="small">
      <InputNumber<number> size="small" min={1} placeholder={t('customers.customerId')} aria-label={t('customers.reassignTo', { id: visitId })} value={to} onChange={setTo} style={{ width: 110 }} />
      <Button size="small" icon={<SwapOutlined />} disabled={!to || to === from} loading={move.isPending} onClick={() => move.mutate()} aria-label={t('customers.reassignNamed', { id: visitId })}>{t('customers.reassign')}</Button>
    </Space.Compact>
  );
}

function CustomerDrawer({ customer, onClose }: { customer: Customer; onClose: () => void }) {
  const { t, dateTime, num } = useI18n();
  const { message } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const canEdit = allowed(me.role, MANAGERS);
  const isAdmin = allowed(me.role, ADMINS);
  const [splitIds, setSplitIds] = useState<number[]>([]);
  const [faceIds, setFaceIds] = useState<number[]>([]);
  const [exporting, setExporting] = useState(false);
  const split = useMutation({
    mutationFn: () => unwrap(api.client.POST('/v1/customers/{id}/split', { params: { path: { id: customer.id } }, body: { exemplar_ids: faceIds, visit_ids: splitIds } })),
    onSuccess: (c) => {
      message.success(t('customers.splitDone', { id: c.id, f: faceIds.length, v: splitIds.length }));
      setSplitIds([]);
      setFaceIds([]);
      qc.invalidateQueries({ queryKey: ['customers'] });
      qc.invalidateQueries({ queryKey: ['visits'] });
    },
    onError: (e) => message.error(errorMessage(e)),
  });
  const notSame = useMutation({
    mutationFn: (other: number) => unwrap(api.client.POST('/v1/customers/{id}/not-same-person', { params: { path: { id: customer.id } }, body: { other_customer_id: other } })),
    onSuccess: () => { message.success(t('customers.notSameDone')); qc.invalidateQueries({ queryKey: ['customers', 'similar', customer.id] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  async function exportData() {
    setExporting(true);
    try {
      await downloadWithTicket(`/v1/customers/${customer.id}/export`, `footfall-customer-${customer.id}.zip`);
    } catch (e) {
      message.error(errorMessage(e));
    } finally {
      setExporting(false);
    }
  }
  const sites = useSites();
  const visits = useQuery({
    queryKey: ['visits', 'customer', customer.id],
    queryFn: () => unwrap(api.client.GET('/v1/visits', { params: { query: { customer_id: customer.id, limit: 50 } } })),
  });
  const faces = useQuery({
    queryKey: ['customers', 'faces', customer.id],
    queryFn: () => unwrap(api.client.GET('/v1/customers/{id}/faces', { params: { path: { id: customer.id } } })),
  });
  const selectedN = faceIds.length + splitIds.length;
  const similar = useQuery({
    queryKey: ['customers', 'similar', customer.id],
    queryFn: () => unwrap(api.client.GET('/v1/customers/{id}/similar', { params: { path: { id: customer.id }, query: { limit: 5 } } })),
  });
  return (
    <Drawer open size={640} title={customerLabel(customer, t)} onClose={onClose} data-testid="customer-drawer"
      extra={isAdmin && <Button icon={<DownloadOutlined />} loading={exporting} onClick={exportData}>{t('customers.export')}</Button>}>
      <Descriptions column={1} size="small" bordered>
        <Descriptions.Item label={t('customers.visits')}>{num(customer.visit_count)}</Descriptions.Item>
        <Descriptions.Item label={t('customers.firstSeen')}>{dateTime(customer.first_seen_at_ms) || '—'}</Descriptions.Item>
        <Descriptions.Item label={t('customers.lastSeen')}>{dateTime(customer.last_seen_at_ms) || '—'}</Descriptions.Item>
        <Descriptions.Item label={t('staff.gender')}>{genderText(customer, t)}</Descriptions.Item>
        <Descriptions.Item label={t('customers.age')}>{ageText(customer, t)}</Descriptions.Item>
        <Descriptions.Item label={t('staff.contact')}>{[customer.phone, customer.email].filter(Boolean).join(' · ') || '—'}</Descriptions.Item>
        <Descriptions.Item label={t('customers.notes')}>{customer.notes || '—'}</Descriptions.Item>
      </Descriptions>
      {canEdit && (
        <Space wrap style={{ margin: '16px 0 0' }}>
          <Popconfirm title={t('customers.splitConfirm', { f: faceIds.length, v: splitIds.length })} description={t('customers.splitNote')} okText={t('customers.split')} cancelText={t('common.cancel')}
            disabled={selectedN === 0} onConfirm={() => split.mutateAsync().catch(() => undefined)}>
            <Button icon={<ScissorOutlined />} disabled={selectedN === 0} loading={split.isPending}>{t('customers.splitSelected', { n: selectedN })}</Button>
          </Popconfirm>
          <Typography.Text type="secondary">{t('customers.splitHelp')}</Typography.Text>
        </Space>
      )}
      <Typography.Title level={5} style={{ marginTop: 16 }}>{t('customers.faces', { n: faces.data?.items.length ?? customer.exemplar_count ?? 0 })}</Typography.Title>
      {faces.error && <QueryError error={faces.error} />}
      <List grid={{ gutter: 8, column: 4 }} loading={faces.isLoading} dataSource={faces.data?.items ?? []} locale={{ emptyText: t('customers.noFaces') }} data-testid="customer-faces"
        renderItem={(f) => (
          <List.Item data-testid="customer-face" data-face-id={f.id}>
            <Space direction="vertical" size={2} style={{ width: '100%' }}>
              {f.picture_visit_id !== null
                ? <VisitPicture visitId={f.picture_visit_id} alt={f.picture_is_exemplar ? t('customers.faceOf', { id: f.id }) : t('customers.faceVisitPicture', { id: f.picture_visit_id })} size={96} />
                : <div role="img" aria-label={t('customers.faceNoPicture')} style={{ width: 96, height: 96, boxSizing: 'border-box', borderRadius: 6, background: '#f0f0f0', display: 'flex', alignItems: 'center', justifyContent: 'center', textAlign: 'center', fontSize: 11, color: '#888', padding: 4 }}>{t('customers.faceNoPicture')}</div>}
              {f.picture_visit_id !== null && !f.picture_is_exemplar && <Typography.Text type="secondary" style={{ fontSize: 11 }}>{t('customers.faceVisitNote', { id: f.picture_visit_id })}</Typography.Text>}
              {canEdit
                ? <Checkbox checked={faceIds.includes(f.id)} aria-label={t('customers.selectFace', { id: f.id })}
                  onChange={(e) => setFaceIds((ids) => (e.target.checked ? [...ids, f.id] : ids.filter((x) => x !== f.id)))}>#{f.id}</Checkbox>
                : <Typography.Text>#{f.id}</Typography.Text>}
              <Typography.Text type="secondary" style={{ fontSize: 12 }}>{dateTime(f.captured_at_ms ?? f.created_at_ms)}</Typography.Text>
              <Typography.Text type="secondary" style={{ fontSize: 12 }}>{t('customers.faceQuality', { q: num(Math.round(f.quality * 100) / 100) })}</Typography.Text>
            </Space>
          </List.Item>
        )} />
      <Typography.Title level={5} style={{ marginTop: 16 }}>{t('customers.visits')}</Typography.Title>
      {visits.error && <QueryError error={visits.error} />}
      <List loading={visits.isLoading} dataSource={visits.data?.items ?? []} locale={{ emptyText: t('visits.empty') }} data-testid="customer-visits"
        renderItem={(v) => (
          <List.Item data-testid="customer-visit" data-visit-id={v.id}>
            <Space align="start">
              {canEdit && <Checkbox checked={splitIds.includes(v.id)} aria-label={t('customers.selectVisit', { id: v.id })}
                onChange={(e) => setSplitIds((ids) => (e.target.checked ? [...ids, v.id] : ids.filter((x) => x !== v.id)))} />}
              {v.has_picture && <VisitPicture visitId={v.id} alt={t('visits.pictureOf', { id: v.id })} size={56} />}
              <div>
                <div>{siteName(sites.data, v.site_id)}</div>
                <Typography.Text type="secondary">{dateTime(v.first_seen_at_ms, v.timezone)}</Typography.Text>
                {canEdit && <div style={{ marginTop: 4 }}><ReassignButton visitId={v.id} from={customer.id} /></div>}
              </div>
            </Space>
          </List.Item>
        )} />
      <Typography.Title level={5} style={{ marginTop: 16 }}>{t('customers.similar')}</Typography.Title>
      {similar.error && <QueryError error={similar.error} />}
      <List size="small" loading={similar.isLoading} dataSource={similar.data?.items ?? []} locale={{ emptyText: t('customers.noSimilar') }}
        renderItem={(s) => (
          <List.Item data-testid="similar-customer">
            <Space wrap>
              <span>{t('customers.anonymous', { id: s.customer_id ?? 0 })}</span>
              <Typography.Text type="secondary">{t('customers.distance', { d: (s.distance ?? 0).toFixed(3) })}</Typography.Text>
              {s.not_same_person ? <Tag>{t('customers.notSamePerson')}</Tag> : canEdit && (
                <Popconfirm title={t('customers.notSameConfirm', { a: customer.id, b: s.customer_id ?? 0 })} okText={t('customers.notSame')} cancelText={t('common.cancel')}
                  onConfirm={() => notSame.mutateAsync(s.customer_id!).catch(() => undefined)}>
                  <Button size="small" icon={<DisconnectOutlined />} aria-label={t('customers.notSameNamed', { id: s.customer_id ?? 0 })}>{t('customers.notSame')}</Button>
                </Popconfirm>
              )}
            </Space>
          </List.Item>
        )} />
    </Drawer>
  );
}

function genderText(c: Customer, t: ReturnType<typeof useI18n>['t']): string {
  if (!c.gender) return '—';
  const g = t(`staff.gender.${c.gender === 'male' ? 'male' : 'female'}`);
  return c.gender_source === 'manual' ? g : `${g} (${t('customers.estimated')})`;
}

function ageText(c: Customer, t: ReturnType<typeof useI18n>['t']): string {
  if (c.age === null || c.age === undefined) return '—';
  return c.age_source === 'manual' ? String(Math.round(c.age)) : `${Math.round(c.age)} (${t('customers.estimated')})`;
}

interface SearchFace { box?: { x: number; y: number; width: number; height: number }; score?: number; matches?: { customer_id: number; distance: number; match: boolean; visit_count: number; last_seen_at_ms: number; last_visits: { visit_id: number; site_id: number; first_seen_at_ms: number }[] }[] }

/** "Has this person been here?": a photo, and per face the nearest customers. */
function PhotoSearch({ onOpen }: { onOpen: (id: number) => void }) {
  const { t, dateTime, num } = useI18n();
  const sites = useSites();
  const [result, setResult] = useState<{ faces: SearchFace[]; threshold?: number } | null>(null);
  const search = useMutation({
    mutationFn: async (file: File) => unwrap(api.client.POST('/v1/customers/search', { body: { image: await readAsDataUrl(file) } })),
    onSuccess: (r) => setResult({ faces: (r.faces ?? []) as SearchFace[], threshold: r.threshold }),
  });
  return (
    <>
      <Upload accept="image/jpeg,image/png" showUploadList={false} beforeUpload={(f) => { search.mutate(f); return false; }}>
        <Button icon={<SearchOutlined />} loading={search.isPending}>{t('customers.searchPhoto')}</Button>
      </Upload>
      {(result || search.error) && (
        <Modal open title={t('customers.searchTitle')} footer={null} onCancel={() => { setResult(null); search.reset(); }} width={640}>
          {search.error && <Alert type="error" showIcon role="alert" message={errorMessage(search.error)} />}
          {result && result.faces.length === 0 && <Alert type="info" showIcon message={t('customers.searchNoFace')} />}
          {result?.faces.map((f, i) => (
            <div key={i} data-testid="search-face" style={{ marginBottom: 16 }}>
              <Typography.Text strong>{t('customers.searchFace', { n: i + 1 })}</Typography.Text>
              <List size="small" dataSource={f.matches ?? []} locale={{ emptyText: t('customers.searchNone') }}
                renderItem={(m) => (
                  <List.Item data-testid="search-match" actions={[<Button key="open" size="small" onClick={() => { setResult(null); search.reset(); onOpen(m.customer_id); }}>{t('customers.details')}</Button>]}>
                    <Space wrap>
                      <Tag color={m.match ? 'green' : 'default'}>{m.match ? t('customers.searchMatch') : t('customers.searchNear')}</Tag>
                      <span>{t('customers.anonymous', { id: m.customer_id })}</span>
                      <Typography.Text type="secondary">{t('customers.distance', { d: m.distance.toFixed(3) })}</Typography.Text>
                      <Typography.Text type="secondary">{t('customers.visitsN', { n: num(m.visit_count) })}</Typography.Text>
                      {m.last_visits[0] && <Typography.Text type="secondary">{siteName(sites.data, m.last_visits[0].site_id)} · {dateTime(m.last_visits[0].first_seen_at_ms)}</Typography.Text>}
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

export default function CustomersPage() {
  const { t, dateTime, num } = useI18n();
  const { message, modal } = App.useApp();
  const me = useMe();
  const qc = useQueryClient();
  const [selected, setSelected] = useState<number[]>([]);
  const [editing, setEditing] = useState<Customer | null>(null);
  const [viewing, setViewing] = useState<Customer | null>(null);
  const [merging, setMerging] = useState(false);
  const canEdit = allowed(me.role, MANAGERS);
  const isAdmin = allowed(me.role, ADMINS);
  const customers = useQuery({
    queryKey: ['customers'],
    queryFn: () => listAll((cursor) => unwrap(api.client.GET('/v1/customers', { params: { query: { limit: 200, cursor } } }))),
  });
  const erase = useMutation({
    mutationFn: (id: number) => unwrap(api.client.POST('/v1/customers/{id}/erase', { params: { path: { id } } })),
    onSuccess: (r) => {
      qc.invalidateQueries({ queryKey: ['customers'] });
      qc.invalidateQueries({ queryKey: ['visits'] });
      modal.success({
        title: t('customers.erasedTitle', { id: r.customer_id }),
        content: t('customers.erasedReceipt', { d: r.descriptors_removed, p: r.pictures_removed, v: r.visits_anonymised }),
      });
    },
    onError: (e) => message.error(errorMessage(e)),
  });
  const picked = (customers.data ?? []).filter((c) => selected.includes(c.id));
  return (
    <>
      <PageHead title={t('nav.customers')}>
        <Space wrap>
          {canEdit && <PhotoSearch onOpen={(id) => { const c = customers.data?.find((x) => x.id === id); if (c) setViewing(c); }} />}
          {isAdmin && (
            <Button icon={<MergeCellsOutlined />} disabled={picked.length < 2} onClick={() => setMerging(true)}>
              {t('customers.mergeSelected', { n: picked.length })}
            </Button>
          )}
        </Space>
      </PageHead>
      <Typography.Paragraph type="secondary">{t('customers.intro')}</Typography.Paragraph>
      {customers.error && <QueryError error={customers.error} retry={() => customers.refetch()} />}
      <Table<Customer>
        rowKey="id"
        loading={customers.isLoading}
        dataSource={customers.data}
        rowSelection={isAdmin ? { selectedRowKeys: selected, onChange: (keys) => setSelected(keys as number[]), getCheckboxProps: (c) => ({ 'aria-label': t('customers.select', { id: c.id }) }) } : undefined}
        pagination={{ pageSize: 25, hideOnSinglePage: true }}
        locale={{ emptyText: t('customers.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: 'ID', dataIndex: 'id', width: 70, sorter: (a, b) => a.id - b.id },
          { title: t('common.name'), dataIndex: 'name', render: (v: string | null) => v || <Typography.Text type="secondary" style={{ whiteSpace: 'nowrap' }}>{t('customers.noName')}</Typography.Text> },
          { title: t('customers.visits'), dataIndex: 'visit_count', sorter: (a, b) => a.visit_count - b.visit_count, render: (v: number) => num(v) },
          { title: t('staff.gender'), key: 'gender', render: (_, c) => genderText(c, t) },
          { title: t('customers.age'), key: 'age', render: (_, c) => ageText(c, t) },
          { title: t('customers.firstSeen'), dataIndex: 'first_seen_at_ms', render: (v: number | null) => dateTime(v) || '—' },
          { title: t('customers.lastSeen'), dataIndex: 'last_seen_at_ms', defaultSortOrder: 'descend', sorter: (a, b) => (a.last_seen_at_ms ?? 0) - (b.last_seen_at_ms ?? 0), render: (v: number | null) => dateTime(v) || '—' },
          {
            title: t('common.actions'), key: 'actions', render: (_, c) => (
              <Space wrap>
                <Button size="small" icon={<ProfileOutlined />} aria-label={t('customers.open', { id: c.id })} onClick={() => setViewing(c)}>{t('customers.details')}</Button>
                {canEdit && <Button size="small" icon={<EditOutlined />} aria-label={t('common.editNamed', { name: `#${c.id}` })} onClick={() => setEditing(c)}>{t('common.edit')}</Button>}
                {isAdmin && (
                  <Popconfirm title={t('customers.eraseConfirm', { id: c.id })} description={t('customers.eraseNote')} okText={t('customers.erase')} cancelText={t('common.cancel')}
                    okButtonProps={{ danger: true }} onConfirm={() => erase.mutateAsync(c.id).catch(() => undefined)}>
                    <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('customers.eraseNamed', { id: c.id })}>{t('customers.erase')}</Button>
                  </Popconfirm>
                )}
              </Space>
            ),
          },
        ]}
      />
      {editing && <EditDialog key={editing.id} customer={editing} onClose={() => setEditing(null)} />}
      {viewing && <CustomerDrawer key={viewing.id} customer={customers.data?.find((c) => c.id === viewing.id) ?? viewing} onClose={() => setViewing(null)} />}
      {merging && picked.length >= 2 && <MergeDialog customers={picked} onClose={() => setMerging(false)} onMerged={() => { setMerging(false); setSelected([]); }} />}
    </>
  );
}
