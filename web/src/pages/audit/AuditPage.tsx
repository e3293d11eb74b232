import { useEffect, useRef, useState } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import { App, Button, Table, Typography } from 'antd';
import { DownloadOutlined } from '@ant-design/icons';
import { api, errorMessage, unwrap, type Schemas } from '../../api';
import { downloadWithTicket } from '../../api/download';
import { PageHead, QueryError } from '../../components/common';
import { useI18n } from '../../i18n';

type Entry = Schemas['AuditEntry'];
const PAGE = 50;

export default function AuditPage() {
  const { t, dateTime } = useI18n();
  const { message } = App.useApp();
  const [downloading, setDownloading] = useState(false);
  const sentinel = useRef<HTMLDivElement>(null);
  const q = useInfiniteQuery({
    queryKey: ['audit'],
    initialPageParam: undefined as number | undefined,
    queryFn: ({ pageParam }) => unwrap(api.client.GET('/v1/audit', { params: { query: { limit: PAGE, cursor: pageParam } } })),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = q.data?.pages.flatMap((p) => p.items) ?? [];
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = q;

  // Load the next page when the end of the list scrolls into view.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasNextPage) return;
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting) && !isFetchingNextPage) fetchNextPage();
    }, { rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  async function download() {
    setDownloading(true);
    try {
      await downloadWithTicket('/v1/audit/export.csv', 'footfall-audit.csv');
    } catch (e) {
      message.error(errorMessage(e));
    } finally {
      setDownloading(false);
    }
  }

  return (
    <>
      <PageHead title={t('nav.audit')}>
        <Button icon={<DownloadOutlined />} loading={downloading} onClick={download}>{t('audit.download')}</Button>
      </PageHead>
      {q.error && <QueryError error={q.error} retry={() => q.refetch()} />}
      <Table<Entry>
        rowKey="id"
        size="small"
        loading={q.isLoading}
        dataSource={rows}
        pagination={false}
        locale={{ emptyText: t('audit.empty') }}
        scroll={{ x: true }}
        columns={[
          { title: t('audit.time'), dataIndex: 'created_at_ms', render: (v: number) => dateTime(v), width: 190 },
          { title: t('audit.actor'), dataIndex: 'actor', render: (v: string | null) => v || '—' },
          { title: t('audit.action'), dataIndex: 'action', render: (v: string) => <Typography.Text code>{v}</Typography.Text> },
          { title: t('audit.target'), key: 'target', render: (_, e) => (e.target_type ? `${e.target_type}${e.target_id ? ' #' + e.target_id : ''}` : '—') },
          { title: t('audit.summary'), dataIndex: 'summary', render: (v: string | null) => v || '—' },
          { title: t('audit.requestId'), dataIndex: 'request_id', render: (v: string | null) => (v ? <Typography.Text type="secondary">{v}</Typography.Text> : '') },
        ]}
      />
      <div ref={sentinel} style={{ textAlign: 'center', padding: 16 }} data-testid="audit-end">
        {hasNextPage ? (
          <Button loading={isFetchingNextPage} onClick={() => fetchNextPage()}>{t('audit.loadMore')}</Button>
        ) : (
          rows.length > 0 && <Typography.Text type="secondary">{t('audit.end', { count: rows.length })}</Typography.Text>
        )}
      </div>
    </>
  );
}
