// The do-not-track list: people who objected to being counted. A photo of
// the person (exactly one face) is enrolled; from then on the workers' events
// of that face are refused and nothing about them is stored. The server says
// which customers already recorded look like the person, to erase them.
import { useState } from 'react';
import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Form, Input, List, Modal, Popconfirm, Table, Typography, Upload } from 'antd';
import { DeleteOutlined, PlusOutlined, UploadOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { PageHead, QueryError } from '../../components/common';
import { useI18n } from '../../i18n';
import { readAsDataUrl } from '../staff/files';

type Entry = Schemas['DoNotTrackEntry'];

function EnrolDialog({ onClose }: { onClose: () => void }) {
  const { t, num } = useI18n();
  const qc = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [note, setNote] = useState('');
  const enrol = useMutation({
    mutationFn: async () => unwrap(api.client.POST('/v1/do-not-track', { params: { query: { note: note.trim() || undefined } }, body: { image: await readAsDataUrl(file!) } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['do-not-track'] }),
  });
  const done = enrol.data;
  return (
    <Modal open title={t('dnt.add')} onCancel={onClose} cancelText={done ? t('dnt.close') : t('common.cancel')}
      okText={t('dnt.enrol')} okButtonProps={{ disabled: !file || !!done, loading: enrol.isPending }} onOk={() => enrol.mutate()}>
      <Typography.Paragraph type="secondary">{t('dnt.help')}</Typography.Paragraph>
      <Form layout="vertical">
        <Form.Item label={t('dnt.photo')}>
          <Upload accept="image/jpeg,image/png" maxCount={1} beforeUpload={(f) => { setFile(f); enrol.reset(); return false; }} onRemove={() => setFile(null)}>
            <Button icon={<UploadOutlined />}>{t('dnt.choosePhoto')}</Button>
          </Upload>
        </Form.Item>
        <Form.Item label={t('dnt.note')} extra={t('dnt.noteHelp')} htmlFor="dnt-note">
          <Input id="dnt-note" value={note} maxLength={200} onChange={(e) => setNote(e.target.value)} />
        </Form.Item>
      </Form>
      {enrol.error && <Alert type="error" showIcon role="alert" message={errorMessage(enrol.error)} />}
      {done && (
        <Alert type="success" showIcon message={t('dnt.enrolled')} description={
          done.matching_customers?.length ? (
            <>
              <div>{t('dnt.matches')}</div>
              <List size="small" dataSource={done.matching_customers} renderItem={(m) => (
                <List.Item>{t('customers.anonymous', { id: m.customer_id ?? 0 })} · {t('customers.distance', { d: num(Math.round((m.distance ?? 0) * 1000) / 1000) })}</List.Item>
              )} />
            </>
          ) : t('dnt.noMatches')
        } />
      )}
    </Modal>
  );
}

export default function DoNotTrackPage() {
  const { t, dateTime } = useI18n();
  const { message } = App.useApp();
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const q = useInfiniteQuery({
    queryKey: ['do-not-track'],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => unwrap(api.client.GET('/v1/do-not-track', { params: { query: { limit: 50, cursor: pageParam } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const remove = useMutation({
    mutationFn: (id: number) => unwrap(api.client.DELETE('/v1/do-not-track/{id}', { params: { path: { id } } })),
    onSuccess: () => { message.success(t('dnt.removed')); qc.invalidateQueries({ queryKey: ['do-not-track'] }); },
    onError: (e) => message.error(errorMessage(e)),
  });
  const rows = q.data?.pages.flatMap((p) => p.items ?? []) ?? [];
  return (
    <>
      <PageHead title={t('nav.doNotTrack')}>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => setOpen(true)}>{t('dnt.add')}</Button>
      </PageHead>
      <Typography.Paragraph type="secondary">{t('dnt.intro')}</Typography.Paragraph>
      {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
      <Table<Entry>
        rowKey="id" loading={q.isLoading} dataSource={rows} pagination={false} locale={{ emptyText: t('dnt.empty') }} scroll={{ x: true }}
        columns={[
          { title: 'ID', dataIndex: 'id', width: 70 },
          { title: t('dnt.note'), dataIndex: 'note', render: (v: string | null) => v || '—' },
          { title: t('common.created'), dataIndex: 'created_at_ms', render: (v: number) => dateTime(v) },
          { title: t('dnt.model'), dataIndex: 'model' },
          {
            title: t('common.actions'), key: 'actions', render: (_, e) => (
              <Popconfirm title={t('dnt.removeConfirm', { id: e.id })} description={t('dnt.removeNote')} okText={t('dnt.remove')} cancelText={t('common.cancel')}
                okButtonProps={{ danger: true }} onConfirm={() => remove.mutateAsync(e.id).catch(() => undefined)}>
                <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('dnt.removeNamed', { id: e.id })}>{t('dnt.remove')}</Button>
              </Popconfirm>
            ),
          },
        ]}
      />
      {q.hasNextPage && <Button style={{ marginTop: 8 }} loading={q.isFetchingNextPage} onClick={() => q.fetchNextPage()}>{t('audit.loadMore')}</Button>}
      {open && <EnrolDialog onClose={() => setOpen(false)} />}
    </>
  );
}
